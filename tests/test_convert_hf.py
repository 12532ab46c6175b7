"""Hugging Face Speech2Text / Whisper <-> st_jax conversion: logits parity on random weights.

Inputs are unpadded (all lengths equal): our conv front ends zero padded frames before every
conv, HF's do not, so parity is exact only without padding. Decoder tokens avoid id 1, which
HF Speech2Text treats as padding when it numbers positions.
"""

from __future__ import annotations

import json
import os

import flax.linen as nn
import jax
import numpy as np
import pytest

from st_jax import config_lib
from st_jax.errors import ConfigError
from st_jax.models import build_model, convert_hf, example_batch

REASON = "parity tests need the [parity] extra: pip install -e '.[parity]'"
torch = pytest.importorskip("torch", reason=REASON)
transformers = pytest.importorskip("transformers", reason=REASON)

pytestmark = pytest.mark.parity

TOLERANCE = 1e-4
SMALL_DIMS = dict(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=2,
                  encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                  decoder_ffn_dim=48)
FAMILIES = {
    # HF classes, extra config, input frames T
    "s2t": (transformers.Speech2TextConfig, transformers.Speech2TextForConditionalGeneration,
            dict(conv_channels=40, conv_kernel_sizes=(5, 3), input_feat_per_channel=20,
                 max_source_positions=64, max_target_positions=32), 40),
    "whisper": (transformers.WhisperConfig, transformers.WhisperForConditionalGeneration,
                dict(num_mel_bins=20, max_source_positions=16, max_target_positions=24,
                     pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
                     begin_suppress_tokens=None), 32),
}


def _random_hf_model(family: str, seed: int = 0):
  """A small HF model whose every weight (biases, norms too) is random; fixed sinusoids kept."""
  config_cls, model_cls, extra, _ = FAMILIES[family]
  torch.manual_seed(seed)
  model = model_cls(config_cls(**SMALL_DIMS, **extra))
  with torch.no_grad():
    for name, param in model.named_parameters():
      if name != convert_hf.WHISPER_ENCODER_POSITIONS:
        param.add_(torch.randn_like(param) * 0.1)
  return model.eval()


def _inputs(family: str, batch: int = 2, length: int = 7):
  rng = np.random.default_rng(1)
  frames = FAMILIES[family][3]
  features = rng.standard_normal((batch, frames, 20)).astype(np.float32)
  tokens = rng.integers(2, SMALL_DIMS["vocab_size"], (batch, length)).astype(np.int32)
  return features, tokens


def _hf_logits(model, family: str, features, tokens) -> np.ndarray:
  x = torch.from_numpy(features)
  with torch.no_grad():
    out = model(input_features=x if family == "s2t" else x.transpose(1, 2),
                decoder_input_ids=torch.from_numpy(tokens).long())
  return out.logits.numpy()


def _our_logits(config, params, features, tokens) -> np.ndarray:
  paddings = np.zeros(features.shape[:2], np.float32)
  logits, _, _ = build_model(config).module.apply({"params": params}, features, paddings, tokens)
  return np.asarray(logits)


def _abstract_params(config):
  """ShapeDtypeStructs of our parameter tree (no memory used)."""
  init = build_model(config).init
  return nn.unbox(jax.eval_shape(init, jax.random.key(0), example_batch(config, 1, 32, 4)))


def _max_diff(a, b) -> float:
  return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def saved(request, tmp_path_factory):
  """(family, HF model, directory it was saved to with `save_pretrained`)."""
  family = request.param
  model = _random_hf_model(family)
  directory = str(tmp_path_factory.mktemp(family))
  model.save_pretrained(directory)
  return family, model, directory


def test_logits_match_hf(saved):
  family, hf_model, directory = saved
  config, params = convert_hf.convert_directory(directory)
  features, tokens = _inputs(family)
  expected = _hf_logits(hf_model, family, features, tokens)
  full = _our_logits(config, params, features, tokens)
  print(f"{family}: max |logit diff| full pass {_max_diff(full, expected):.2e}")
  assert _max_diff(full, expected) < TOLERANCE

  model = build_model(config)  # cached incremental decoding gives the same logits
  encoded = model.encode(params, {"features": features,
                                  "feature_paddings": np.zeros(features.shape[:2], np.float32)})
  cache = model.init_cache(params, encoded, tokens.shape[1])
  step, diffs = jax.jit(model.decode_step), []
  for position in range(tokens.shape[1]):
    logits, cache = step(params, cache, tokens[:, position], position)
    diffs.append(_max_diff(logits, expected[:, position]))
  print(f"{family}: max |logit diff| cached decode_step {max(diffs):.2e}")
  assert max(diffs) < TOLERANCE


