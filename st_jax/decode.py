"""Greedy and batched beam search over the model's KV cache, fully inside `jax.jit`.

Shapes: B batch, K beam size, L maximum output length (cache length), V vocab, T frames,
T' encoder frames.

Both searches run `lax.while_loop` over positions t = 0 .. L-1: the token fed at t is BOS for
t = 0 and the token chosen at t-1 otherwise; the step's logits choose token y_t. Outputs are
fixed-shape [.., L] int32 arrays with EOS included and PAD (0) after it; a hypothesis that reaches
L tokens without EOS is kept as it is (truncated), so `scores` are always defined.

Scores. log p(y) = sum_t log softmax(logits_t)[y_t] (EOS included). Beam search ranks by the
GNMT length normalisation (Wu et al. 2016, as in flax examples/wmt):

    score(y) = log p(y) / lp(|y|),   lp(n) = ((5 + n) / 6) ** alpha,   alpha = length_penalty

|y| counts the emitted tokens including EOS; alpha = 0 gives the raw log-probability. Greedy
reports the same normalised score (alpha defaults to 0 there), and `beam_search(K=1, alpha=0)`
returns exactly `greedy_search(alpha=0)`. With alpha > 0 a K=1 beam may differ from greedy: it
keeps one live hypothesis past a finished one while the live one can still win. PAD and BOS
are never emitted (their log-probs are set to NEG_INF after the softmax, so scores stay true
log-probabilities and PAD marks only positions after EOS).

Beam search early exit: a batch row is done when it holds K finished hypotheses and no live
beam can beat the worst of them. Log-probs are <= 0 and lp grows with n (alpha >= 0), so a live
beam with raw score s can at best reach s / lp(L); the row is done when
    max_k live_k / lp(L) <= min_k finished_k.
The loop stops when every row is done (or at t = L). ASR models with a CTC head can add CTC
prefix scores to the beam (joint CTC/attention, `ctc_weight`) or decode with `ctc_greedy`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from st_jax import ctc_prefix
from st_jax.data.tokenizer import BOS_ID, EOS_ID, PAD_ID
from st_jax.errors import ConfigError

NEG_INF = -1.0e9   # finite "impossible" score: stays finite under + and /, unlike -inf
CTC_BLANK = PAD_ID


def length_penalty_factor(length, alpha: float):
  """GNMT lp(n) = ((5 + n) / 6) ** alpha (float32, broadcasts over `length`)."""
  return ((5.0 + jnp.asarray(length, jnp.float32)) / 6.0) ** alpha


def _step_log_probs(logits: jax.Array) -> jax.Array:
  """logits [N, V] -> log softmax [N, V] f32 with PAD and BOS made impossible (NEG_INF): they
  are never outputs, so PAD marks only the positions after EOS."""
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return log_probs.at[:, PAD_ID].set(NEG_INF).at[:, BOS_ID].set(NEG_INF)


def _check(max_length: int, length_penalty: float, beam_size: int = 1) -> None:
  if int(max_length) < 1:
    raise ConfigError(f"decode max_length={max_length} must be at least 1")
  if int(beam_size) < 1:
    raise ConfigError(f"decode beam_size={beam_size} must be at least 1")
  if length_penalty < 0:
    raise ConfigError(f"decode length_penalty={length_penalty} must be >= 0 (alpha in "
                      f"((5 + n) / 6) ** alpha)")


def greedy_search(model, params, batch: dict, max_length: int,
                  length_penalty: float = 0.0) -> tuple[jax.Array, jax.Array]:
  """argmax decoding -> (tokens [B, L] int32, PAD after EOS; scores [B] = log p(y) / lp(|y|)).

  y_t = argmax_v log p(v | y_<t, x); stops early once every row has emitted EOS. Rows already
  finished keep feeding PAD (their outputs are ignored) so the batch keeps one shape.
  """
  _check(max_length, length_penalty)
  encoded = model.encode(params, batch)
  batch_size = encoded.memory.shape[0]
  cache = model.init_cache(params, encoded, max_length)

  def cond(state):
    step, _, _, _, finished, _ = state
    return (step < max_length) & ~jnp.all(finished)

  def body(state):
    step, last, tokens, log_prob, finished, cache = state
    logits, cache = model.decode_step(params, cache, last, step)
    log_probs = _step_log_probs(logits)
    choice = jnp.argmax(log_probs, axis=-1).astype(jnp.int32)
    chosen = jnp.take_along_axis(log_probs, choice[:, None], axis=-1)[:, 0]
    token = jnp.where(finished, PAD_ID, choice)
    log_prob = log_prob + jnp.where(finished, 0.0, chosen)
    tokens = jax.lax.dynamic_update_slice(tokens, token[:, None], (0, step))
    return step + 1, token, tokens, log_prob, finished | (token == EOS_ID), cache

  state = (jnp.int32(0), jnp.full((batch_size,), BOS_ID, jnp.int32),
           jnp.full((batch_size, max_length), PAD_ID, jnp.int32),
           jnp.zeros((batch_size,), jnp.float32), jnp.zeros((batch_size,), bool), cache)
  _, _, tokens, log_prob, _, _ = jax.lax.while_loop(cond, body, state)
  lengths = (tokens != PAD_ID).sum(axis=-1)
  return tokens, log_prob / length_penalty_factor(lengths, length_penalty)


def _gather_beams(tree, indices: jax.Array):
  """tree of [B, K, ...] leaves, indices [B, K'] -> [B, K', ...] (beam b picks indices[b])."""
  return jax.tree.map(lambda x: jnp.take_along_axis(
      x, indices.reshape(indices.shape + (1,) * (x.ndim - 2)), axis=1), tree)


def _beam_cache(cache, beam_size: int):
  """Cache of B utterances -> cache of B*K hypotheses. A cache dict with a "self" entry
  (transformer.py) gets only that entry repeated K times (row b*K + k = beam k of utterance
  b); the cross-attention K/V and memory paddings stay [B, ...] and the decoder lets the K
  beams of an utterance share them (K times less memory traffic per step)."""
  repeat = lambda tree: jax.tree.map(lambda x: jnp.repeat(x, beam_size, axis=0), tree)
  if isinstance(cache, dict) and "self" in cache:
    return {**cache, "self": repeat(cache["self"])}
  return repeat(cache)


def _reorder_cache(cache, rows: jax.Array):
  """Cache rows [B*K, ...] -> the parents' rows. Only the per-hypothesis part changes: a cache
  dict with a "self" entry (transformer.py: self-attention K/V) keeps its other entries
  (cross-attention K/V, memory paddings), which are the same for every beam of an utterance
  and parents never leave their utterance; gathering them each step would copy
  B*K x T' x D per layer for nothing."""
  if isinstance(cache, dict) and "self" in cache:
    return {**cache, "self": jax.tree.map(lambda x: x[rows], cache["self"])}
  return jax.tree.map(lambda x: x[rows], cache)


