"""Output heads and their losses: CTC on the encoder, label-smoothed cross-entropy for the
attention decoder, and utterance classification (emotion, language ID, speaker) with pooling.
(The MT text encoder is `frontends.TokenEmbedding` followed by the same `TransformerEncoder`.)

Shapes: B batch, T frames, S target length, U transcript length, D model dim, V vocab,
C classes. Losses return *sums* plus the count they sum over, so that accumulation across
micro-batches and devices gives exact means.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from st_jax.errors import ConfigError
from st_jax.models.layers import MASK_VALUE, Dtype, constrain, dense

BLANK_ID = 0  # CTC blank shares id 0 with <pad>
POOLINGS = ("mean", "attention")


class CtcHead(nn.Module):
  """CTC projection: x [B, T, D] -> logits [B, T, V] (float32); z = x W + b, blank = id 0."""
  vocab_size: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    logits = dense(self.vocab_size, ("embed", "vocab"), dtype=self.dtype,
                   param_dtype=self.param_dtype, name="proj")(x)
    return constrain(logits.astype(jnp.float32), ("batch", "length", "vocab"))


def ctc_loss_sums(logits, logit_paddings, labels, label_paddings) -> tuple[jax.Array, jax.Array]:
  """Sum over utterances of -log P_CTC(labels | logits) and the number of label tokens summed.

  logits [B, T, V], logit_paddings [B, T], labels [B, U] int, label_paddings [B, U].
  An utterance whose labels cannot be aligned (fewer frames than labels plus repeated-label
  blanks: U + #{u : y_u = y_(u-1)} > T) has no finite loss (optax returns ~1e5); it is left out
  of both the sum and the count instead of swamping the batch.
  """
  per_utterance = optax.ctc_loss(logits.astype(jnp.float32), logit_paddings, labels,
                                 label_paddings, blank_id=BLANK_ID)
  valid = 1.0 - label_paddings
  repeats = ((labels[:, 1:] == labels[:, :-1]) * valid[:, 1:] * valid[:, :-1]).sum(axis=-1)
  feasible = (1.0 - logit_paddings).sum(axis=-1) >= valid.sum(axis=-1) + repeats
  return (jnp.where(feasible, per_utterance, 0.0).sum(),
          jnp.where(feasible, valid.sum(axis=-1), 0.0).sum())


def cross_entropy_sums(logits, targets, paddings=None, label_smoothing: float = 0.0) -> dict:
  """Label-smoothed cross-entropy sums over unpadded positions.

  logits [..., V], targets [...] int, paddings [...] (1 = ignore; None = none ignored).
  q = (1 - eps) onehot(y) + eps / V,  loss = -sum_v q_v log p_v
  Returns {'loss_sum' (smoothed), 'nll_sum' (-log p_y), 'correct' (argmax hits),
  'weight' (number of unpadded positions)}.
  """
  if not 0.0 <= label_smoothing < 1.0:
    raise ConfigError(f"train.label_smoothing={label_smoothing} must be in [0, 1)")
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  nll = -jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
  loss = (1.0 - label_smoothing) * nll - label_smoothing * log_probs.mean(axis=-1)
  weights = jnp.ones(targets.shape, jnp.float32) if paddings is None else 1.0 - paddings
  correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
  return {"loss_sum": (loss * weights).sum(), "nll_sum": (nll * weights).sum(),
          "correct": (correct * weights).sum(), "weight": weights.sum()}


def masked_mean_pool(x: jax.Array, paddings: jax.Array) -> jax.Array:
  """y = sum_t (1 - p_t) x_t / max(1, sum_t (1 - p_t)):  [B, T, D] -> [B, D]."""
  valid = (paddings < 0.5).astype(x.dtype)[..., None]
  return jnp.where(valid > 0, x, 0).sum(axis=1) / jnp.maximum(valid.sum(axis=1), 1)


class AttentionPooling(nn.Module):
  """Additive attention pooling: [B, T, D] -> [B, D].

  e_t = w^T tanh(W x_t + b),  alpha = softmax over unpadded t of e,  y = sum_t alpha_t x_t
  """
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, paddings: jax.Array) -> jax.Array:
    proj = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    hidden = jnp.tanh(dense(x.shape[-1], ("embed", "mlp"), name="proj", **proj)(x))
    scores = dense(1, ("mlp", None), use_bias=False, name="score", **proj)(hidden)[..., 0]
    scores = jnp.where(paddings < 0.5, scores.astype(jnp.float32), MASK_VALUE)
    weights = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
    return jnp.einsum("bt,btd->bd", weights, jnp.where(paddings[..., None] < 0.5, x, 0))


class UtteranceClassifier(nn.Module):
  """Utterance-level labels: (x [B, T, D], paddings) -> logits [B, C] (float32).

  h = Pool(x, paddings) (masked mean or AttentionPooling);  logits = h W_out + b_out
  """
  num_classes: int
  pooling: str = "mean"
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, paddings: jax.Array) -> jax.Array:
    if self.pooling == "mean":
      pooled = masked_mean_pool(x, paddings)
    elif self.pooling == "attention":
      pooled = AttentionPooling(self.dtype, self.param_dtype, name="attention_pool")(x, paddings)
    else:
      raise ConfigError(f"model.classifier.pooling={self.pooling!r} is not one of {POOLINGS}")
    pooled = constrain(pooled, ("batch", "embed"))
    logits = dense(self.num_classes, ("embed", "classes"), dtype=self.dtype,
                   param_dtype=self.param_dtype, name="out")(pooled)
    return logits.astype(jnp.float32)
