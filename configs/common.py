"""Model sections shared by the config families (data/train/mesh sections are in base.py).

A family file lists its variants as small dicts of sizes and assembles `config.model` from the
builders below, so every field is defined (and commented) exactly once.
"""

from __future__ import annotations

from typing import Mapping

import ml_collections

from configs import base
from st_jax.errors import ConfigError


def select_variant(family: str, variants: Mapping[str, dict], variant: str) -> dict:
  """The sizes of `variant`; an unknown name raises ConfigError listing the valid ones."""
  if variant not in variants:
    raise ConfigError(f"configs/{family}.py has no variant {variant!r}; "
                      f"valid variants: {', '.join(variants)}")
  return dict(variants[variant])


def conv2d_frontend(channels: int, subsampling: int = 4) -> ml_collections.ConfigDict:
  frontend = ml_collections.ConfigDict()
  frontend.type = "conv2d"            # 2-D conv subsampling over (time, mel), ESPnet style
  frontend.channels = channels        # C conv channels
  frontend.subsampling = subsampling  # time reduction: 4 | 6 | 8
  return frontend


def conv1d_frontend(channels: int = 1024, kernel_sizes=(5, 5)) -> ml_collections.ConfigDict:
  frontend = ml_collections.ConfigDict()
  frontend.type = "conv1d"            # fairseq S2T Conv1dSubsampler (stride 2 + GLU per layer)
  frontend.channels = channels        # conv output channels before GLU (HF conv_channels)
  frontend.kernel_sizes = tuple(kernel_sizes)  # one conv per entry; time reduction 2^len
  return frontend


def whisper_frontend() -> ml_collections.ConfigDict:
  frontend = ml_collections.ConfigDict()
  frontend.type = "whisper_conv"      # two GELU conv1d (k=3), the second with stride 2
  return frontend


def embedding_frontend() -> ml_collections.ConfigDict:
  frontend = ml_collections.ConfigDict()
  frontend.type = "embedding"         # token embedding of source text (MT)
  return frontend


def conformer_encoder(num_layers: int, ffn_dim: int, conv_kernel_size: int = 31,
                      stochastic_depth: float = 0.0) -> ml_collections.ConfigDict:
  encoder = ml_collections.ConfigDict()
  encoder.type = "conformer"
  encoder.num_layers = num_layers     # conformer blocks
  encoder.ffn_dim = ffn_dim           # hidden size of each macaron FFN
  encoder.activation = "swish"        # FFN activation: swish | relu | gelu | gelu_tanh
  encoder.position = "relative"       # relative (Transformer-XL u/v biases) | rope | none
  encoder.conv_kernel_size = conv_kernel_size  # K of the depthwise conv (odd)
  encoder.conv_norm = "layer"         # layer | group (masked group norm); no batch norm
  encoder.conv_groups = 1             # groups of the masked group norm
  encoder.scale_embedding = True      # multiply front-end output by sqrt(D)
  encoder.stochastic_depth = stochastic_depth  # drop rate of the last block (linear in depth)
  encoder.scan_layers = False         # nn.scan over blocks (stacked params; compile once)
  encoder.remat = "none"              # activation checkpointing per block: none | full | dots
  return encoder


def transformer_stack(num_layers: int, ffn_dim: int, *, decoder: bool, activation: str = "relu",
                      position: str = "sinusoidal", position_offset: int = 0,
                      max_length: int = 1024, scale_embedding: bool = False,
                      k_bias: bool = True, norm: str = "pre") -> ml_collections.ConfigDict:
  stack = ml_collections.ConfigDict()
  if not decoder:
    stack.type = "transformer"
  stack.num_layers = num_layers       # transformer layers
  stack.ffn_dim = ffn_dim             # FFN hidden size
  stack.activation = activation       # relu | gelu (erf, as PyTorch) | gelu_tanh | swish
  stack.norm = norm                   # pre | post layer norm
  stack.position = position           # sinusoidal | learned (| rope | none: encoder only)
  stack.position_offset = position_offset  # first position index (fairseq/S2T: 2)
  stack.max_length = max_length       # positions available (after the front end)
  stack.scale_embedding = scale_embedding  # multiply input embeddings by sqrt(D)
  stack.final_norm = True             # layer norm after the last layer (pre-norm models)
  stack.k_bias = k_bias               # bias on attention key projections (Whisper: none)
  if decoder:
    stack.tie_embeddings = True       # output projection = token embedding^T
  return stack


def classifier_head(num_classes: int, label: str = "emotion",
                    pooling: str = "mean") -> ml_collections.ConfigDict:
  head = ml_collections.ConfigDict()
  head.label = label                  # batch key of the label: emotion | lang | speaker
  head.num_classes = num_classes      # C
  head.pooling = pooling              # mean (masked) | attention (additive attention pooling)
  return head


def model_config(d_model: int, num_heads: int, frontend, encoder, decoder=None, *,
                 dropout: float = 0.1, attention_dropout: float = 0.0,
                 activation_dropout: float = 0.0, ctc_weight: float = 0.0,
                 classifier=None) -> ml_collections.ConfigDict:
  model = ml_collections.ConfigDict()
  model.d_model = d_model             # D, shared by front end, encoder and decoder
  model.num_heads = num_heads         # N attention heads (H = D / N)
  model.dtype = "float32"             # compute dtype: float32 | bfloat16 (params: param_dtype)
  model.param_dtype = "float32"       # parameter dtype
  # auto | xla | cudnn: jax.nn.dot_product_attention; reference: the einsum path
  model.attention_impl = "auto"
  model.dropout = dropout             # residual / embedding dropout
  model.attention_dropout = attention_dropout    # on attention probabilities (reference path)
  model.activation_dropout = activation_dropout  # inside the FFNs
  model.lora_rank = 0                 # > 0: LoRA adapters of this rank (st_jax/models/lora.py)
  model.lora_alpha = 8.0              # adapter scale alpha / rank
  model.lora_targets = "(self_attn|encoder_attn|ffn)"  # regex over kernel paths
  model.frontend = frontend
  model.encoder = encoder
  if decoder is not None:
    model.decoder = decoder
    model.ctc_weight = ctc_weight     # weight of the encoder CTC loss (0: no CTC head)
  if classifier is not None:
    model.classifier = classifier
  return model


def conformer_encoder_decoder(size: dict, ctc_weight: float,
                              stochastic_depth: float) -> ml_collections.ConfigDict:
  """config.model of conv2d front end + conformer encoder + transformer decoder + CTC, from a
  variant dict with keys d, heads, enc, enc_ffn, dec, dec_ffn, channels, kernel."""
  return model_config(
      size["d"], size["heads"], conv2d_frontend(size["channels"], subsampling=4),
      conformer_encoder(size["enc"], size["enc_ffn"], size["kernel"], stochastic_depth),
      transformer_stack(size["dec"], size["dec_ffn"], decoder=True), ctc_weight=ctc_weight)


def assemble(name: str, model, *, data: dict | None = None,
             train: dict | None = None) -> ml_collections.ConfigDict:
  """The full config: name, data, model, train (label_smoothing added), mesh."""
  config = ml_collections.ConfigDict()
  config.name = name                  # "family:variant", recorded with checkpoints
  config.data = base.data_config(**(data or {}))
  config.model = model
  train = dict(train or {})
  train.setdefault("label_smoothing", 0.1)  # eps of label-smoothed cross-entropy
  config.train = base.train_config(**train)
  config.mesh = base.mesh_config()
  return config
