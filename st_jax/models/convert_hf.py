"""Hugging Face checkpoints <-> st_jax parameters: Speech2Text (fairseq S2T) and Whisper.

Shapes: D model dim, N heads, H head dim (D = N H), C conv channels, k conv kernel, V vocab.

Layout map, HF (PyTorch) tensor -> our parameter (`params_to_hf` is the exact inverse):
  Linear weight [out, in]                    -> kernel [in, out]           (W^T)
  {q,k,v}_proj weight [N H, D], bias [N H]   -> kernel [D, N, H], bias [N, H]
  out_proj weight [D, N H]                   -> kernel [N, H, D]
  Conv1d weight [C_out, C_in, k]             -> kernel [k, C_in, C_out]
  LayerNorm weight, bias                     -> scale, bias
  Embedding weight [V, D]                    -> embedding [V, D]
  lm_head / proj_out weight [V, D]           -> tied to decoder/embed_tokens (checked equal)
Fixed sinusoids have no parameters here: S2T keeps them as unsaved buffers (ignored when an old
checkpoint holds them); Whisper saves its encoder table as a parameter, which is checked against
ours on import and written on export.

Token ids are taken as they are. HF Speech2Text numbers its positions from `pad_token_id` (1)
and skips tokens equal to it, so its logits equal ours for decoder inputs without id 1.

  config, params = convert_directory("whisper-tiny/")     # a fine-tuning start
  save_hf_checkpoint("out/", params, config)               # loads with from_pretrained
"""

from __future__ import annotations

import importlib
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import traverse_util

from st_jax import config_lib
from st_jax.errors import ConfigError, MissingExtraError
from st_jax.models.layers import sinusoid_table
from st_jax.models.model_api import build_model, example_batch

FAMILIES = {"conv1d": "speech_to_text", "whisper_conv": "whisper"}
ARCHITECTURES = {"speech_to_text": "Speech2TextForConditionalGeneration",
                 "whisper": "WhisperForConditionalGeneration"}
HEADS = {"speech_to_text": "lm_head.weight", "whisper": "proj_out.weight"}
ACTIVATIONS_FROM_HF = {"relu": "relu", "gelu": "gelu", "gelu_new": "gelu_tanh",
                       "gelu_pytorch_tanh": "gelu_tanh", "silu": "swish", "swish": "swish"}
ACTIVATIONS_TO_HF = {"relu": "relu", "gelu": "gelu", "gelu_tanh": "gelu_new", "swish": "silu"}
S2T_POSITION_BUFFERS = ("model.encoder.embed_positions.weights",
                        "model.decoder.embed_positions.weights")
WHISPER_ENCODER_POSITIONS = "model.encoder.embed_positions.weight"


# kind -> (HF tensor -> ours, ours -> HF tensor); n = number of heads.
TRANSFORMS = {
    "copy": (lambda w, n: w, lambda p, n: p),
    "linear": (lambda w, n: w.T, lambda p, n: p.T),
    "conv": (lambda w, n: w.transpose(2, 1, 0), lambda p, n: p.transpose(2, 1, 0)),
    "heads_in": (lambda w, n: w.T.reshape(w.shape[1], n, -1),
                 lambda p, n: p.reshape(p.shape[0], -1).T),
    "heads_bias": (lambda w, n: w.reshape(n, -1), lambda p, n: p.reshape(-1)),
    "heads_out": (lambda w, n: w.T.reshape(n, -1, w.shape[0]),
                  lambda p, n: p.reshape(-1, p.shape[-1]).T),
}


def _require(module: str):
  try:
    return importlib.import_module(module)
  except ImportError as e:
    raise MissingExtraError("parity", "Reading or writing Hugging Face checkpoints",
                            module.split(".")[0]) from e


# ------------------------------------------------------------------ files

def _read_safetensors(path: str) -> dict[str, np.ndarray]:
  return dict(_require("safetensors.numpy").load_file(path))  # bfloat16: ml_dtypes (jax)


def _read_torch_bin(path: str) -> dict[str, np.ndarray]:
  torch = _require("torch")
  state = torch.load(path, map_location="cpu", weights_only=True)
  if not isinstance(state, dict):
    raise ConfigError(f"{path} does not hold a state dict (found {type(state).__name__})")
  return {k: v.float().numpy().astype(jnp.bfloat16) if v.dtype == torch.bfloat16 else v.numpy()
          for k, v in state.items()}