def _parent_rows(parents: jax.Array, beam_size: int) -> jax.Array:
  """parents [B, K] (beam index within the utterance) -> flat rows [B*K] = b*K + parents[b, k]."""
  return (jnp.arange(parents.shape[0])[:, None] * beam_size + parents).reshape(-1)


def beam_search(model, params, batch: dict, beam_size: int, max_length: int,
                length_penalty: float = 1.0, ctc_weight: float = 0.0,
                ctc_pre_beam: int | None = None) -> tuple[jax.Array, jax.Array]:
  """Batched beam search -> (tokens [B, K, L] int32, scores [B, K]), n-best, best first.

  The B*K hypotheses share one flat cache of B*K rows (row b*K + k is beam k of utterance b,
  initialised by repeating each utterance's cache K times). Step t, with live raw scores
  s_k and log-probs [B, K, V]:
    candidates c_{k,v} = s_k + log p(v | y_k)  (K*V per row); keep the top 2K;
    finished  <- top-K of (finished U {c / lp(t+1) : v = EOS, or t = L-1 (truncated)});
    live      <- top-K of the candidates with v != EOS; cache rows gathered by parent beam.
  2K candidates guarantee K live ones even if K of them end in EOS. At t = 0 only beam 0 is
  live (the others start at NEG_INF) so the K copies of BOS do not yield duplicates. Scores
  are log p(y) / lp(|y|) (module docstring); rows stop early as described there.

  Joint CTC/attention (ctc_weight w > 0, models with a CTC head): log p(v | y_k) is replaced by
  (1 - w) log p_att(v | y_k) + w (psi(y_k v) - psi(y_k)) on the `ctc_pre_beam` best attention
  tokens of each beam (default max(2K, 8)), psi the CTC prefix score (ctc_prefix.py), so scores
  are (1 - w) log p_att(y) + w log p_ctc(y) before normalisation.
  """
  _check(max_length, length_penalty, beam_size)
  if not 0.0 <= ctc_weight < 1.0:
    raise ConfigError(f"decode ctc_weight={ctc_weight} must be in [0, 1)")
  k = int(beam_size)
  encoded = model.encode(params, batch)
  batch_size = encoded.memory.shape[0]
  cache = model.init_cache(params, encoded, max_length)
  cache = _beam_cache(cache, k)   # per-hypothesis entries [B*K, ...]
  max_bound = length_penalty_factor(max_length, length_penalty)
  ctc_x, ctc_state = None, ()
  if ctc_weight > 0:
    ctc_x = ctc_prefix.prepare(model.ctc_log_probs(params, encoded), encoded.paddings)
    ctc_state = ctc_prefix.initial_state(ctc_x, k)

  def row_done(live_scores, finished_scores):
    """[B]: K finished and no live beam can still beat the worst finished one."""
    return (jnp.max(live_scores, axis=1) / max_bound) <= jnp.min(finished_scores, axis=1)

  def cond(state):
    step, live_scores, _, finished_scores, _, _, _ = state
    return (step < max_length) & ~jnp.all(row_done(live_scores, finished_scores))

  def body(state):
    step, live_scores, live_tokens, finished_scores, finished_tokens, cache, ctc_state = state
    done = row_done(live_scores, finished_scores)
    last = jnp.where(step == 0, BOS_ID,
                     jax.lax.dynamic_index_in_dim(live_tokens, jnp.maximum(step - 1, 0), axis=2,
                                                  keepdims=False))
    logits, cache = model.decode_step(params, cache, last.reshape(-1), step)
    vocab = logits.shape[-1]
    log_probs = _step_log_probs(logits)
    if ctc_x is not None:
      pre_beam = min(vocab, ctc_pre_beam or max(2 * k, 8))
      log_probs, ctc_ext = ctc_prefix.joint_scores(log_probs, ctc_x, ctc_state, ctc_weight,
                                                   pre_beam, EOS_ID, k)
    log_probs = log_probs.reshape(batch_size, k, vocab)
    flat = (live_scores[:, :, None] + log_probs).reshape(batch_size, k * vocab)
    cand_scores, cand_index = jax.lax.top_k(flat, 2 * k)                   # [B, 2K]
    parents, cand_token = cand_index // vocab, (cand_index % vocab).astype(jnp.int32)
    cand_tokens = jax.lax.dynamic_update_slice(
        _gather_beams(live_tokens, parents), cand_token[:, :, None], (0, 0, step))
    is_eos = cand_token == EOS_ID
    ending = is_eos | (step == max_length - 1)

    # Finished: merge the ending candidates (normalised) into the n-best, old entries first so
    # ties keep them; rows already done are frozen.
    normalised = cand_scores / length_penalty_factor(step + 1, length_penalty)
    merged_scores = jnp.concatenate(
        [finished_scores, jnp.where(ending, normalised, NEG_INF)], axis=1)
    merged_tokens = jnp.concatenate([finished_tokens, cand_tokens], axis=1)
    new_finished_scores, pick = jax.lax.top_k(merged_scores, k)
    new_finished_tokens = _gather_beams(merged_tokens, pick)
    finished_scores = jnp.where(done[:, None], finished_scores, new_finished_scores)
    finished_tokens = jnp.where(done[:, None, None], finished_tokens, new_finished_tokens)

    # Live: the best K candidates that did not emit EOS.
    live_scores, pick = jax.lax.top_k(jnp.where(is_eos, NEG_INF, cand_scores), k)
    live_tokens = _gather_beams(cand_tokens, pick)
    rows = _parent_rows(jnp.take_along_axis(parents, pick, axis=1), k)
    cache = _reorder_cache(cache, rows)
    if ctc_x is not None:
      ctc_state = ctc_prefix.select(ctc_state, *ctc_ext, rows,
                                    jnp.take_along_axis(cand_token, pick, axis=1).reshape(-1))
    return step + 1, live_scores, live_tokens, finished_scores, finished_tokens, cache, ctc_state

  live_scores = jnp.tile(jnp.asarray([0.0] + [NEG_INF] * (k - 1), jnp.float32), (batch_size, 1))
  empty = jnp.full((batch_size, k, max_length), PAD_ID, jnp.int32)
  state = (jnp.int32(0), live_scores, empty, jnp.full((batch_size, k), NEG_INF, jnp.float32),
           empty, cache, ctc_state)
  _, _, _, finished_scores, finished_tokens, _, _ = jax.lax.while_loop(cond, body, state)
  return finished_tokens, finished_scores


