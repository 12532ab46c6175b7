"""The FastSpeech 2-style acoustic model: length regulation, shapes, padding invariance,
synthesis controls, config errors, and overfitting a few utterances in the real train loop."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from st_jax import config_lib
from st_jax import train as train_lib
from st_jax.checkpointing import load_params
from st_jax.data import audio as audio_lib
from st_jax.data import pipeline as pipeline_lib
from st_jax.data import prosody
from st_jax.data.tts_features import TTSStats
from st_jax.errors import ConfigError
from st_jax.models import build_model, variance
from st_jax.models.tts import Controls, TTSModel, example_batch
from tts_helpers import MICRO_TTS, micro_tts_config, write_tts_corpus

LEARNED = ["data.tts_symbols=characters", "model.tts.durations=learned"]


def stats():
  mel = audio_lib.FeatureStats(10, np.full(80, -50.0), np.full(80, 260.0))   # mean -5, std 1
  return TTSStats(mel, pitch_mean=5.0, pitch_std=0.2, energy_mean=10.0, energy_std=4.0)


def model_and_params(*extra):
  config = config_lib.load_config("tts:tiny", MICRO_TTS + list(extra))
  model = TTSModel(config, stats())
  params = nn.unbox(jax.jit(model.init)(jax.random.key(0), example_batch(config)))
  return config, model, params


def jitted(model):
  """(params, batch) -> (teacher-forced outputs, eval metric sums), compiled (eager is slow)."""
  return jax.jit(lambda p, b: (model._apply(p, *model._init_args(b)),
                               model.loss_fn(p, b, None, train=False)[1]))


def test_length_regulator_repeats_each_symbol_by_its_duration():
  x = jnp.arange(1, 5, dtype=jnp.float32)[None, :, None] * jnp.ones((2, 4, 3))
  durations = jnp.asarray([[2, 0, 3, 1], [1, 1, 0, 0]])
  frames, paddings = variance.length_regulate(x, durations, 8)
  np.testing.assert_array_equal(frames[0, :, 0], [1, 1, 3, 3, 3, 4, 0, 0])   # 0: skipped
  np.testing.assert_array_equal(frames[1, :, 0], [1, 2, 0, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(paddings, [[0] * 6 + [1] * 2, [0] * 2 + [1] * 6])
  clipped, clipped_paddings = variance.length_regulate(x, durations, 4)    # total 6 > T = 4
  np.testing.assert_array_equal(clipped[0, :, 0], [1, 1, 3, 3])
  assert not clipped_paddings[0].any()
  alignment = variance.alignment_matrix(durations, 8)
  np.testing.assert_array_equal(alignment.sum(1), durations)           # frames per symbol
  np.testing.assert_array_equal(jnp.einsum("btu,bud->btd", alignment, x), frames)


def test_symbol_means_equal_the_numpy_reference():
  rng = np.random.default_rng(0)
  durations = np.asarray([[3, 0, 4, 2, 1], [5, 5, 0, 0, 0]], np.int32)
  values, weights = rng.normal(size=(2, 12)), (rng.random((2, 12)) > 0.4).astype(np.float32)
  got = variance.symbol_means(jnp.asarray(values, jnp.float32), jnp.asarray(weights),
                              variance.alignment_matrix(jnp.asarray(durations), 12))
  for b in range(2):
    np.testing.assert_allclose(got[b], prosody.average_per_symbol(values[b], weights[b],
                                                                  durations[b]), atol=1e-6)


def test_loss_is_finite_and_trains_every_module():
  extra = LEARNED   # every module, the aligner too (corpus durations: the train-loop test)
  config, model, params = model_and_params(*extra)
  batch = example_batch(config, batch_size=2, num_frames=48, target_length=6)
  batch["features"] = np.random.default_rng(0).normal(size=batch["features"].shape).astype(
      np.float32)
  (loss, metrics), grads = jax.jit(jax.value_and_grad(
      lambda p: model.loss_fn(p, batch, jax.random.key(1)), has_aux=True))(params)
  assert np.isfinite(float(loss)) and float(metrics["weight"]) == 2.0
  assert set(metrics) >= {"loss_sum", "mel_sum", "postnet_sum", "duration_sum", "pitch_sum",
                          "energy_sum", "align_sum"}
  np.testing.assert_allclose(float(loss), float(metrics["loss_sum"]) / 2, rtol=1e-6)
  expected = {"frontend", "encoder", "variance_adaptor", "decoder", "mel_head", "postnet"}
  assert set(grads) == expected | {"aligner"}
  for name, tree in grads.items():
    norm = math.sqrt(sum(float(jnp.sum(g ** 2)) for g in jax.tree_util.tree_leaves(tree)))
    assert norm > 0, name


@pytest.mark.parametrize("extra", [[], LEARNED], ids=["corpus", "learned"])
def test_padded_symbols_and_frames_do_not_change_unpadded_outputs(extra):
  config, model, params = model_and_params(*extra)
  rng = np.random.default_rng(1)
  short = example_batch(config, batch_size=1, num_frames=37, target_length=5)
  short["durations"] = np.asarray([[9, 4, 0, 12, 12]], np.int32)
  for key in ("features", "pitch", "energy"):
    short[key] = rng.normal(size=short[key].shape).astype(np.float32)
  short["voiced"] = (rng.random((1, 37)) > 0.3).astype(np.float32)
  short["symbols"] = np.asarray([[3, 7, 2, 9, 4]], np.int32)
  long = {}
  for key, value in short.items():
    if value.ndim >= 2 and value.shape[1] in (5, 37):
      size = 9 if value.shape[1] == 5 else 64
      pad = [(0, 0), (0, size - value.shape[1])] + [(0, 0)] * (value.ndim - 2)
      garbage = rng.normal(size=value.shape[:1] + (size,) + value.shape[2:]) * 50
      filled = np.pad(value, pad).astype(value.dtype)
      filled[:, value.shape[1]:] = garbage[:, value.shape[1]:].astype(value.dtype)
      long[key] = filled
    else:
      long[key] = value
  long["symbol_paddings"] = (np.arange(9) >= 5)[None].astype(np.float32)
  long["feature_paddings"] = (np.arange(64) >= 37)[None].astype(np.float32)
  long["durations"][:, 5:] = 0
  long["symbols"] = np.abs(long["symbols"]) % 50
  outputs, losses = zip(*[jitted(model)(params, b) for b in (short, long)])
  for key in ("mel", "postnet"):
    np.testing.assert_allclose(outputs[1][key][:, :37], outputs[0][key], atol=1e-4)
  for key in ("log_durations", "pitch", "energy", "durations", "pitch_target"):
    np.testing.assert_allclose(outputs[1][key][:, :5], outputs[0][key], atol=1e-4)
  for key in losses[0]:
    np.testing.assert_allclose(float(losses[1][key]), float(losses[0][key]), rtol=1e-4,
                               atol=1e-6)


def test_rate_pitch_and_energy_controls_move_predictions_as_documented():
  config, model, params = model_and_params()
  bias = params["variance_adaptor"]["duration_predictor"]["proj"]["bias"]
  params["variance_adaptor"]["duration_predictor"]["proj"]["bias"] = bias + math.log(9.0)
  symbols = np.asarray([[2, 5, 7, 3, 0, 0]], np.int32)
  paddings = (symbols == 0).astype(np.float32)
  ids = [np.zeros(1, np.int32)] * 3

  def predict(**controls):
    return [np.asarray(v) for v in model.predict_variances(
        params, symbols, paddings, *ids, Controls.make(1, **controls))]
  durations, pitch, energy = predict()
  assert durations[0, :4].min() >= 1 and not durations[0, 4:].any()
  fast, _, _ = predict(rate=2.0)                    # round(f / 2) vs round(f) / 2: within 1
  slow, _, _ = predict(rate=0.5)
  assert np.abs(fast - durations / 2).max() <= 1 and np.abs(slow - 2 * durations).max() <= 1
  assert fast.sum() < durations.sum() < slow.sum()
  _, higher, _ = predict(pitch_shift=12.0)          # one octave = ln 2 in log F0
  np.testing.assert_allclose(higher[0, :4] - pitch[0, :4], math.log(2.0) / 0.2, rtol=1e-5)
  _, _, louder = predict(energy_scale=2.0)          # e' = 2 e in Hz-free units
  np.testing.assert_allclose(10.0 + 4.0 * louder[0, :4], 2 * (10.0 + 4.0 * energy[0, :4]),
                             rtol=1e-5)
  mel, frame_paddings = model.synthesize(params, symbols, paddings, *ids)
  total = int(durations.sum())
  assert mel.shape == (1, -(-total // 64) * 64, 80) and (frame_paddings[0] == 0).sum() == total
  assert (mel[0, total:] == np.float32(np.log(audio_lib.LOG_FLOOR))).all()
  with pytest.raises(ConfigError, match="max_synthesis_frames"):
    model.synthesize(params, symbols, paddings, *ids, Controls.make(1, rate=0.001))
  with pytest.raises(ConfigError, match="rate must be > 0"):
    Controls.make(1, rate=0.0)


def test_config_errors_name_the_field():
  base = config_lib.load_config("tts:tiny", MICRO_TTS)
  with pytest.raises(ConfigError, match="durations=learned"):
    build_model(config_lib.load_config("tts:tiny", MICRO_TTS + ["data.tts_symbols=characters"]))
  with pytest.raises(ConfigError, match="model.tts.durations='viterbi'"):
    build_model(config_lib.load_config("tts:tiny", MICRO_TTS + ["model.tts.durations=viterbi"]))
  with pytest.raises(ConfigError, match="tts_stats.json"):   # build_model has no stats
    build_model(base).synthesize(None, np.ones((1, 4), np.int32), np.zeros((1, 4), np.float32),
                                 *[np.zeros(1, np.int32)] * 3)


def test_tiny_model_overfits_a_few_utterances_in_the_train_loop(tmp_path):
  """8 utterances (2 sentences x sad/happy x 2 speakers), corpus durations, 250 steps of the
  real loop (one batch of 8 over the 8 test devices).
  Measured: teacher-forced mel L1 after the postnet 0.12 (normalised units; 1.08 at init),
  before it 0.25."""
  corpus = tmp_path / "corpus"
  write_tts_corpus(corpus, num_sentences=2, emotions=("sad", "happy"), speakers=2)
  config = micro_tts_config(corpus, "train.num_steps=250", "data.batch_size=8",
                            "train.eval_every=0", "train.checkpoint_every=1000")
  summary = train_lib.train_and_evaluate(config, str(tmp_path / "work"))
  assert summary["step"] == 250 and np.isfinite(summary["dev_loss"])
  model = build_model(config)
  pipe = pipeline_lib.make_pipeline(config.data, "train", train=False)
  _, params = load_params(str(tmp_path / "work"))
  fresh = jax.jit(model.init)(jax.random.key(0), pipe.example_batch())
  batch = pipe.example_batch()
  run = jitted(model)
  before, after = run(fresh, batch)[1], run(params, batch)[1]
  rows = float(after["weight"])
  print({k: round(float(v) / rows, 4) for k, v in after.items()},
        "postnet L1 at init", float(before["postnet_sum"]) / rows)
  assert float(after["postnet_sum"]) / rows < 0.25 < 0.8 < float(before["postnet_sum"]) / rows
  assert float(after["duration_sum"]) / rows < 0.05
