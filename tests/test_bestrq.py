"""BEST-RQ pretraining: the frozen quantiser, span masks, masked-prediction accuracy rising on
the tone corpus, and fine-tuning an ASR model from the pretrained encoder."""

import jax
import jax.numpy as jnp
import numpy as np

from st_jax import config_lib, sharding
from st_jax.data import pipeline as pipeline_lib
from st_jax.models import bestrq, build_model
from st_jax.train_setup import StepCompiler, create_train_state, global_batch

PRETRAIN_MICRO = ["model.d_model=32", "model.num_heads=4", "model.encoder.num_layers=1",
                  "model.encoder.ffn_dim=64", "model.frontend.channels=8", "data.batch_size=8",
                  "data.num_buckets=1", "train.warmup_steps=2", "train.learning_rate=3e-3",
                  "data.vocab_size=128", "model.bestrq.codebook_size=32"]


def cfg(**overrides):
  from configs.pretrain_bestrq import bestrq as make
  return make(**overrides)


def test_quantiser_is_frozen_deterministic_and_in_range():
  features = jax.random.normal(jax.random.key(1), (2, 43, 80))
  paddings = jnp.zeros((2, 43)).at[1, 30:].set(1.0)
  labels, label_paddings = bestrq.quantise(features, paddings, cfg(codebook_size=64))
  assert labels.shape == (2, 10, 4) and label_paddings.shape == (2, 10)
  assert int(labels.min()) >= 0 and int(labels.max()) < 64
  np.testing.assert_array_equal(label_paddings[1], [0] * 7 + [1] * 3)   # group 7 holds frame 30
  again, _ = bestrq.quantise(features, paddings, cfg(codebook_size=64))
  np.testing.assert_array_equal(labels, again)
  other, _ = bestrq.quantise(features, paddings, cfg(codebook_size=64, seed=1))
  assert (np.asarray(other) != np.asarray(labels)).mean() > 0.5
  # A label depends on its own 4 frames only.
  changed = features.at[0, 8:12].multiply(-1.0)
  moved, _ = bestrq.quantise(changed, paddings, cfg(codebook_size=64))
  differs = np.asarray((moved != labels).any(-1))
  assert not differs[0, [0, 1, 3, 4]].any() and not differs[1].any()


def test_span_mask_covers_spans_and_never_padding():
  paddings = jnp.zeros((64, 400)).at[:, 300:].set(1.0)
  mask = np.asarray(bestrq.span_mask(jax.random.key(0), paddings, 0.02, 10))
  assert not mask[:, 300:].any()
  expected = 1 - (1 - 0.02) ** 10
  assert abs(mask[:, 10:290].mean() - expected) < 0.03
  runs = np.diff(np.concatenate([np.zeros((64, 1)), mask[:, :290], np.zeros((64, 1))], 1),
                 axis=1)
  starts, ends = np.nonzero(runs == 1), np.nonzero(runs == -1)
  lengths = ends[1] - starts[1]
  assert lengths.min() >= 10 or (ends[1][lengths < 10] >= 290).all()


def test_pretraining_raises_masked_prediction_accuracy(tone_corpus):
  config = config_lib.load_config("pretrain_bestrq:tiny", [*PRETRAIN_MICRO,
                                                           f"data.corpus_dir={tone_corpus}"])
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  model = build_model(config)
  pipe = pipeline_lib.make_pipeline(config.data, "train", train=True)
  rng = jax.random.PRNGKey(0)
  tx, state, shardings = create_train_state(model, config, mesh, pipe.example_batch(), rng)
  step = StepCompiler(model, tx, mesh, shardings)
  iterator = pipe.iterator()
  probe = next(pipe.iterator())

  def accuracy(params):
    _, metrics = jax.jit(lambda p, b: model.loss_fn(p, b, None, train=False))(params, probe)
    return float(metrics["correct"] / metrics["weight"]), float(metrics["weight"])
  before, weight = accuracy(state.params)
  assert weight > 0                                   # some frames are masked
  for _ in range(60):
    state, metrics = step(state, global_batch(next(iterator), mesh), rng)
  after, _ = accuracy(state.params)
  print(f"masked-prediction accuracy {before:.3f} -> {after:.3f}")
  chance = 1 / 32                                     # codebook_size=32
  assert after > max(2 * before, 2 * chance)          # measured: 0.028 -> 0.081


def test_pretrained_front_end_and_encoder_fit_asr_and_st_models():
  """train.init_from takes parameters with the same path and shape: every front-end and encoder
  parameter of pretrain_bestrq:V exists with the same shape in asr/st_conformer:V."""
  from flax import linen as nn
  from st_jax.models.model_api import example_batch
  from st_jax.optim import path_names

  def shapes(spec):
    config = config_lib.load_config(spec)
    model = build_model(config)
    params = nn.unbox(jax.eval_shape(model.init, jax.random.key(0), example_batch(config)))
    return {name: leaf.shape for name, leaf in zip(
        jax.tree_util.tree_leaves(path_names(params)), jax.tree_util.tree_leaves(params))
            if name.startswith(("frontend/", "encoder/"))}
  pretrained = shapes("pretrain_bestrq:tiny")
  assert len(pretrained) > 20
  assert shapes("asr_conformer:tiny") == pretrained
  assert shapes("st_conformer:tiny") == pretrained