def _read_weights(path: str) -> dict[str, np.ndarray]:
  reader = _read_safetensors if path.endswith(".safetensors") else _read_torch_bin
  try:
    return reader(path)
  except (ConfigError, MissingExtraError):
    raise
  except Exception as e:  # pylint: disable=broad-except  (corrupt files raise many kinds)
    raise ConfigError(f"cannot read weights file {path}: {type(e).__name__}: {e}; "
                      "the file is corrupt or truncated, download it again") from e


def _read_json(path: str) -> dict:
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ConfigError(f"cannot read {path}: {e}") from e
  if not isinstance(data, dict):
    raise ConfigError(f"{path} does not hold a JSON object")
  return data


def load_hf_checkpoint(directory: str) -> tuple[dict, dict[str, np.ndarray]]:
  """(config.json as a dict, state dict of numpy arrays as stored, bfloat16 as ml_dtypes')
  of a `save_pretrained` directory.

  Weights: model.safetensors, pytorch_model.bin (torch.load, weights_only=True) or a sharded
  `*.index.json` of either. A missing or corrupt file raises ConfigError naming it.
  """
  if not os.path.isdir(directory):
    raise ConfigError(f"Hugging Face checkpoint directory {directory!r} does not exist")
  config_path = os.path.join(directory, "config.json")
  if not os.path.isfile(config_path):
    raise ConfigError(f"{directory} has no config.json: is it a `save_pretrained` directory?")
  hf_config = _read_json(config_path)
  for name in ("model.safetensors", "pytorch_model.bin"):
    path = os.path.join(directory, name)
    if os.path.isfile(path):
      return hf_config, _read_weights(path)
    if os.path.isfile(path + ".index.json"):
      index = _read_json(path + ".index.json")
      state: dict[str, np.ndarray] = {}
      for shard in sorted(set(index.get("weight_map", {}).values())):
        state.update(_read_weights(os.path.join(directory, shard)))
      return hf_config, state
  raise ConfigError(f"{directory} has no model.safetensors or pytorch_model.bin")


# ------------------------------------------------------------------ configs

def _family(hf_config: dict) -> str:
  model_type = hf_config.get("model_type")
  if model_type not in ARCHITECTURES:
    raise ConfigError(f"config.json model_type={model_type!r} is not supported; "
                      f"expected one of {sorted(ARCHITECTURES)}")
  return model_type


def config_from_hf(hf_config: dict) -> ml_collections.ConfigDict:
  """Our config (configs/s2t_transformer.py or configs/whisper.py shape) for a HF config."""
  family = _family(hf_config)

  def get(key: str, default=None):
    if key not in hf_config and default is None:
      raise ConfigError(f"config.json of a {family} model has no {key!r}")
    return hf_config.get(key, default)

  if get("encoder_attention_heads") != get("decoder_attention_heads"):
    raise ConfigError("config.json: encoder_attention_heads != decoder_attention_heads; "
                      "st_jax models use one model.num_heads")
  activation = get("activation_function", "relu" if family == "speech_to_text" else "gelu")
  if activation not in ACTIVATIONS_FROM_HF:
    raise ConfigError(f"config.json activation_function={activation!r} is not one of "
                      f"{sorted(ACTIVATIONS_FROM_HF)}")
  config = config_lib.load_config("s2t_transformer:small" if family == "speech_to_text"
                                  else "whisper:tiny")
  config.name = f"{'s2t_transformer' if family == 'speech_to_text' else 'whisper'}:hf"
  model = config.model
  model.d_model, model.num_heads = get("d_model"), get("encoder_attention_heads")
  for key in ("dropout", "attention_dropout", "activation_dropout"):
    model[key] = float(get(key, 0.0))
  for stack, side in ((model.encoder, "encoder"), (model.decoder, "decoder")):
    stack.num_layers, stack.ffn_dim = get(f"{side}_layers"), get(f"{side}_ffn_dim")
    stack.activation = ACTIVATIONS_FROM_HF[activation]
    stack.max_length = get(f"max_{'source' if side == 'encoder' else 'target'}_positions")
  model.decoder.tie_embeddings = bool(get("tie_word_embeddings", True))
  config.data.vocab_size = get("vocab_size")
  if family == "speech_to_text":
    if get("pad_token_id", 1) != 1 or get("input_channels", 1) != 1:
      raise ConfigError("config.json: Speech2Text needs pad_token_id=1 (its positions count "
                        "from it) and input_channels=1")
    kernels = tuple(get("conv_kernel_sizes"))
    if len(kernels) != get("num_conv_layers", len(kernels)):
      raise ConfigError("config.json: len(conv_kernel_sizes) != num_conv_layers")
    model.frontend.channels, model.frontend.kernel_sizes = get("conv_channels"), kernels
    model.encoder.scale_embedding = model.decoder.scale_embedding = bool(
        get("scale_embedding", True))
    config.data.n_mels = get("input_feat_per_channel")
  else:  # Whisper ignores scale_embedding (its forward never scales)
    config.data.n_mels = get("num_mel_bins")
    config.data.max_frames = 2 * model.encoder.max_length
  return config