def test_round_trips_are_exact(saved):
  _, hf_model, directory = saved
  hf_config, state = convert_hf.load_hf_checkpoint(directory)
  config = convert_hf.config_from_hf(hf_config)
  params = convert_hf.hf_to_params(hf_config, state, config)
  back = convert_hf.params_to_hf(params, config)
  reference = {k: v.numpy() for k, v in hf_model.state_dict().items()}
  assert set(back) == set(reference)
  for key, value in back.items():
    if key == convert_hf.WHISPER_ENCODER_POSITIONS:  # our table; equal up to sin/exp rounding
      np.testing.assert_allclose(value, reference[key], atol=1e-5)
    else:
      np.testing.assert_array_equal(value, reference[key], err_msg=key)

  rng = np.random.default_rng(3)
  random_params = jax.tree.map(lambda x: rng.standard_normal(x.shape).astype(np.float32),
                               _abstract_params(config))
  again = convert_hf.hf_to_params(hf_config, convert_hf.params_to_hf(random_params, config),
                                  config)
  jax.tree.map(np.testing.assert_array_equal, again, random_params)


def test_saved_checkpoint_loads_with_from_pretrained(saved, tmp_path):
  family, hf_model, directory = saved
  config, params = convert_hf.convert_directory(directory)
  convert_hf.save_hf_checkpoint(str(tmp_path), params, config)
  loaded, info = type(hf_model).from_pretrained(str(tmp_path), output_loading_info=True)
  assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
  features, tokens = _inputs(family)
  diff = _max_diff(_hf_logits(loaded.eval(), family, features, tokens),
                   _our_logits(config, params, features, tokens))
  print(f"{family}: max |logit diff| after save_hf_checkpoint {diff:.2e}")
  assert diff < TOLERANCE
  _, again = convert_hf.convert_directory(str(tmp_path))
  jax.tree.map(np.testing.assert_array_equal, again, params)


def test_pytorch_bin_reads_like_safetensors(saved, tmp_path):
  _, hf_model, directory = saved
  torch.save(hf_model.state_dict(), tmp_path / "pytorch_model.bin")
  (tmp_path / "config.json").write_text(open(os.path.join(directory, "config.json")).read())
  _, from_bin = convert_hf.load_hf_checkpoint(str(tmp_path))
  _, from_safetensors = convert_hf.load_hf_checkpoint(directory)
  for key, value in from_safetensors.items():
    np.testing.assert_array_equal(from_bin[key], value)


