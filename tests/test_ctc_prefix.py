"""CTC prefix scores against brute-force sums over every alignment, padding invariance, and
joint CTC/attention beam search choosing the CTC-supported sequence over the attention one."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from st_jax import ctc_prefix, decode
from st_jax.data.tokenizer import EOS_ID
from test_decode import B_, C, TRAP, ToyModel, toy_batch

VOCAB, FRAMES = 5, 5   # ids 0 (blank) .. 4; in the brute-force tests id 1 plays EOS


def collapse(path):
  out, last = [], None
  for label in path:
    if label != last and label != 0:
      out.append(label)
    last = label
  return out


def brute_force(log_probs, prefix, whole=False):
  """log sum over all paths p(path) whose collapse starts with (or, whole=True, equals) prefix."""
  total = 0.0
  probs = np.exp(log_probs)
  for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
    out = collapse(path)
    if (out == prefix) if whole else (out[:len(prefix)] == prefix):
      total += np.prod(probs[np.arange(len(path)), path])
  return np.log(total)


def prefix_state(x, prefix):
  """State after feeding `prefix` one label at a time through extend/select (1 utterance)."""
  state = ctc_prefix.initial_state(x, 1)
  for label in prefix:
    candidates = jnp.asarray([[label]], jnp.int32)
    psi, r_new = ctc_prefix.extend(x, state, candidates, eos_id=-1, beam_size=1)
    state = ctc_prefix.select(state, psi, r_new, candidates, jnp.zeros(1, jnp.int32),
                              jnp.asarray([label], jnp.int32))
  return state


def random_log_probs(seed, frames=FRAMES, vocab=VOCAB):
  logits = np.random.default_rng(seed).normal(size=(frames, vocab)) * 2
  return np.asarray(jax.nn.log_softmax(logits, axis=-1), np.float64)


@pytest.mark.parametrize("prefix", [[], [3], [3, 3], [3, 4], [4, 3, 4]])
def test_prefix_scores_equal_brute_force(prefix):
  log_probs = random_log_probs(len(prefix))
  x = ctc_prefix.prepare(jnp.asarray(log_probs[None], jnp.float32), jnp.zeros((1, FRAMES)))
  state = prefix_state(x, prefix)
  candidates = jnp.asarray([[1, 3, 4]], jnp.int32)   # 1 plays EOS here: the whole-output score
  psi, _ = ctc_prefix.extend(x, state, candidates, eos_id=1, beam_size=1)
  expected = [brute_force(log_probs, prefix, whole=True),
              brute_force(log_probs, prefix + [3]), brute_force(log_probs, prefix + [4])]
  np.testing.assert_allclose(np.asarray(psi[0]), expected, atol=1e-4)
  if prefix:
    np.testing.assert_allclose(float(state.psi[0]), brute_force(log_probs, prefix), atol=1e-4)


def test_padded_frames_change_nothing():
  log_probs = random_log_probs(7)
  short = ctc_prefix.prepare(jnp.asarray(log_probs[None], jnp.float32), jnp.zeros((1, FRAMES)))
  padded_lp = np.concatenate([log_probs, random_log_probs(8, frames=3)])[None]
  padded = ctc_prefix.prepare(jnp.asarray(padded_lp, jnp.float32),
                              jnp.asarray([[0.0] * FRAMES + [1.0] * 3]))
  candidates = jnp.asarray([[1, 3, 4]], jnp.int32)
  for prefix in ([], [3], [4, 3]):
    want, _ = ctc_prefix.extend(short, prefix_state(short, prefix), candidates, 1, 1)
    got, _ = ctc_prefix.extend(padded, prefix_state(padded, prefix), candidates, 1, 1)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)


class ToyCTCModel(ToyModel):
  """ToyModel whose CTC head spells "c c": frames c, blank, c (+ one padded frame)."""

  def ctc_log_probs(self, params, encoded):
    frames = np.full((4, 6), 1e-4)
    frames[[0, 1, 2], [C, 0, C]] = 1.0
    frames[3, 0] = 1.0
    log_probs = np.log(frames / frames.sum(-1, keepdims=True))
    return jnp.broadcast_to(jnp.asarray(log_probs, jnp.float32),
                            (encoded.memory.shape[0],) + log_probs.shape)

  def encode(self, params, batch):
    encoded = super().encode(params, batch)
    return encoded._replace(paddings=jnp.asarray([[0.0, 0.0, 0.0, 1.0]] *
                                                 encoded.memory.shape[0]))


def test_joint_decoding_follows_ctc_when_weighted():
  model, batch = ToyCTCModel(), toy_batch(TRAP)
  attention_only, _ = decode.beam_search(model, None, batch, 2, 5, 0.0)
  np.testing.assert_array_equal(attention_only[0, 0, :2], [B_, EOS_ID])
  joint, scores = jax.jit(lambda b: decode.beam_search(model, None, b, 2, 5, 0.0,
                                                       ctc_weight=0.9))(batch)
  np.testing.assert_array_equal(joint[0, 0, :3], [C, C, EOS_ID])
  # Score = 0.1 log p_att(c c EOS) + 0.9 log p_ctc(c c): check against both models' numbers.
  att = np.log(1e-9) + np.log(0.5) + np.log(0.5)
  probs = np.full((3, 6), 1e-4)
  probs[[0, 1, 2], [C, 0, C]] = 1.0
  ctc = brute_force(np.log(probs / probs.sum(-1, keepdims=True)), [C, C], whole=True)
  np.testing.assert_allclose(float(scores[0, 0]), 0.1 * att + 0.9 * ctc, rtol=1e-4)


def test_decoder_refuses_ctc_weight_without_asr_ctc_head():
  from st_jax import config_lib
  from st_jax.errors import ConfigError
  from st_jax.models import build_model
  from test_decode import MICRO
  model = build_model(config_lib.load_config("st_conformer:tiny", MICRO))
  with pytest.raises(ConfigError, match="ctc_weight=0.3 needs an ASR model"):
    decode.Decoder(model, beam_size=2, ctc_weight=0.3)
