"""Greedy/beam search: a toy Markov model with a known best sequence, the tiny conformer for
batching, rescoring and K=1 == greedy, compile counting, CTC best path and PAD after EOS."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from st_jax import config_lib, decode
from st_jax.data.tokenizer import BOS_ID, EOS_ID, PAD_ID
from st_jax.errors import ConfigError
from st_jax.models import build_model
from st_jax.models.model_api import Encoded, example_batch

A, B_, C = 3, 4, 5   # toy tokens after pad=0, bos=1, eos=2
MICRO = ["model.d_model=32", "model.num_heads=4", "model.encoder.num_layers=1",
         "model.encoder.ffn_dim=64", "model.decoder.num_layers=1", "model.decoder.ffn_dim=64",
         "model.frontend.channels=8", "data.vocab_size=128"]


class ToyModel:
  """A Markov chain per utterance: features [B, V, V] hold p(next | last token). The cache holds
  the table and a history of fed tokens [B, L], so beam search reorders a multi-leaf tree."""
  input_keys = ("features", "feature_paddings")

  def encode(self, params, batch):
    return Encoded(jnp.asarray(batch["features"]), jnp.asarray(batch["feature_paddings"]))

  def init_cache(self, params, encoded, max_length):
    batch_size = encoded.memory.shape[0]
    return {"table": jnp.log(encoded.memory + 1e-9),
            "history": jnp.zeros((batch_size, max_length), jnp.int32)}

  def decode_step(self, params, cache, tokens, position):
    history = cache["history"].at[:, position].set(tokens)
    logits = jnp.take_along_axis(cache["table"], tokens[:, None, None], axis=1)[:, 0]
    return logits, {**cache, "history": history}


def toy_table(rows: dict[int, dict[int, float]], vocab: int = 6) -> np.ndarray:
  table = np.zeros((vocab, vocab), np.float32)
  table[:, EOS_ID] = 1.0   # default: end
  for last, probs in rows.items():
    table[last] = 0.0
    for token, p in probs.items():
      table[last, token] = p
  return table


# Greedy takes a (0.6) then faces four 0.25 choices (argmax -> EOS, the lowest id): p = 0.15;
# the best sequence is b EOS: 0.4 * 0.95 = 0.38.
TRAP = toy_table({BOS_ID: {A: 0.6, B_: 0.4}, A: {EOS_ID: .25, A: .25, B_: .25, C: .25},
                  B_: {EOS_ID: 0.95, C: 0.05}, C: {EOS_ID: 0.5, C: 0.5}})
# Greedy runs a c c c c c to max_length 6 (p = 0.81 * 0.7^4 = 0.194, truncated); the most
# probable sequence is a c EOS (0.243).
LONG = toy_table({BOS_ID: {A: 0.9, B_: 0.1}, A: {C: 0.9, EOS_ID: 0.1}, B_: {EOS_ID: 0.5, C: 0.5},
                  C: {C: 0.7, EOS_ID: 0.3}})


def toy_batch(*tables):
  features = np.stack(tables)
  return {"features": features, "feature_paddings": np.zeros(features.shape[:2], np.float32)}


def test_beam_finds_best_sequence_greedy_misses():
  model, batch = ToyModel(), toy_batch(TRAP)
  tokens, scores = jax.jit(lambda b: decode.greedy_search(model, None, b, 5))(batch)
  np.testing.assert_array_equal(tokens, [[A, EOS_ID, PAD_ID, PAD_ID, PAD_ID]])
  np.testing.assert_allclose(scores, np.log([0.6 * 0.25]), atol=1e-5)
  tokens, scores = jax.jit(lambda b: decode.beam_search(model, None, b, 2, 5, 0.0))(batch)
  np.testing.assert_array_equal(tokens[0], [[B_, EOS_ID, 0, 0, 0], [A, EOS_ID, 0, 0, 0]])
  np.testing.assert_allclose(scores[0], np.log([0.4 * 0.95, 0.6 * 0.25]), atol=1e-5)


def test_tokens_after_eos_are_pad_and_rows_finish_independently():
  model, batch = ToyModel(), toy_batch(TRAP, LONG)
  tokens, scores = decode.greedy_search(model, None, batch, 6)
  np.testing.assert_array_equal(tokens, [[A, EOS_ID, 0, 0, 0, 0], [A, C, C, C, C, C]])
  np.testing.assert_allclose(scores, np.log([0.15, 0.9 * 0.9 * 0.7 ** 4]), atol=1e-5)
  tokens, scores = decode.beam_search(model, None, batch, 3, 6, length_penalty=0.6)
  for row in np.asarray(tokens).reshape(-1, 6):
    ends = np.flatnonzero(row == EOS_ID)
    if ends.size:
      assert (row[ends[0] + 1:] == PAD_ID).all() and (row[:ends[0]] != PAD_ID).all()
    else:   # truncated at max_length
      assert (row != PAD_ID).all()
  assert (np.diff(np.asarray(scores), axis=1) <= 0).all()   # best first
  assert not (np.asarray(tokens) == BOS_ID).any()


def test_length_penalty_prefers_longer_hypotheses():
  """lp(n) = ((5+n)/6)^alpha: alpha = 0 finds a c EOS (p = 0.243); alpha = 3 prefers the
  truncated a c c c c c (log 0.194 / (11/6)^3 = -0.27 > log 0.243 / (8/6)^3 = -0.60)."""
  model, batch = ToyModel(), toy_batch(LONG)
  tokens, scores = decode.beam_search(model, None, batch, 2, 6, length_penalty=0.0)
  np.testing.assert_array_equal(tokens[0, 0], [A, C, EOS_ID, 0, 0, 0])
  np.testing.assert_allclose(scores[0, 0], np.log(0.243), atol=1e-5)
  tokens, scores = decode.beam_search(model, None, batch, 2, 6, length_penalty=3.0)
  np.testing.assert_array_equal(tokens[0, 0], [A, C, C, C, C, C])
  for hypothesis, score in zip(np.asarray(tokens[0]), np.asarray(scores[0])):
    n = (hypothesis != PAD_ID).sum()
    np.testing.assert_allclose(score * ((5 + n) / 6) ** 3.0, _toy_log_prob(LONG, hypothesis),
                               atol=1e-4)


def _toy_log_prob(table, tokens):
  last, total = BOS_ID, 0.0
  for token in tokens:
    if token == PAD_ID:
      break
    total += np.log(table[last, token] + 1e-9) - np.log((table[last] + 1e-9).sum())
    last = token
  return total


def test_decoder_compiles_once_per_shape():
  decoder = decode.Decoder(ToyModel(), beam_size=2, length_penalty=0.0, max_length=5)
  batch = toy_batch(TRAP, LONG)
  first = decoder(None, batch)
  second = decoder(None, {**batch, "targets": np.zeros((2, 7), np.int32)})   # extra keys ignored
  assert decoder.trace_count == 1
  np.testing.assert_array_equal(first[0], second[0])
  assert first[0].shape == (2, 2, 5) and first[1].shape == (2, 2)
  decoder(None, toy_batch(TRAP))   # new batch bucket
  assert decoder.trace_count == 2
  greedy = decode.Decoder(ToyModel(), beam_size=1, max_length=5)
  tokens, scores = greedy(None, batch)
  assert tokens.shape == (2, 1, 5) and scores.shape == (2, 1)


def test_ctc_greedy_collapses_repeats_and_drops_blanks():
  best = np.array([[3, 3, 0, 3, 4, 4, 5, 5], [0, 0, 6, 0, 0, 0, 0, 0]])
  log_probs = np.log(np.full((2, 8, 7), 0.01))
  np.put_along_axis(log_probs, best[..., None], 0.0, axis=-1)
  paddings = np.zeros((2, 8), np.float32)
  paddings[0, 6:] = 1.0
  assert decode.ctc_greedy(log_probs, paddings) == [[3, 3, 4], [6]]
  assert decode.ctc_greedy(log_probs[:, :0], paddings[:, :0]) == [[], []]


def test_max_decode_length_and_errors():
  paddings = np.zeros((2, 100), np.float32)
  paddings[0, 40:] = 1.0
  paddings[1, 30:] = 1.0
  assert decode.max_decode_length(paddings, 0.25, 4, 64) == 16       # ceil(10) -> 16
  assert decode.max_decode_length(paddings, 0.25, 4, 12) == 12
  assert decode.max_decode_length(paddings, 0.01, 4, 64, multiple=1) == 4
  with pytest.raises(ConfigError):
    decode.max_decode_length(paddings, 0.0, 4, 64)
  with pytest.raises(ConfigError):
    decode.beam_search(ToyModel(), None, toy_batch(TRAP), 0, 5)
  with pytest.raises(ConfigError):
    decode.greedy_search(ToyModel(), None, toy_batch(TRAP), 0)
  with pytest.raises(ConfigError, match="lacks"):
    decode.Decoder(ToyModel(), max_length=4)(None, {"features": TRAP[None]})


@pytest.fixture(scope="module")
def tiny():
  """Tiny random conformer ST model, params and 3 padded utterances of 48/32/20 frames."""
  config = config_lib.load_config("st_conformer:tiny", MICRO)
  model = build_model(config)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), example_batch(config, 1, 48, 4))
  rng = np.random.default_rng(0)
  lengths = [48, 32, 20]
  features = rng.standard_normal((3, 48, config.data.n_mels)).astype(np.float32)
  paddings = (np.arange(48)[None, :] >= np.array(lengths)[:, None]).astype(np.float32)
  features[paddings > 0] = 7.0   # garbage in padded frames must not matter
  return model, params, {"features": features, "feature_paddings": paddings}


def test_batched_beam_equals_each_alone_and_rescores(tiny):
  model, params, batch = tiny
  decoder = decode.Decoder(model, beam_size=2, length_penalty=1.0, max_length=6)
  tokens, scores = decoder(params, batch)
  for b in range(3):
    alone = decoder(params, {key: value[b:b + 1] for key, value in batch.items()})
    np.testing.assert_array_equal(alone[0][0], tokens[b])
    np.testing.assert_allclose(alone[1][0], scores[b], rtol=1e-4, atol=1e-4)
  assert decoder.trace_count == 2   # B=3 once, B=1 once for the three utterances
  # Teacher-forced log p(y) of every hypothesis equals its beam score * lp(|y|): checks the
  # cache reordering by parent beam.
  flat = np.asarray(tokens).reshape(6, 6)
  lengths = (flat != PAD_ID).sum(-1)
  rescored = model.score(params, {
      "features": np.repeat(batch["features"], 2, 0),
      "feature_paddings": np.repeat(batch["feature_paddings"], 2, 0),
      "decoder_inputs": np.concatenate([np.full((6, 1), BOS_ID), flat[:, :-1]], 1),
      "targets": flat, "target_paddings": (flat == PAD_ID).astype(np.float32)})
  np.testing.assert_allclose(np.asarray(scores).reshape(-1) * ((5 + lengths) / 6.0),
                             rescored, rtol=1e-4, atol=1e-4)


def test_beam_of_one_equals_greedy(tiny):
  model, params, batch = tiny
  greedy = jax.jit(lambda p, b: decode.greedy_search(model, p, b, 6))(params, batch)
  beam = jax.jit(lambda p, b: decode.beam_search(model, p, b, 1, 6, 0.0))(params, batch)
  np.testing.assert_array_equal(beam[0][:, 0], greedy[0])
  np.testing.assert_allclose(beam[1][:, 0], greedy[1], rtol=1e-6)