def test_sharded_bfloat16_checkpoints_read(saved, tmp_path):
  family, hf_model, directory = saved
  safetensors_torch = pytest.importorskip("safetensors.torch", reason=REASON)
  state = {k: v.to(torch.bfloat16).contiguous() for k, v in hf_model.state_dict().items()
           if k not in convert_hf.HEADS.values()}
  keys = sorted(state)
  shards = {"a.safetensors": keys[: len(keys) // 2], "b.safetensors": keys[len(keys) // 2:]}
  for shard, shard_keys in shards.items():
    safetensors_torch.save_file({k: state[k] for k in shard_keys}, str(tmp_path / shard))
  weight_map = {k: shard for shard, shard_keys in shards.items() for k in shard_keys}
  (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
  (tmp_path / "config.json").write_text(open(os.path.join(directory, "config.json")).read())
  torch.save(state, tmp_path / "pytorch_model.bin")
  hf_config, from_shards = convert_hf.load_hf_checkpoint(str(tmp_path))
  os.remove(tmp_path / "model.safetensors.index.json")
  _, from_bin = convert_hf.load_hf_checkpoint(str(tmp_path))
  for loaded in (from_shards, from_bin):
    assert set(loaded) == set(keys)
    for key in keys:
      assert loaded[key].dtype == jax.numpy.bfloat16
      np.testing.assert_array_equal(loaded[key].astype(np.float32), state[key].float().numpy())
  params = convert_hf.hf_to_params(hf_config, from_shards, convert_hf.config_from_hf(hf_config))
  assert {x.dtype for x in jax.tree.leaves(params)} == {np.dtype(np.float32)}, family


def test_full_size_s2t_transformer_s_converts_to_small():
  hf_config = transformers.Speech2TextConfig(vocab_size=8000)  # fairseq s2t_transformer_s dims
  hf_model = transformers.Speech2TextForConditionalGeneration(hf_config)
  assert sum(p.numel() for p in hf_model.parameters()) == 29_024_256
  small = config_lib.load_config("s2t_transformer:small")
  converted = convert_hf.config_from_hf(hf_config.to_dict())
  dropouts = ("dropout", "attention_dropout", "activation_dropout")
  assert ({k: v for k, v in converted.model.to_dict().items() if k not in dropouts}
          == {k: v for k, v in small.model.to_dict().items() if k not in dropouts})
  state = {k: v.numpy() for k, v in hf_model.state_dict().items()}
  params = convert_hf.hf_to_params(hf_config.to_dict(), state, small)
  shapes = jax.tree.map(lambda x: x.shape, _abstract_params(small))
  assert jax.tree.map(lambda x: x.shape, params) == shapes
  assert sum(x.size for x in jax.tree.leaves(params)) == 29_024_256


def _corrupt(tmp_path, source: str, name: str) -> str:
  directory = tmp_path / name
  directory.mkdir()
  for file in ("config.json", "model.safetensors"):
    (directory / file).write_bytes(open(os.path.join(source, file), "rb").read())
  return str(directory)


def test_corrupt_or_incomplete_checkpoints_raise_config_error(saved, tmp_path):
  family, _, source = saved
  with pytest.raises(ConfigError, match="does not exist"):
    convert_hf.load_hf_checkpoint(str(tmp_path / "nowhere"))
  directory = _corrupt(tmp_path, source, "no_config")
  os.remove(os.path.join(directory, "config.json"))
  with pytest.raises(ConfigError, match="no config.json"):
    convert_hf.load_hf_checkpoint(directory)
  directory = _corrupt(tmp_path, source, "truncated")
  weights = os.path.join(directory, "model.safetensors")
  data = open(weights, "rb").read()
  open(weights, "wb").write(data[: len(data) // 2])
  with pytest.raises(ConfigError, match="model.safetensors"):
    convert_hf.convert_directory(directory)
  directory = _corrupt(tmp_path, source, "bad_json")
  open(os.path.join(directory, "config.json"), "w").write("{not json")
  with pytest.raises(ConfigError, match="config.json"):
    convert_hf.load_hf_checkpoint(directory)

  hf_config, state = convert_hf.load_hf_checkpoint(source)
  config = convert_hf.config_from_hf(hf_config)
  key = "model.decoder.layers.1.fc1.weight"
  with pytest.raises(ConfigError, match="lacks 1 tensors.*layers.1.fc1.weight"):
    convert_hf.hf_to_params(hf_config, {k: v for k, v in state.items() if k != key}, config)
  with pytest.raises(ConfigError, match="unknown tensors.*model.extra.weight"):
    convert_hf.hf_to_params(hf_config, {**state, "model.extra.weight": state[key]}, config)
  with pytest.raises(ConfigError, match="does not fit"):
    convert_hf.hf_to_params(hf_config, {**state, key: state[key][:, :-1]}, config)
  with pytest.raises(ConfigError, match="model_type"):
    convert_hf.config_from_hf({**hf_config, "model_type": "bert"})
  print(f"{family}: corrupt checkpoints rejected")


def test_configs_without_hf_counterpart_are_refused():
  conformer = config_lib.load_config("st_conformer:tiny")
  with pytest.raises(ConfigError, match="frontend.type"):
    convert_hf.config_to_hf(conformer)
  s2t = config_lib.load_config("s2t_transformer:tiny")
  s2t.model.encoder.norm = "post"
  with pytest.raises(ConfigError, match="model.encoder.norm='post'"):
    convert_hf.params_to_hf({}, s2t)