def config_to_hf(config: ml_collections.ConfigDict) -> dict:
  """config.json contents for `config` (ConfigError when it has no HF counterpart).

  Special tokens: Speech2Text gets fairseq's (bos 0, pad 1, eos 2 = decoder start), which its
  positions need; Whisper gets st_jax's (pad 0, bos 1 = decoder start, eos 2).
  """
  family = _check_exportable(config)
  model, encoder, decoder = config.model, config.model.encoder, config.model.decoder
  hf = dict(
      model_type=family, architectures=[ARCHITECTURES[family]], vocab_size=config.data.vocab_size,
      d_model=model.d_model, encoder_attention_heads=model.num_heads,
      decoder_attention_heads=model.num_heads, encoder_layers=encoder.num_layers,
      decoder_layers=decoder.num_layers, encoder_ffn_dim=encoder.ffn_dim,
      decoder_ffn_dim=decoder.ffn_dim, activation_function=ACTIVATIONS_TO_HF[encoder.activation],
      dropout=model.dropout, attention_dropout=model.attention_dropout,
      activation_dropout=model.activation_dropout, max_source_positions=encoder.max_length,
      max_target_positions=decoder.max_length, tie_word_embeddings=decoder.tie_embeddings,
      is_encoder_decoder=True, dtype="float32")
  if family == "speech_to_text":
    kernels = [int(k) for k in model.frontend.kernel_sizes]
    hf.update(num_conv_layers=len(kernels), conv_kernel_sizes=kernels,
              conv_channels=model.frontend.channels, input_feat_per_channel=config.data.n_mels,
              input_channels=1, scale_embedding=encoder.scale_embedding, bos_token_id=0,
              pad_token_id=1, eos_token_id=2, decoder_start_token_id=2)
  else:
    hf.update(num_mel_bins=config.data.n_mels, scale_embedding=False, pad_token_id=0,
              bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, begin_suppress_tokens=None)
  return hf


def _check_exportable(config: ml_collections.ConfigDict) -> str:
  """The HF family of `config`, or ConfigError naming the first field HF cannot express."""
  model = config.model
  family = FAMILIES.get(model.frontend.type)
  if family is None or "decoder" not in model:
    raise ConfigError(f"model.frontend.type={model.frontend.type!r}: only S2T (conv1d) and "
                      "Whisper (whisper_conv) encoder-decoders have a Hugging Face counterpart")
  s2t = family == "speech_to_text"
  expected = {
      "encoder.type": "transformer", "encoder.norm": "pre", "decoder.norm": "pre",
      "encoder.final_norm": True, "decoder.final_norm": True, "ctc_weight": 0.0,
      "encoder.position": "sinusoidal", "encoder.position_offset": 2 if s2t else 0,
      "decoder.position": "sinusoidal" if s2t else "learned",
      "decoder.position_offset": 2 if s2t else 0, "encoder.k_bias": s2t, "decoder.k_bias": s2t,
      "decoder.activation": model.encoder.activation,
      "encoder.scale_embedding": model.encoder.scale_embedding if s2t else False,
      "decoder.scale_embedding": model.encoder.scale_embedding if s2t else False}
  for key, value in expected.items():
    section, _, field = key.rpartition(".")
    actual = (model[section] if section else model)[field]
    if actual != value:
      raise ConfigError(f"model.{key}={actual!r} has no Hugging Face {family} counterpart "
                        f"(needs {value!r})")
  return family


