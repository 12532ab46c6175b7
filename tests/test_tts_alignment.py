"""Learned TTS alignment: monotonic alignment search against brute force and a numpy DP, the
forward-sum loss against a sum over every CTC path, the beta-binomial prior against scipy, and
padding invariance of the aligner."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from st_jax.models import aligner


def paddings(lengths, size):
  return (np.arange(size)[None, :] >= np.asarray(lengths)[:, None]).astype(np.float32)


def brute_force_path(lp):
  """Best monotonic path of lp [T, U] from (0, 0) to (T-1, U-1), by enumeration."""
  frames, symbols = lp.shape
  best, best_path = -np.inf, None
  for moves in itertools.combinations(range(1, frames), symbols - 1):   # frames where u += 1
    u = np.zeros(frames, int)
    for t in moves:
      u[t:] += 1
    score = lp[np.arange(frames), u].sum()
    if score > best:
      best, best_path = score, u
  return best_path


def numpy_mas(lp):
  frames, symbols = lp.shape
  q = np.full((frames, symbols), -np.inf)
  q[0, 0] = lp[0, 0]
  for t in range(1, frames):
    moved = np.concatenate([[-np.inf], q[t - 1, :-1]])
    q[t] = np.maximum(q[t - 1], moved) + lp[t]
  u, path = symbols - 1, np.zeros(frames, int)
  for t in range(frames - 1, -1, -1):
    path[t] = u
    if t and u and q[t - 1, u - 1] > q[t - 1, u]:
      u -= 1
  return path


def test_mas_equals_brute_force_and_a_numpy_dp_with_padding():
  rng = np.random.default_rng(0)
  frame_lengths, symbol_lengths = [7, 5, 6, 7], [3, 2, 4, 1]
  lp = jnp.asarray(rng.normal(size=(4, 9, 5)).astype(np.float32))   # 2 padded frames, 1 symbol
  durations, path = aligner.mas(lp, jnp.asarray(paddings(symbol_lengths, 5)),
                                jnp.asarray(paddings(frame_lengths, 9)))
  for b, (t_b, u_b) in enumerate(zip(frame_lengths, symbol_lengths)):
    expected = brute_force_path(np.asarray(lp[b, :t_b, :u_b]))
    np.testing.assert_array_equal(np.asarray(path[b, :t_b]).argmax(-1), expected)
    np.testing.assert_array_equal(np.asarray(durations[b, :u_b]),
                                  np.bincount(expected, minlength=u_b))
    assert not np.asarray(path[b, t_b:]).any() and not np.asarray(durations[b, u_b:]).any()
  big = rng.normal(size=(2, 60, 12)).astype(np.float32)
  _, path = aligner.mas(jnp.asarray(big), jnp.zeros((2, 12)), jnp.zeros((2, 60)))
  for b in range(2):
    np.testing.assert_array_equal(np.asarray(path[b]).argmax(-1), numpy_mas(big[b]))


def test_mas_path_is_monotonic_and_covers_every_frame_and_symbol():
  rng = np.random.default_rng(1)
  frame_lengths, symbol_lengths = [80, 40, 23], [20, 40, 9]
  lp = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(3, 80, 40)) * 3.0), axis=-1)
  durations, path = aligner.mas(lp, jnp.asarray(paddings(symbol_lengths, 40)),
                                jnp.asarray(paddings(frame_lengths, 80)))
  path, durations = np.asarray(path), np.asarray(durations)
  for b, (t_b, u_b) in enumerate(zip(frame_lengths, symbol_lengths)):
    np.testing.assert_array_equal(path[b, :t_b].sum(-1), 1)          # one symbol per frame
    steps = np.diff(path[b, :t_b].argmax(-1))
    assert set(steps.tolist()) <= {0, 1}                            # monotonic, no skips
    assert path[b, 0, 0] == 1 and path[b, t_b - 1, u_b - 1] == 1
    assert durations[b].sum() == t_b and (durations[b, :u_b] >= 1).all()


def ctc_brute_force(lp, blank_logit=-1.0):
  """-log sum over frame labelings in {blank, 1..U}^T that collapse to 1..U (without a blank:
  the monotonic paths through 1..U)."""
  frames, symbols = lp.shape
  logits = np.concatenate([np.full((frames, 1), blank_logit), lp], axis=1)
  log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
  total = 0.0
  for labels in itertools.product(range(symbols + 1), repeat=frames):
    collapsed = [k for i, k in enumerate(labels) if k and (i == 0 or labels[i - 1] != k)]
    if collapsed == list(range(1, symbols + 1)):
      total += np.exp(log_probs[np.arange(frames), labels].sum())
  return -np.log(total)


def test_forward_sum_loss_equals_the_sum_over_every_path():
  rng = np.random.default_rng(2)
  lp = rng.normal(size=(2, 6, 4)).astype(np.float32)
  symbol_lengths, frame_lengths = [3, 2], [6, 5]
  lp_masked = np.where(paddings(symbol_lengths, 4)[:, None, :] > 0, -1e9, lp)
  for blank in (-1.0, aligner.NO_BLANK):    # FastPitch's blank, and none (the default)
    loss = aligner.forward_sum_loss(jnp.asarray(lp_masked),
                                    jnp.asarray(paddings(symbol_lengths, 4)),
                                    jnp.asarray(paddings(frame_lengths, 6)), blank)
    for b in range(2):
      expected = ctc_brute_force(lp[b, :frame_lengths[b], :symbol_lengths[b]], blank)
      np.testing.assert_allclose(float(loss[b]), expected / symbol_lengths[b], rtol=1e-4)
  # no alignment when there are fewer frames than symbols: left out (0), not a huge number
  short = aligner.forward_sum_loss(jnp.zeros((1, 4, 6)), jnp.zeros((1, 6)),
                                   jnp.asarray(paddings([2], 4)))
  assert float(short[0]) == 0.0


def test_beta_binomial_prior_equals_scipy():
  prior = np.exp(np.asarray(aligner.beta_binomial_log_prior(
      jnp.asarray(paddings([5], 7)), jnp.asarray(paddings([12], 14)), scale=1.0)))[0]
  for t in range(12):
    expected = scipy.stats.betabinom(4, t + 1, 12 - t).pmf(np.arange(5))
    np.testing.assert_allclose(prior[t, :5], expected, rtol=1e-4, atol=1e-6)
  assert (prior[:, 5:] == 1.0).all() and (prior[12:] == 1.0).all()   # log prior 0 outside


@pytest.mark.parametrize("prior", [0.0, 1.0])
def test_aligner_ignores_padded_symbols_and_frames(prior):
  module = aligner.Aligner(dim=16, temperature=0.05, prior_scale=prior)
  rng = np.random.default_rng(3)
  emb, mel = rng.normal(size=(1, 6, 24)), rng.normal(size=(1, 30, 80))
  args = (jnp.asarray(emb[:, :4]), jnp.zeros((1, 4)), jnp.asarray(mel[:, :20]), jnp.zeros((1, 20)))
  params = module.init(jax.random.key(0), *args)
  short = module.apply(params, *args)
  garbage_emb = np.concatenate([emb[:, :4], 100 * rng.normal(size=(1, 2, 24))], 1)
  garbage_mel = np.concatenate([mel[:, :20], 100 * rng.normal(size=(1, 10, 80))], 1)
  long = module.apply(params, jnp.asarray(garbage_emb), jnp.asarray(paddings([4], 6)),
                      jnp.asarray(garbage_mel), jnp.asarray(paddings([20], 30)))
  np.testing.assert_allclose(np.asarray(long[0, :20, :4]), np.asarray(short[0]), atol=1e-4)
  assert (np.asarray(long[0, :, 4:]) <= -1e8).all()


def test_aligner_learns_the_corpus_timings(tmp_path):
  """Aligner + symbol embedding alone, trained on the forward-sum loss (Adam, 200 steps) over
  40 random-word utterances; MAS durations are compared with the corpus' phoneme timings
  (characters = phonemes one to one). Measured: mean boundary error 1.9 frames from the prior
  alone, 0.9 after training."""
  import copy
  import flax.linen as nn
  import optax
  from st_jax.data import pipeline as pipeline_lib
  from tts_helpers import micro_tts_config, write_tts_corpus
  write_tts_corpus(tmp_path, num_sentences=40, emotions=("neutral",), speakers=1,
                   random_words=True)
  config = micro_tts_config(tmp_path, "data.tts_symbols=characters",
                            "model.tts.durations=learned")
  batches = list(pipeline_lib.make_pipeline(config.data, "train", train=False).iterator())
  timed = copy.deepcopy(config.data)
  timed.tts_symbols = "phonemes"
  true = [b["durations"] for b in pipeline_lib.make_pipeline(timed, "train",
                                                              train=False).iterator()]

  class Model(nn.Module):
    @nn.compact
    def __call__(self, symbols, symbol_paddings, mel, frame_paddings):
      embeddings = nn.Embed(64, 32, embedding_init=nn.initializers.normal(1.0))(symbols)
      return aligner.Aligner(32)(embeddings, symbol_paddings, mel, frame_paddings)
  model = Model()
  inputs = [(b["symbols"], b["symbol_paddings"], b["features"], b["feature_paddings"])
            for b in batches]
  params = model.init(jax.random.key(0), *inputs[0])
  tx = optax.adam(1e-3)
  state = tx.init(params)

  @jax.jit
  def step(params, state, args):
    loss = lambda p: aligner.forward_sum_loss(model.apply(p, *args), args[1], args[3]).mean()
    grads = jax.grad(loss)(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  @jax.jit
  def durations(params, args):
    return aligner.mas(model.apply(params, *args), args[1], args[3])[0]

  def boundary_error(params):
    errors = []
    for args, target in zip(inputs, true):
      ends = np.cumsum(np.asarray(durations(params, args)), 1)
      errors.append(np.abs(ends - np.cumsum(target, 1))[args[1] < 0.5].mean())
    return float(np.mean(errors))
  before = boundary_error(params)
  for i in range(200):
    params, state = step(params, state, inputs[i % len(inputs)])
  after = boundary_error(params)
  print(f"boundary error {before:.2f} -> {after:.2f} frames")
  assert after < 0.75 * before and after < 1.5
