"""Whole networks built from `config.model`: an encoder-decoder (speech or text in, tokens out,
optional CTC head) and an utterance classifier.

Shapes: B batch, T input frames (or source tokens U), T' encoder frames, S target length,
D model dim, V vocab, C classes, L cache length.

Top-level parameter collections (what `st-jax info` counts): frontend, encoder, decoder,
ctc_head / classifier.

  SpeechTranslator:  (x', p') = Encoder(FrontEnd(inputs, paddings))
                     logits = Decoder(decoder_inputs, x', p');  ctc_logits = CTC(x')
  SpeechClassifier:  logits = Classifier(Encoder(FrontEnd(features, paddings)))
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from st_jax.errors import ConfigError
from st_jax.models import attention, frontends
from st_jax.models.conformer import ConformerBlock, ConformerEncoder
from st_jax.models.heads import CtcHead, UtteranceClassifier
from st_jax.models.transformer import TransformerDecoder, TransformerEncoder, TransformerLayer

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
FRONTENDS = ("conv2d", "conv1d", "whisper_conv", "embedding")
ENCODERS = ("conformer", "transformer")


def dtypes(model: ml_collections.ConfigDict):
  """(compute dtype, parameter dtype) named by model.dtype / model.param_dtype."""
  for field in ("dtype", "param_dtype"):
    if model[field] not in DTYPES:
      raise ConfigError(f"model.{field}={model[field]!r} is not one of {sorted(DTYPES)}")
  return DTYPES[model.dtype], DTYPES[model.param_dtype]


def build_frontend(model, vocab_size: int, name: str = "frontend") -> nn.Module:
  dtype, param_dtype = dtypes(model)
  frontend, proj = model.frontend, dict(dtype=dtype, param_dtype=param_dtype, name=name)
  if frontend.type == "conv2d":
    return frontends.Conv2dSubsampling(model.d_model, frontend.channels, frontend.subsampling,
                                       **proj)
  if frontend.type == "conv1d":
    return frontends.Conv1dSubsampler(model.d_model, frontend.channels,
                                      tuple(frontend.kernel_sizes), **proj)
  if frontend.type == "whisper_conv":
    return frontends.WhisperConvFrontEnd(model.d_model, **proj)
  if frontend.type == "embedding":
    return frontends.TokenEmbedding(vocab_size, model.d_model, **proj)
  raise ConfigError(f"model.frontend.type={frontend.type!r} is not one of {FRONTENDS}")


def transformer_layer(model, stack) -> TransformerLayer:
  """Layer template for model.encoder / model.decoder (`stack`) of a transformer."""
  dtype, param_dtype = dtypes(model)
  return TransformerLayer(
      model.d_model, model.num_heads, stack.ffn_dim, stack.activation, stack.norm,
      attention_impl=model.attention_impl, dropout=model.dropout,
      attention_dropout=model.attention_dropout, activation_dropout=model.activation_dropout,
      k_bias=stack.k_bias, dtype=dtype, param_dtype=param_dtype)


def build_encoder(model, name: str = "encoder") -> nn.Module:
  dtype, param_dtype = dtypes(model)
  encoder = model.encoder
  attention.check_implementation(model.attention_impl)
  if encoder.type == "conformer":
    block = ConformerBlock(
        model.d_model, model.num_heads, encoder.ffn_dim, encoder.activation,
        encoder.conv_kernel_size, encoder.conv_norm, encoder.conv_groups, encoder.position,
        model.attention_impl, model.dropout, model.attention_dropout, model.activation_dropout,
        encoder.stochastic_depth, dtype, param_dtype)
    return ConformerEncoder(encoder.num_layers, block, encoder.scale_embedding,
                            encoder.get("scan_layers", False), encoder.get("remat", "none"),
                            name=name)
  if encoder.type == "transformer":
    return TransformerEncoder(
        encoder.num_layers, transformer_layer(model, encoder), encoder.position,
        encoder.position_offset, encoder.max_length, encoder.scale_embedding, encoder.final_norm,
        name=name)
  raise ConfigError(f"model.encoder.type={encoder.type!r} is not one of {ENCODERS}")


def build_decoder(model, vocab_size: int, name: str = "decoder") -> TransformerDecoder:
  decoder = model.decoder
  return TransformerDecoder(
      vocab_size, decoder.num_layers, transformer_layer(model, decoder), decoder.position,
      decoder.position_offset, decoder.max_length, decoder.scale_embedding, decoder.final_norm,
      decoder.tie_embeddings, name=name)


class SpeechTranslator(nn.Module):
  """Encoder-decoder for ST, ASR, MT (text front end), S2T and Whisper shapes (see module doc).

  `model` is a FrozenConfigDict of config.model; the CTC head exists when model.ctc_weight > 0.
  """
  model: ml_collections.FrozenConfigDict
  vocab_size: int

  def setup(self):
    self.frontend = build_frontend(self.model, self.vocab_size)
    self.encoder = build_encoder(self.model)
    self.decoder = build_decoder(self.model, self.vocab_size)
    if self.model.ctc_weight > 0:
      dtype, param_dtype = dtypes(self.model)
      self.ctc_head = CtcHead(self.vocab_size, dtype, param_dtype)

  @property
  def has_ctc(self) -> bool:
    return self.model.ctc_weight > 0

  def encode(self, inputs, paddings, deterministic: bool = True):
    """inputs [B, T, F] features or [B, U] tokens -> (memory [B, T', D], paddings [B, T'])."""
    x, paddings = self.frontend(inputs, paddings)
    return self.encoder(x, paddings, deterministic=deterministic)

  def ctc_logits(self, memory):
    """memory [B, T', D] -> CTC logits [B, T', V] float32."""
    if not self.has_ctc:
      raise ConfigError("this model has no CTC head (model.ctc_weight = 0)")
    return self.ctc_head(memory)

  def __call__(self, inputs, paddings, decoder_inputs, deterministic: bool = True):
    """-> (decoder logits [B, S, V], CTC logits [B, T', V] or None, memory paddings [B, T'])."""
    memory, memory_paddings = self.encode(inputs, paddings, deterministic)
    logits = self.decoder(decoder_inputs, memory, memory_paddings, deterministic)
    ctc = self.ctc_logits(memory) if self.has_ctc else None
    return logits, ctc, memory_paddings

  def init_cache(self, memory, memory_paddings, max_length: int):
    return self.decoder.init_cache(memory, memory_paddings, max_length)

  def decode_step(self, tokens, cache, position):
    return self.decoder.decode_step(tokens, cache, position)


class SpeechClassifier(nn.Module):
  """Utterance classifier: features [B, T, F] -> logits [B, C] (config.model.classifier)."""
  model: ml_collections.FrozenConfigDict
  vocab_size: int = 0

  def setup(self):
    dtype, param_dtype = dtypes(self.model)
    self.frontend = build_frontend(self.model, self.vocab_size)
    self.encoder = build_encoder(self.model)
    head = self.model.classifier
    self.classifier = UtteranceClassifier(head.num_classes, head.pooling, dtype, param_dtype)

  def encode(self, inputs, paddings, deterministic: bool = True):
    x, paddings = self.frontend(inputs, paddings)
    return self.encoder(x, paddings, deterministic=deterministic)

  def __call__(self, inputs, paddings, deterministic: bool = True) -> jax.Array:
    memory, memory_paddings = self.encode(inputs, paddings, deterministic)
    return self.classifier(memory, memory_paddings)