# ------------------------------------------------------------------ parameter maps

def _layer_map(ours: str, hf: str, decoder: bool, k_bias: bool) -> list[tuple[str, str, str]]:
  entries = []
  for attn in ("self_attn", "encoder_attn") if decoder else ("self_attn",):
    for proj in ("q_proj", "k_proj", "v_proj"):
      entries.append((f"{ours}/{attn}/{proj}/kernel", f"{hf}.{attn}.{proj}.weight", "heads_in"))
      if proj != "k_proj" or k_bias:
        entries.append((f"{ours}/{attn}/{proj}/bias", f"{hf}.{attn}.{proj}.bias", "heads_bias"))
    entries += [(f"{ours}/{attn}/out_proj/kernel", f"{hf}.{attn}.out_proj.weight", "heads_out"),
                (f"{ours}/{attn}/out_proj/bias", f"{hf}.{attn}.out_proj.bias", "copy")]
  for fc in ("fc1", "fc2"):
    entries += [(f"{ours}/ffn/{fc}/kernel", f"{hf}.{fc}.weight", "linear"),
                (f"{ours}/ffn/{fc}/bias", f"{hf}.{fc}.bias", "copy")]
  norms = ["self_attn_layer_norm", "final_layer_norm"] + (["encoder_attn_layer_norm"] * decoder)
  for norm in norms:
    entries += _norm(f"{ours}/{norm}", f"{hf}.{norm}")
  return entries


def _norm(ours: str, hf: str) -> list[tuple[str, str, str]]:
  return [(f"{ours}/scale", f"{hf}.weight", "copy"), (f"{ours}/bias", f"{hf}.bias", "copy")]


def parameter_map(config: ml_collections.ConfigDict) -> list[tuple[str, str, str]]:
  """[(our path 'a/b/c', HF state-dict key, TRANSFORMS kind)] covering every parameter."""
  family = _check_exportable(config)
  model = config.model
  if family == "speech_to_text":
    convs = [f"conv.conv_layers.{i}" for i in range(len(model.frontend.kernel_sizes))]
    ours = [f"conv_layers_{i}" for i in range(len(convs))]
  else:
    convs = ours = ["conv1", "conv2"]
  entries = []
  for conv, name in zip(convs, ours):
    entries += [(f"frontend/{name}/kernel", f"model.encoder.{conv}.weight", "conv"),
                (f"frontend/{name}/bias", f"model.encoder.{conv}.bias", "copy")]
  for side, decoder in (("encoder", False), ("decoder", True)):
    for i in range(model[side].num_layers):
      entries += _layer_map(f"{side}/layers_{i}", f"model.{side}.layers.{i}", decoder,
                            model[side].k_bias)
    entries += _norm(f"{side}/layer_norm", f"model.{side}.layer_norm")
  entries.append(("decoder/embed_tokens/embedding", "model.decoder.embed_tokens.weight", "copy"))
  if family == "whisper":
    entries.append(("decoder/embed_positions/embedding", "model.decoder.embed_positions.weight",
                    "copy"))
  if not model.decoder.tie_embeddings:
    entries.append(("decoder/lm_head/kernel", HEADS[family], "linear"))
  return entries


def _expected_shapes(config: ml_collections.ConfigDict) -> dict[str, tuple[int, ...]]:
  abstract = nn.unbox(jax.eval_shape(build_model(config).init, jax.random.key(0),
                                     example_batch(config, 1, 8, 2)))
  return {path: leaf.shape for path, leaf in traverse_util.flatten_dict(abstract, sep="/").items()}


def _check_paths(mapped: set[str], expected: set[str], what: str) -> None:
  if mapped != expected:
    raise ConfigError(f"{what}: missing {sorted(expected - mapped)[:10]}, "
                      f"unknown {sorted(mapped - expected)[:10]}")


# ------------------------------------------------------------------ conversion

