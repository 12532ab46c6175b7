"""BEST-RQ masked speech pretraining of the front end + encoder (Chiu et al. 2022).

Shapes: B batch, T feature frames, F mel bins, s stacking factor (= the front end's time
subsampling), G = floor(T / s) label frames, T' encoder frames, N codebooks, C codebook size,
d codebook dim, D model dim.

Targets come from a frozen random-projection quantiser (not parameters; rebuilt from
`model.bestrq.seed`, so every run and every process has the same one):
    z_g   = standardise(stack_s(x)_g)                       [B, G, s*F]  (per-vector mean/std)
    u_g   = normalise(z_g P)            P ~ N(0, 1/(s*F))   [B, G, d]
    y_g,n = argmax_c <u_g, e_{n,c}>     e_{n,c} = normalise(N(0, 1)) [N, C, d]
Span masking: each unpadded frame starts a masked span of `mask_span` frames with probability
`mask_prob`; masked frames are replaced by N(0, noise_std^2) noise before the front end. The
encoder frame t' predicts y_{t'} with N softmax heads (one dense layer to N*C logits); the loss
is the cross-entropy averaged over codebooks and over encoder frames t' < G whose group
[s t', s t' + s) holds a masked frame. Metrics: loss_sum, nll_sum, correct (masked-prediction
hits), weight (masked frames x N).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from st_jax.errors import ConfigError
from st_jax.models import heads
from st_jax.models.model_api import _Model
from st_jax.models.speech_translator import build_encoder, build_frontend, dtypes


def quantiser(cfg, feature_dim: int) -> tuple[jax.Array, jax.Array]:
  """(projection P [s*F, d], codebooks [N, C, d] unit-norm) from cfg.seed."""
  k_proj, k_code = jax.random.split(jax.random.key(cfg.seed))
  fan_in = cfg.stack * feature_dim
  projection = jax.random.normal(k_proj, (fan_in, cfg.codebook_dim)) / jnp.sqrt(fan_in)
  codebooks = jax.random.normal(k_code, (cfg.num_codebooks, cfg.codebook_size,
                                         cfg.codebook_dim))
  return projection, codebooks / jnp.linalg.norm(codebooks, axis=-1, keepdims=True)


def quantise(features: jax.Array, paddings: jax.Array, cfg) -> tuple[jax.Array, jax.Array]:
  """features [B, T, F], paddings [B, T] -> labels [B, G, N] int32, label paddings [B, G]
  (a group is padded when any of its frames is)."""
  batch, frames, dim = features.shape
  groups = frames // cfg.stack
  stacked = features[:, :groups * cfg.stack].astype(jnp.float32).reshape(
      batch, groups, cfg.stack * dim)
  stacked = (stacked - stacked.mean(-1, keepdims=True)) / (stacked.std(-1, keepdims=True) + 1e-5)
  projection, codebooks = quantiser(cfg, dim)
  u = stacked @ projection
  u = u / (jnp.linalg.norm(u, axis=-1, keepdims=True) + 1e-9)
  labels = jnp.argmax(jnp.einsum("bgd,ncd->bgnc", u, codebooks), axis=-1).astype(jnp.int32)
  group_paddings = paddings[:, :groups * cfg.stack].reshape(batch, groups, cfg.stack).max(-1)
  return labels, group_paddings


def span_mask(rng: jax.Array, paddings: jax.Array, prob: float, span: int) -> jax.Array:
  """[B, T] bool: frame t is masked when a span starts in (t - span, t] at an unpadded frame
  (starts ~ Bernoulli(prob)); padded frames are never masked."""
  starts = jax.random.bernoulli(rng, prob, paddings.shape) & (paddings < 0.5)
  counts = jnp.cumsum(starts.astype(jnp.int32), axis=1)
  shifted = jnp.pad(counts, ((0, 0), (span, 0)))[:, :counts.shape[1]]
  return ((counts - shifted) > 0) & (paddings < 0.5)


class SpeechPretrainer(nn.Module):
  """Front end + encoder + N-codebook prediction head: features [B, T, F] -> [B, T', N, C]."""
  model: ml_collections.FrozenConfigDict

  def setup(self):
    self.frontend = build_frontend(self.model, 0)
    self.encoder = build_encoder(self.model)
    dtype, param_dtype = dtypes(self.model)
    cfg = self.model.bestrq
    self.bestrq_head = heads.CtcHead(cfg.num_codebooks * cfg.codebook_size, dtype, param_dtype)

  def encode(self, inputs, paddings, deterministic: bool = True):
    x, paddings = self.frontend(inputs, paddings)
    return self.encoder(x, paddings, deterministic=deterministic)

  def __call__(self, features, paddings, deterministic: bool = True):
    """-> (logits [B, T', N, C] float32, encoder paddings [B, T'])."""
    memory, memory_paddings = self.encode(features, paddings, deterministic)
    cfg = self.model.bestrq
    logits = self.bestrq_head(memory)
    return logits.reshape(logits.shape[:2] + (cfg.num_codebooks, cfg.codebook_size)), \
        memory_paddings


class PretrainModel(_Model):
  """Model API of BEST-RQ pretraining (data.task 'pretrain'): loss_fn and encode."""

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config, SpeechPretrainer(ml_collections.FrozenConfigDict(config.model)))
    cfg = config.model.bestrq
    if cfg.stack < 1 or not 0.0 < cfg.mask_prob < 1.0 or cfg.mask_span < 1:
      raise ConfigError(f"model.bestrq needs stack >= 1, 0 < mask_prob < 1, mask_span >= 1; "
                        f"got {dict(cfg)}")
    self.cfg = cfg

  def masked_inputs(self, batch: dict, rng: jax.Array):
    """(features with masked spans replaced by noise, mask [B, T] bool)."""
    features, paddings = batch["features"], batch["feature_paddings"]
    mask_rng, noise_rng = jax.random.split(rng)
    mask = span_mask(mask_rng, paddings, self.cfg.mask_prob, self.cfg.mask_span)
    noise = self.cfg.noise_std * jax.random.normal(noise_rng, features.shape, features.dtype)
    return jnp.where(mask[..., None], noise, features), mask

  def loss_fn(self, params, batch: dict, rng: jax.Array | None, train: bool = True):
    """-> (mean masked-frame CE over codebooks, metric sums). Evaluation (train=False) masks
    with a fixed key, so dev accuracy is comparable across steps."""
    mask_rng = jax.random.fold_in(rng if train and rng is not None else jax.random.key(0), 0xB)
    features, mask = self.masked_inputs(batch, mask_rng)
    logits, memory_paddings = self._apply(params, features, batch["feature_paddings"],
                                          deterministic=not train,
                                          rng=rng if train else None)
    labels, label_paddings = quantise(batch["features"], batch["feature_paddings"], self.cfg)
    frames = min(logits.shape[1], labels.shape[1])
    groups = labels.shape[1]
    masked = mask[:, :groups * self.cfg.stack].reshape(mask.shape[0], groups, -1).any(-1)
    keep = masked[:, :frames] & (label_paddings[:, :frames] < 0.5) & \
        (memory_paddings[:, :frames] < 0.5)
    ignore = jnp.broadcast_to((~keep)[..., None], labels[:, :frames].shape).astype(jnp.float32)
    metrics = heads.cross_entropy_sums(logits[:, :frames], labels[:, :frames], ignore,
                                       self.label_smoothing)
    return metrics["loss_sum"] / jnp.maximum(metrics["weight"], 1.0), metrics
