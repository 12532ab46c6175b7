"""Learned text-to-speech alignment (FastPitch / "One TTS Alignment To Rule Them All",
Badlani et al. 2022): soft alignment scores, the forward-sum loss, monotonic alignment search.

Shapes: B batch, T frames, U symbols, E symbol embedding dim, F mel bins, C aligner dim.

  k_u = Conv_1(ReLU(Conv_K(e_u)))                       keys from symbol embeddings  [B, U, C]
  q_t = Conv_1(ReLU(Conv_1(ReLU(Conv_3(x_t)))))         queries from mel frames      [B, T, C]
  s[t, u] = -temperature * ||q_t - k_u||^2
  log p(u | t) = log_softmax_u(s[t, :]) + log prior[t, u]      (unpadded u only)

prior: the beta-binomial prior of the paper, p(u | t) = BetaBinomial(u; U-1, a = w (t+1),
b = w (T-t)) with w = prior_scale, which favours the diagonal so alignments form early.

Forward-sum loss: -log sum over all monotonic alignments of prod_t p(u_t | t), i.e. CTC with
labels 1..U (each symbol once, in order; optax.ctc_loss), per utterance divided by U. FastPitch
adds a blank of fixed logit -1; by default we leave it out (logit ``NO_BLANK``), so every frame
is explained by a symbol: with the blank (whose probability is then >= e^-1 / (e^-1 + 1)) a
small corpus found degenerate alignments that park the frames on blanks, and MAS (which has no
blank) then follows the wrong symbols. For the same reason the keys' conv kernel K defaults to
1 rather than FastPitch's 3: with context, a pause symbol's key learned to match its
neighbours' sounds and swallowed them (measured on the tests' synthetic corpus: mean boundary
error 0.9 frames with K = 1 and no blank, 2.7 with the blank, degenerate with K = 3).

Monotonic alignment search (``mas``): the Viterbi path through log p that starts at (0, 0),
ends at (T_b - 1, U_b - 1) and moves from symbol u at frame t to u or u + 1 at frame t + 1:
  Q[0, 0] = lp[0, 0];  Q[t, u] = lp[t, u] + max(Q[t-1, u], Q[t-1, u-1])
then backtracking; durations d_u = #frames on symbol u (sum = T_b; every symbol >= 1 frame
when T_b >= U_b). Both passes are ``lax.scan`` over frames.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from st_jax.models.layers import MASK_VALUE, Dtype, mask_padded
from st_jax.models.variance import conv1d

NO_BLANK = -1e4                  # a blank logit this low takes the blank out


def beta_binomial_log_prior(symbol_paddings: jax.Array, frame_paddings: jax.Array,
                            scale: float = 1.0) -> jax.Array:
  """[B, U], [B, T] -> log prior [B, T, U] (0 outside the unpadded region)."""
  gammaln = jax.scipy.special.gammaln
  n = (1.0 - symbol_paddings).sum(-1)[:, None, None] - 1.0          # U_b - 1
  frames = (1.0 - frame_paddings).sum(-1)[:, None, None]            # T_b
  k = jnp.arange(symbol_paddings.shape[1], dtype=jnp.float32)[None, None, :]
  i = jnp.arange(frame_paddings.shape[1], dtype=jnp.float32)[None, :, None] + 1.0
  a, b = scale * i, scale * jnp.maximum(frames + 1.0 - i, 1.0)

  def betaln(x, y):
    return gammaln(x) + gammaln(y) - gammaln(x + y)
  safe_k = jnp.minimum(k, jnp.maximum(n, 0.0))
  log_pmf = (gammaln(n + 1.0) - gammaln(safe_k + 1.0) - gammaln(n - safe_k + 1.0)
             + betaln(safe_k + a, n - safe_k + b) - betaln(a, b))
  valid = (k <= n) & (i <= frames)
  return jnp.where(valid, log_pmf, 0.0)


class Aligner(nn.Module):
  """(symbol embeddings [B, U, E], symbol paddings, mel [B, T, F], frame paddings) ->
  log p(u | t) [B, T, U] float32 (MASK_VALUE at padded symbols; module doc)."""
  dim: int
  temperature: float = 0.0005
  prior_scale: float = 1.0          # 0: no prior
  key_kernel: int = 1
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, embeddings, symbol_paddings, mel, frame_paddings) -> jax.Array:
    proj = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    keys = conv1d(2 * self.dim, self.key_kernel, ("embed", "mlp"), name="key_conv_0", **proj)(
        mask_padded(embeddings, symbol_paddings))
    keys = conv1d(self.dim, 1, ("mlp", "embed"), name="key_conv_1", **proj)(nn.relu(keys))
    queries = mask_padded(mel.astype(self.dtype), frame_paddings)
    for i, (width, kernel) in enumerate(((2 * self.dim, 3), (self.dim, 1), (self.dim, 1))):
      if i:
        queries = nn.relu(queries)
      names = ("mel" if i == 0 else "mlp", "mlp" if i == 0 else "embed")
      if i == 2:
        names = ("conv", "embed")
      queries = conv1d(width, kernel, names, name=f"query_conv_{i}", **proj)(
          mask_padded(queries, frame_paddings))
    keys, queries = keys.astype(jnp.float32), queries.astype(jnp.float32)
    distances = (jnp.square(queries).sum(-1)[:, :, None] + jnp.square(keys).sum(-1)[:, None, :]
                 - 2.0 * jnp.einsum("btc,buc->btu", queries, keys))
    scores = jnp.where(symbol_paddings[:, None, :] > 0.5, MASK_VALUE,
                       -self.temperature * jnp.maximum(distances, 0.0))
    log_probs = jax.nn.log_softmax(scores, axis=-1)
    if self.prior_scale > 0:
      log_probs = log_probs + beta_binomial_log_prior(symbol_paddings, frame_paddings,
                                                      self.prior_scale)
    return jnp.where(symbol_paddings[:, None, :] > 0.5, MASK_VALUE, log_probs)


def forward_sum_loss(log_probs: jax.Array, symbol_paddings: jax.Array,
                     frame_paddings: jax.Array, blank_logit: float = NO_BLANK) -> jax.Array:
  """Per-utterance forward-sum loss / U_b [B] (0 where T_b < U_b: no alignment exists)."""
  batch, _, symbols = log_probs.shape
  logits = jnp.concatenate([jnp.full(log_probs.shape[:2] + (1,), blank_logit, jnp.float32),
                            log_probs], axis=-1)
  labels = jnp.broadcast_to(jnp.arange(1, symbols + 1, dtype=jnp.int32), (batch, symbols))
  per_utterance = optax.ctc_loss(logits, frame_paddings, labels, symbol_paddings, blank_id=0)
  count = (1.0 - symbol_paddings).sum(-1)
  feasible = ((1.0 - frame_paddings).sum(-1) >= count) & (count > 0)
  return jnp.where(feasible, per_utterance / jnp.maximum(count, 1.0), 0.0)


def mas(log_probs: jax.Array, symbol_paddings: jax.Array,
        frame_paddings: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Monotonic alignment search -> (durations [B, U] int32, path [B, T, U] float32 0/1)."""
  batch, frames, symbols = log_probs.shape
  valid_u = symbol_paddings < 0.5
  lp = jnp.where(valid_u[:, None, :], log_probs.astype(jnp.float32), -jnp.inf)
  lp = jnp.moveaxis(lp, 1, 0)                                            # [T, B, U]
  neg = jnp.full((batch, 1), -jnp.inf, jnp.float32)
  first = jnp.concatenate([lp[0, :, :1], jnp.full((batch, symbols - 1), -jnp.inf)], axis=1)

  def forward(q, row):
    moved = jnp.concatenate([neg, q[:, :-1]], axis=1)
    move = moved > q
    return jnp.maximum(q, moved) + row, move

  _, moves = jax.lax.scan(forward, first, lp[1:])                         # [T-1, B, U]
  moves = jnp.concatenate([jnp.zeros((1, batch, symbols), bool), moves], axis=0)
  lengths_t = (1.0 - frame_paddings).sum(-1).astype(jnp.int32)
  last_u = jnp.maximum((1.0 - symbol_paddings).sum(-1).astype(jnp.int32) - 1, 0)
  rows = jnp.arange(batch)

  def backward(u, inputs):
    t, move = inputs
    active = t < lengths_t
    onehot = jax.nn.one_hot(u, symbols, dtype=jnp.float32) * active[:, None]
    step = (move[rows, u] & active & (t > 0)).astype(jnp.int32)
    return jnp.maximum(u - step, 0), onehot

  _, path = jax.lax.scan(backward, last_u, (jnp.arange(frames)[::-1], moves[::-1]))
  path = jnp.moveaxis(path[::-1], 0, 1)                                   # [B, T, U]
  return path.sum(1).astype(jnp.int32), path
