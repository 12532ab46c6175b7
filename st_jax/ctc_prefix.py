"""CTC prefix scores for joint CTC/attention beam search (Watanabe et al. 2017, as in ESPnet's
CTCPrefixScoreTH), vectorised over hypotheses and candidate tokens, inside `jax.jit`.

Shapes: B utterances, K beams, N = B*K hypotheses (row n = b*K + k), T encoder frames,
V vocabulary, P candidates scored per hypothesis (the pre-beam). x[t, v] = log p_ctc(v | t),
blank = 0.

For a prefix g the state holds, for every frame t,
    r_n[t] = log P(x_1..t aligned to g, the path ending in g's last label),
    r_b[t] = log P(x_1..t aligned to g, the path ending in blank),
and psi(g) = log P(g is a prefix of the CTC output) (psi(empty) = 0). Extending g by c:
    phi[t]    = logaddexp(r_n[t], r_b[t])    (only r_b[t] when c equals g's last label)
    r_n'[0]   = x[0, c] if g is empty else -inf,      r_b'[0] = -inf
    r_n'[t]   = logaddexp(r_n'[t-1], phi[t-1]) + x[t, c]
    r_b'[t]   = logaddexp(r_n'[t-1], r_b'[t-1]) + x[t, blank]
    psi(g.c)  = logsumexp(r_n'[0], phi[t-1] + x[t, c] for t = 1..T-1)
    psi(g.eos) = logaddexp(r_n[T-1], r_b[T-1])       (g is the whole output)
Padded frames are rewritten to x[t, blank] = 0 and x[t, c] = -inf: every path then moves into
blank and stays there, so r at T-1 equals r at the last real frame and psi gains nothing.

The beam combines, per candidate, (1 - w) * log p_att(c) + w * (psi(g.c) - psi(g)), w the CTC
weight; each term is <= 0, so the beam's early-exit bound stays valid.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

NEG = -1.0e10   # finite -inf: sums of a few stay far below any real score and never overflow
BLANK = 0


class CTCState(NamedTuple):
  """Per hypothesis: r [N, T, 2] (r_n, r_b), psi [N], last label [N] (-1: empty prefix)."""
  r: jax.Array
  psi: jax.Array
  last: jax.Array


def prepare(log_probs: jax.Array, paddings: jax.Array) -> jax.Array:
  """CTC log-probs [B, T, V] and paddings [B, T] -> x [B, T, V] with the padded frames
  rewritten (blank 0, every other label NEG)."""
  padded = paddings[..., None] > 0.5
  blank_only = jnp.where(jnp.arange(log_probs.shape[-1]) == BLANK, 0.0, NEG)
  return jnp.where(padded, blank_only, jnp.maximum(log_probs.astype(jnp.float32), NEG))


def initial_state(x: jax.Array, beam_size: int) -> CTCState:
  """State of the empty prefix for each of the K beams of every utterance (N = B*K rows)."""
  r_b = jnp.cumsum(x[:, :, BLANK], axis=1)                          # [B, T]
  r = jnp.stack([jnp.full_like(r_b, NEG), r_b], axis=-1)
  r = jnp.repeat(r, beam_size, axis=0)
  n = r.shape[0]
  return CTCState(r, jnp.zeros((n,), jnp.float32), jnp.full((n,), -1, jnp.int32))


def extend(x: jax.Array, state: CTCState, candidates: jax.Array, eos_id: int,
           beam_size: int) -> tuple[jax.Array, jax.Array]:
  """Scores every hypothesis extended by each of its candidates.

  x [B, T, V]; candidates [N, P] token ids -> (psi [N, P] prefix scores of g.c,
  r' [N, T, P, 2] the states of the extended prefixes).
  """
  n, num_frames, _ = state.r.shape
  utterance = jnp.arange(n) // beam_size
  x_c = x[utterance[:, None, None], jnp.arange(num_frames)[None, :, None],
          candidates[:, None, :]]                                   # [N, T, P]
  x_blank = x[utterance, :, BLANK]                                  # [N, T]
  r_n, r_b = state.r[..., 0], state.r[..., 1]
  repeat = candidates == state.last[:, None]                        # [N, P]
  phi = jnp.where(repeat[:, None, :], r_b[:, :, None],
                  jnp.logaddexp(r_n, r_b)[:, :, None])              # [N, T, P]
  empty = (state.last < 0)[:, None]
  start_n = jnp.where(empty, x_c[:, 0], NEG)                        # [N, P]
  start = jnp.stack([start_n, jnp.full_like(start_n, NEG)], axis=-1)

  def step(carry, inputs):
    phi_prev, x_t, blank_t = inputs                                 # [N, P], [N, P], [N]
    prev_n, prev_b = carry[..., 0], carry[..., 1]
    new_n = jnp.logaddexp(prev_n, phi_prev) + x_t
    new_b = jnp.logaddexp(prev_n, prev_b) + blank_t[:, None]
    new = jnp.stack([new_n, new_b], axis=-1)
    return new, new

  _, rest = jax.lax.scan(step, start, (jnp.moveaxis(phi[:, :-1], 1, 0),
                                       jnp.moveaxis(x_c[:, 1:], 1, 0),
                                       jnp.moveaxis(x_blank[:, 1:], 1, 0)))
  r_new = jnp.concatenate([start[:, None], jnp.moveaxis(rest, 0, 1)], axis=1)  # [N, T, P, 2]
  psi = jnp.logaddexp(start_n, jax.nn.logsumexp(phi[:, :-1] + x_c[:, 1:], axis=1))
  full = jnp.logaddexp(r_n[:, -1], r_b[:, -1])[:, None]
  psi = jnp.where(candidates == eos_id, full, psi)
  return psi, r_new


def select(state: CTCState, psi: jax.Array, r_new: jax.Array, candidates: jax.Array,
           rows: jax.Array, tokens: jax.Array) -> CTCState:
  """New state after the beam chose, for each new hypothesis m, parent row rows[m] extended by
  tokens[m] (a member of candidates[rows[m]]). rows, tokens [N]."""
  slot = jnp.argmax(candidates[rows] == tokens[:, None], axis=1)    # [N]
  return CTCState(r_new[rows, :, slot], psi[rows, slot], tokens.astype(jnp.int32))


def joint_scores(att_log_probs: jax.Array, x: jax.Array, state: CTCState, weight: float,
                 pre_beam: int, eos_id: int, beam_size: int):
  """Attention log-probs [N, V] -> (joint [N, V], (psi, r', candidates)) where
  joint = (1 - w) att + w (psi(g.c) - psi(g)) on the top `pre_beam` attention tokens of each
  hypothesis and NEG elsewhere."""
  _, candidates = jax.lax.top_k(att_log_probs, pre_beam)            # [N, P]
  psi, r_new = extend(x, state, candidates, eos_id, beam_size)
  att = jnp.take_along_axis(att_log_probs, candidates, axis=1)
  combined = (1.0 - weight) * att + weight * (psi - state.psi[:, None])
  joint = jnp.full_like(att_log_probs, NEG)
  joint = joint.at[jnp.arange(joint.shape[0])[:, None], candidates].set(combined)
  return joint, (psi, r_new, candidates)
