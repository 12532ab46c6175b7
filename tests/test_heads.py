"""Heads, losses and the model API (loss_fn / score / encode / init_cache / decode_step)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from st_jax import config_lib
from st_jax.errors import ConfigError
from st_jax.models import build_model, example_batch, heads
from test_layers import garbage_in_padding, init_and_apply, paddings_for, random_like


def test_label_smoothed_cross_entropy_sums():
  logits = np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32)
  targets = np.array([[1, 2, 3], [4, 0, 0]])
  paddings = np.array([[0, 0, 0], [0, 1, 1]], np.float32)
  sums = heads.cross_entropy_sums(logits, targets, paddings, label_smoothing=0.1)
  log_probs = np.asarray(jax.nn.log_softmax(logits))
  valid = [(0, 0), (0, 1), (0, 2), (1, 0)]
  nll = [-log_probs[b, s, targets[b, s]] for b, s in valid]
  smoothed = [0.9 * n - 0.1 * log_probs[b, s].mean() for n, (b, s) in zip(nll, valid)]
  np.testing.assert_allclose(sums["nll_sum"], sum(nll), rtol=1e-5)
  np.testing.assert_allclose(sums["loss_sum"], sum(smoothed), rtol=1e-5)
  assert sums["weight"] == 4
  assert sums["correct"] == sum(logits[b, s].argmax() == targets[b, s] for b, s in valid)
  with pytest.raises(ConfigError, match="label_smoothing"):
    heads.cross_entropy_sums(logits, targets, paddings, label_smoothing=1.5)


def test_ctc_loss_sums_skip_unalignable_utterances():
  frames, vocab = 6, 5
  labels = np.array([[3, 4, 0], [2, 2, 2]])                     # 2nd needs 3 + 2 blanks = 5
  label_paddings = np.array([[0, 0, 1], [0, 0, 0]], np.float32)
  logit_paddings = paddings_for([frames, 4], frames)            # ... but has only 4 frames
  alignment = np.array([0, 3, 3, 0, 4, 0])                      # blank 3 3 blank 4 blank
  logits = np.full((2, frames, vocab), -10.0, np.float32)
  logits[0, np.arange(frames), alignment] = 10.0
  ctc_loss_sums = jax.jit(heads.ctc_loss_sums)
  total, count = ctc_loss_sums(logits, logit_paddings, labels, label_paddings)
  assert count == 2 and float(total) < 1e-3                    # only the feasible utterance
  total_all, count_all = ctc_loss_sums(logits, np.zeros_like(logit_paddings), labels,
                                       label_paddings)
  direct = jax.jit(optax.ctc_loss)(logits, np.zeros_like(logit_paddings), labels, label_paddings)
  assert count_all == 5
  np.testing.assert_allclose(total_all, direct.sum(), rtol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_classifier_pooling_ignores_padding(pooling):
  x = np.random.default_rng(2).standard_normal((2, 7, 8)).astype(np.float32)
  paddings = paddings_for([7, 4], 7)
  head = heads.UtteranceClassifier(num_classes=3, pooling=pooling)
  variables, apply = init_and_apply(head, x, paddings)
  logits = apply(variables, x, paddings)
  assert logits.shape == (2, 3)
  np.testing.assert_allclose(apply(variables, garbage_in_padding(x, paddings), paddings), logits,
                             atol=1e-5)
  np.testing.assert_allclose(heads.masked_mean_pool(x, paddings)[1], x[1, :4].mean(0), atol=1e-6)
  with pytest.raises(ConfigError, match="pooling"):
    jax.eval_shape(heads.UtteranceClassifier(3, "max").init, jax.random.key(0), x, paddings)


def _batch(config, frames=40, target=6):
  rng = np.random.default_rng(3)
  batch = example_batch(config, batch_size=2, num_frames=frames, target_length=target)
  for key in ("decoder_inputs", "targets", "transcripts", "source_tokens"):
    if key in batch:
      batch[key] = rng.integers(4, 60, batch[key].shape).astype(np.int32)
  if "features" in batch:
    batch["features"] = rng.standard_normal(batch["features"].shape).astype(np.float32)
    batch["feature_paddings"] = paddings_for([frames, 30], frames)
  batch["target_paddings"] = paddings_for([target, 4], target)
  batch["transcript_paddings"] = paddings_for([target, 3], target)
  if "source_paddings" in batch:
    batch["source_paddings"] = paddings_for([target, 3], target)
  return batch


def _model(spec, *overrides):
  config = config_lib.load_config(spec, overrides)
  model = build_model(config)
  batch = _batch(config)
  params = random_like(jax.eval_shape(model.init, jax.random.key(0), batch))
  return model, batch, params


def test_speech_translator_joint_loss_score_and_cached_decoding():
  model, batch, params = _model("st_conformer:tiny", "model.encoder.num_layers=1")

  def forward(p, b):   # one compiled program for the three full-sequence calls
    return model.loss_fn(p, b, None, train=False), model.score(p, b), model.encode(p, b)
  (loss, metrics), score, encoded = jax.jit(forward)(params, batch)
  attention = metrics["loss_sum"] / metrics["weight"]
  ctc = metrics["ctc_loss_sum"] / metrics["ctc_weight"]
  assert metrics["weight"] == 10 and metrics["ctc_weight"] == 9
  np.testing.assert_allclose(loss, 0.7 * attention + 0.3 * ctc, rtol=1e-5)
  np.testing.assert_allclose(score.sum(), -metrics["nll_sum"], rtol=1e-5)
  # score = sum of the cached decoder's log-probabilities of the targets.
  cache = model.init_cache(params, encoded, max_length=8)
  step = jax.jit(model.decode_step)
  total = np.zeros(2)
  for s in range(batch["targets"].shape[1]):
    logits, cache = step(params, cache, batch["decoder_inputs"][:, s], s)
    log_probs = np.asarray(jax.nn.log_softmax(logits))
    total += log_probs[[0, 1], batch["targets"][:, s]] * (1 - batch["target_paddings"][:, s])
  np.testing.assert_allclose(score, total, atol=1e-4)
  assert model.ctc_log_probs(params, encoded).shape[:2] == encoded.memory.shape[:2]


def test_text_translator_gradients_and_source_padding():
  model, batch, params = _model("mt_transformer:tiny", "train.label_smoothing=0.0",
                                "model.encoder.num_layers=1", "model.decoder.num_layers=1")
  grad_fn = jax.jit(jax.value_and_grad(lambda p, b: model.loss_fn(p, b, None, train=False),
                                       has_aux=True))
  (loss, metrics), grads = grad_fn(params, batch)
  np.testing.assert_allclose(loss, metrics["nll_sum"] / metrics["weight"], rtol=1e-6)
  norms = [float(jnp.abs(g).sum()) for g in jax.tree_util.tree_leaves(grads)]
  assert all(np.isfinite(norms)) and sum(n > 0 for n in norms) > 0.9 * len(norms)
  garbage = dict(batch, source_tokens=np.where(batch["source_paddings"] > 0, 7,
                                               batch["source_tokens"]).astype(np.int32))
  np.testing.assert_allclose(grad_fn(params, garbage)[0][0], loss, rtol=1e-6)


def test_classifier_ignores_unknown_labels():
  model, batch, params = _model("classifier:tiny")
  batch["emotion"] = np.array([2, -1], np.int32)

  def forward(p, b):
    return model.loss_fn(p, b, None, train=False), model.predict(p, b), model.score(p, b)
  (loss, metrics), log_probs, score = jax.jit(forward)(params, batch)
  assert metrics["weight"] == 1
  np.testing.assert_allclose(loss, -log_probs[0, 2], rtol=1e-5)
  np.testing.assert_allclose(score, [log_probs[0, 2], 0.0], rtol=1e-5)


def test_real_init_returns_logically_partitioned_params():
  model, batch, _ = _model("mt_transformer:tiny", "model.encoder.num_layers=1",
                          "model.decoder.num_layers=1")
  params = jax.jit(model.init)(jax.random.key(0, impl="rbg"), batch)
  leaves = jax.tree_util.tree_leaves(params, is_leaf=lambda x: isinstance(x, nn.Partitioned))
  assert leaves and all(isinstance(leaf, nn.Partitioned) for leaf in leaves)
  specs = model.logical_axes(batch)
  assert specs["decoder"]["embed_tokens"]["embedding"] == jax.sharding.PartitionSpec(
      "vocab", "embed")
  assert specs["encoder"]["layers_0"]["ffn"]["fc1"]["kernel"] == jax.sharding.PartitionSpec(
      "embed", "mlp")