def hf_to_params(hf_config: dict, state_dict: dict, config: ml_collections.ConfigDict) -> dict:
  """Our parameter tree (unboxed numpy arrays of model.param_dtype) from a HF state dict.

  Unknown or missing HF keys, shape mismatches and an untied output projection of a tied
  config raise ConfigError naming them.
  """
  family = _family(hf_config)
  state = dict(state_dict)
  if state and not any(k.startswith("model.") for k in state):  # saved from the base model
    state = {f"model.{k}": v for k, v in state.items()}
  entries, shapes = parameter_map(config), _expected_shapes(config)
  _check_paths({path for path, _, _ in entries}, set(shapes), "internal parameter map")
  missing = sorted(key for _, key, _ in entries if key not in state)
  if missing:
    raise ConfigError(f"the {family} checkpoint lacks {len(missing)} tensors: {missing[:10]}")
  dtype = jnp.dtype(config.model.param_dtype)
  flat = {}
  for path, key, kind in entries:
    tensor = np.asarray(state.pop(key))
    value = TRANSFORMS[kind][0](tensor, config.model.num_heads)
    if value.shape != shapes[path]:
      raise ConfigError(f"checkpoint tensor {key} of shape {tensor.shape} does not fit {path} "
                        f"of shape {shapes[path]} (config.json and weights disagree)")
    flat[path] = np.ascontiguousarray(value, dtype=dtype)
  head = state.pop(HEADS[family], None)
  if head is not None and not np.array_equal(head, flat["decoder/embed_tokens/embedding"]):
    raise ConfigError(f"{HEADS[family]} differs from model.decoder.embed_tokens.weight although "
                      "the output projection is tied (tie_word_embeddings)")
  positions = state.pop(WHISPER_ENCODER_POSITIONS, None) if family == "whisper" else None
  if positions is not None:
    table = sinusoid_table(config.model.encoder.max_length, config.model.d_model)
    error = (float(np.max(np.abs(positions.astype(np.float32) - table)))
             if positions.shape == table.shape else np.inf)
    if error > 1e-4 + float(jnp.finfo(positions.dtype).eps):  # a bf16/fp16 copy is rounded
      raise ConfigError(f"{WHISPER_ENCODER_POSITIONS} is not the fixed sinusoid table "
                        f"(max difference {error}); st_jax's Whisper encoder positions are fixed")
  for key in S2T_POSITION_BUFFERS if family == "speech_to_text" else ():
    state.pop(key, None)
  if state:
    raise ConfigError(f"the {family} checkpoint has {len(state)} unknown tensors: "
                      f"{sorted(state)[:10]}")
  return traverse_util.unflatten_dict(flat, sep="/")


def params_to_hf(params, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """HF state dict (numpy float32, as `model.state_dict()` holds it, tied head included)."""
  flat = traverse_util.flatten_dict(nn.unbox(params), sep="/")
  entries = parameter_map(config)
  _check_paths(set(flat), {path for path, _, _ in entries}, "params do not fit the config")
  state = {key: np.ascontiguousarray(TRANSFORMS[kind][1](np.asarray(flat[path], np.float32),
                                                         config.model.num_heads))
           for path, key, kind in entries}
  family = FAMILIES[config.model.frontend.type]
  if config.model.decoder.tie_embeddings:
    state[HEADS[family]] = state["model.decoder.embed_tokens.weight"]
  if family == "whisper":
    state[WHISPER_ENCODER_POSITIONS] = sinusoid_table(config.model.encoder.max_length,
                                                      config.model.d_model)
  return state


def save_hf_checkpoint(directory: str, params, config: ml_collections.ConfigDict,
                       extra_hf_config: dict | None = None) -> None:
  """Writes model.safetensors + config.json (`from_pretrained` loads them); `extra_hf_config`
  updates config.json (e.g. the token ids of your tokenizer)."""
  safetensors_numpy = _require("safetensors.numpy")
  hf_config = {**config_to_hf(config), **(extra_hf_config or {})}
  state = params_to_hf(params, config)
  if config.model.decoder.tie_embeddings:  # safetensors cannot hold shared tensors
    state.pop(HEADS[FAMILIES[config.model.frontend.type]])
  os.makedirs(directory, exist_ok=True)
  safetensors_numpy.save_file(state, os.path.join(directory, "model.safetensors"),
                              metadata={"format": "pt"})
  with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
    json.dump(hf_config, f, indent=2, sort_keys=True)


def convert_directory(hf_dir: str) -> tuple[ml_collections.ConfigDict, dict]:
  """(our config, our params) of a HF checkpoint directory: a fine-tuning start."""
  hf_config, state = load_hf_checkpoint(hf_dir)
  config = config_from_hf(hf_config)
  return config, hf_to_params(hf_config, state, config)