def max_decode_length(paddings, ratio: float, minimum: int, maximum: int,
                      multiple: int = 8) -> int:
  """Host-side output length bound for a batch: L = clip(ceil(ratio * max_b frames_b), min, max),
  rounded up to `multiple` (fewer distinct L, hence fewer compiles) before the clip to `maximum`.

  paddings [B, T] (1.0 = pad) of the input (feature_paddings, or source_paddings for MT).
  """
  if minimum < 1 or maximum < minimum or ratio <= 0 or multiple < 1:
    raise ConfigError(f"max_decode_length needs ratio > 0, 1 <= minimum <= maximum, "
                      f"multiple >= 1; got ratio={ratio}, minimum={minimum}, "
                      f"maximum={maximum}, multiple={multiple}")
  frames = float(np.max((1.0 - np.asarray(paddings, np.float32)).sum(axis=-1), initial=0.0))
  length = max(int(np.ceil(ratio * frames)), minimum)
  length = -(-length // multiple) * multiple
  return int(min(length, maximum))


def ctc_greedy(log_probs, paddings) -> list[list[int]]:
  """Best-path CTC decoding on the host: argmax per frame over unpadded frames, collapse
  repeats, drop blanks (id 0). log_probs [B, T, V], paddings [B, T] -> B lists of ids."""
  best = np.asarray(log_probs).argmax(axis=-1)
  valid = np.asarray(paddings) < 0.5
  out = []
  for row, keep in zip(best, valid):
    row = row[keep]
    changed = np.concatenate([[True], row[1:] != row[:-1]]) if row.size else row.astype(bool)
    out.append([int(t) for t in row[changed] if t != CTC_BLANK])
  return out


def trim(tokens) -> list[list[int]]:
  """tokens [B, L] -> B lists of ids before the first EOS (PAD dropped)."""
  out = []
  for row in np.asarray(tokens).tolist():
    row = row[:row.index(EOS_ID)] if EOS_ID in row else row
    out.append([t for t in row if t != PAD_ID])
  return out


def _input_keys(model) -> tuple[str, ...]:
  """The batch keys `model.encode` reads (a LoRA wrapper keeps them on `.base`)."""
  for candidate in (model, getattr(model, "base", None)):
    keys = getattr(candidate, "input_keys", None)
    if keys:
      return tuple(keys)
  return ("features", "feature_paddings")


def _check_ctc(model, ctc_weight: float) -> None:
  """Joint decoding needs a CTC head whose labels are the output tokens (task 'asr')."""
  if not ctc_weight:
    return
  config = getattr(model, "config", None) or getattr(model.base, "config")
  if config.data.task != "asr" or not config.model.get("ctc_weight", 0.0):
    raise ConfigError(f"decode ctc_weight={ctc_weight} needs an ASR model trained with a CTC "
                      f"head (data.task='asr', model.ctc_weight > 0); this model has "
                      f"task={config.data.task!r}, model.ctc_weight="
                      f"{config.model.get('ctc_weight', 0.0)}")


def _position_limit(model) -> int | None:
  try:
    return int(model.config.model.decoder.max_length)
  except (AttributeError, KeyError, TypeError):
    return None


class Decoder:
  """Jitted decoding entry point: `Decoder(model, beam_size)(params, batch)` ->
  (tokens [B, K, L], scores [B, K]) as jax arrays (greedy when beam_size == 1 and
  ctc_weight == 0, K = 1; joint CTC/attention beam search when ctc_weight > 0).

  Compiles once per (input shapes, L): only the keys `model.encode` reads are passed to jit, so
  targets etc. in the batch cannot cause recompiles. L is `max_length` if given, else
  `max_decode_length(input paddings, length_ratio, min_length, max_length_cap)`; batches
  bucketed by the input pipeline therefore reuse a few executables. `trace_count` counts
  traces (= compiles) for tests and logs.
  """

  def __init__(self, model, beam_size: int = 1, length_penalty: float = 1.0,
               max_length: int | None = None, length_ratio: float = 0.5, min_length: int = 8,
               max_length_cap: int = 256, length_multiple: int = 8, ctc_weight: float = 0.0,
               ctc_pre_beam: int | None = None):
    _check(1 if max_length is None else max_length, length_penalty, beam_size)
    _check_ctc(model, ctc_weight)
    self.model, self.beam_size, self.length_penalty = model, int(beam_size), float(length_penalty)
    self.ctc_weight, self.ctc_pre_beam = float(ctc_weight), ctc_pre_beam
    self.max_length = max_length
    self.length_args = (length_ratio, min_length, max_length_cap, length_multiple)
    self.input_keys = _input_keys(model)
    self.trace_count = 0
    self._jitted: Callable[..., Any] = jax.jit(self._decode, static_argnums=2)

  def _decode(self, params, inputs: dict, max_length: int):
    self.trace_count += 1   # runs only while tracing
    if self.beam_size == 1 and not self.ctc_weight:
      tokens, scores = greedy_search(self.model, params, inputs, max_length, self.length_penalty)
      return tokens[:, None], scores[:, None]
    return beam_search(self.model, params, inputs, self.beam_size, max_length,
                       self.length_penalty, self.ctc_weight, self.ctc_pre_beam)

  def output_length(self, batch: dict) -> int:
    """L for `batch` (fixed `max_length`, or from the input paddings)."""
    if self.max_length is not None:
      length = int(self.max_length)
    else:
      length = max_decode_length(batch[self.input_keys[-1]], *self.length_args)
    limit = _position_limit(self.model)
    if limit is not None and length > limit:
      raise ConfigError(f"decode length {length} exceeds model.decoder.max_length={limit}; "
                        f"lower the decode max_length / max_length_cap")
    return length

  def __call__(self, params, batch: dict, max_length: int | None = None):
    missing = [key for key in self.input_keys if key not in batch]
    if missing:
      raise ConfigError(f"decode batch lacks {missing}; it has {sorted(batch)}")
    inputs = {key: batch[key] for key in self.input_keys}
    length = int(max_length) if max_length is not None else self.output_length(batch)
    return self._jitted(params, inputs, length)


def decode_texts(decoder: Decoder, params, batch: dict,
                 detokenize: Callable[[Sequence[int]], str]) -> list[str]:
  """Best hypothesis per utterance as text: `detokenize(trim(tokens[:, 0]))`."""
  tokens, _ = decoder(params, batch)
  return [detokenize(ids) for ids in trim(np.asarray(tokens)[:, 0])]
