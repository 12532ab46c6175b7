"""HiFi-GAN: generator lengths and padding, discriminator shapes, and the exact gradient
separation of the single GAN loss L = L_G + L_D."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from st_jax import config_lib
from st_jax.data import audio as audio_lib
from st_jax.errors import ConfigError
from st_jax.models import build_model, hifigan

FRAMES = 8
# Fewer discriminators than vocoder:tiny's 5 + 3 keep the compile times of this file short;
# the period folding is still tested with a length no period divides.
SMALLER = ["model.mpd.periods=(2, 3)", "model.msd.num_scales=2"]


@pytest.fixture(scope="module")
def setup():
  config = config_lib.load_config("vocoder:tiny", SMALLER)
  model = build_model(config)
  t = np.arange(FRAMES * 160) / 16000
  audio = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 250 * t)])
  paddings = np.zeros((2, FRAMES), np.float32)
  paddings[1, 6:] = 1.0
  audio[1, 6 * 160:] = 0.0
  batch = {"audio": jnp.asarray(audio, jnp.float32),
           "features": jnp.asarray(audio_lib.log_mel(audio, 16000)[:, :FRAMES]),
           "feature_paddings": jnp.asarray(paddings)}
  params = nn.unbox(jax.jit(model.init)(jax.random.key(0), batch))
  # Bigger random weights than HiFi-GAN's N(0, 0.01) init, so every loss term has gradients
  # well above float32 rounding.
  leaves, tree = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(jax.random.key(1), len(leaves))
  params = jax.tree_util.tree_unflatten(
      tree, [x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])
  return config, model, params, batch


def test_generator_output_is_hop_times_frames_and_ignores_padding(setup):
  _, model, params, batch = setup
  out = model.generate(params, batch["features"], batch["feature_paddings"])
  assert out.shape == (2, FRAMES * 160) and out.dtype == jnp.float32
  assert float(jnp.abs(out).max()) < 1.0 and float(jnp.abs(out[0]).max()) > 0.0
  assert np.all(np.asarray(out[1, 6 * 160:]) == 0.0)
  # Row 1 alone (6 frames, unpadded) gives the same samples; junk in padded frames changes
  # nothing.
  alone = model.generate(params, batch["features"][1:, :6], jnp.zeros((1, 6)))
  junk = batch["features"].at[1, 6:].set(5.0)
  np.testing.assert_allclose(alone[0], out[1, :6 * 160], atol=1e-5)
  np.testing.assert_allclose(model.generate(params, junk, batch["feature_paddings"]), out,
                             atol=1e-6)


def test_discriminator_score_and_feature_shapes(setup):
  config, model, params, _ = setup
  length = 1283   # not a multiple of 2 or 3
  x = jax.random.normal(jax.random.key(2), (3, length)) * 0.1
  scores, features = model._apply(params, x, method="discriminate")
  mpd, msd = config.model.mpd, config.model.msd
  assert len(scores) == len(features) == len(mpd.periods) + msd.num_scales == 4
  for p, score, maps in zip(mpd.periods, scores, features):
    rows = [math.ceil(length / p)]       # audio folded to [3 p, ceil(L / p), 1]
    for i in range(len(mpd.channels)):
      rows.append(math.ceil(rows[-1] / (3 if i < len(mpd.channels) - 1 else 1)))  # k=5, pad 2
    assert score.shape == (3, rows[-1] * p)
    assert [m.shape for m in maps] == [(3 * p, r, c) for r, c in zip(rows[1:], mpd.channels)] + [
        (3 * p, rows[-1], 1)]
  n = length
  for s, score, maps in zip(range(msd.num_scales), scores[2:], features[2:]):
    if s:
      n = n // 2 + 1                       # AvgPool(4, 2, pad 2)
    widths = [n]
    for stride in msd.strides:
      widths.append(math.ceil(widths[-1] / stride))
    assert score.shape == (3, widths[-1])
    assert [m.shape for m in maps] == [(3, w, c) for w, c in zip(widths[1:], msd.channels)] + [
        (3, widths[-1], 1)]


def test_one_loss_gives_each_network_its_own_gan_gradient(setup):
  """grad_G L == grad_G L_G with D fixed, grad_D L == grad_D L_D with the generated audio
  fixed: the two updates of alternating HiFi-GAN training, done simultaneously."""
  _, model, params, batch = setup
  audio, paddings = batch["audio"], batch["feature_paddings"]
  disc = lambda p, x: model._apply(p, x, method="discriminate")

  def generator_loss(g, d):       # reference: HiFi-GAN's generator step (D held fixed)
    p = dict(d, generator=g)
    fake = model.generate(p, batch["features"], paddings)
    real_scores, real_maps = disc(p, audio)
    fake_scores, fake_maps = disc(p, fake)
    mel_sum, weight = model.mel_l1_sums(fake, audio, paddings)
    return (hifigan.adversarial_loss(fake_scores) +
            2.0 * hifigan.feature_matching_loss(real_maps, fake_maps) + 45.0 * mel_sum / weight)

  def discriminator_loss(d, fake):   # reference: HiFi-GAN's discriminator step
    p = dict(d, generator=params["generator"])
    return hifigan.discriminator_loss(disc(p, audio)[0], disc(p, fake)[0])

  @jax.jit
  def gradients(params):
    others = {k: v for k, v in params.items() if k != "generator"}
    fake = model.generate(params, batch["features"], paddings)
    want_g = jax.grad(generator_loss)(params["generator"], others)
    want_d = jax.grad(discriminator_loss)(others, fake)
    (loss, metrics), got = jax.value_and_grad(lambda p: model.loss_fn(p, batch, None),
                                              has_aux=True)(params)
    expected = generator_loss(params["generator"], others) + discriminator_loss(others, fake)
    return loss, metrics, got, expected, dict(want_d, generator=want_g)
  loss, metrics, got, expected, want = gradients(params)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(metrics["weight"], 14.0)   # 8 + 6 valid frames
  for name in ("generator", "mpd", "msd"):
    for (path, g), w in zip(jax.tree_util.tree_leaves_with_path(got[name]),
                            jax.tree_util.tree_leaves(want[name])):
      scale = float(jnp.abs(w).max())
      assert scale > 0, (name, jax.tree_util.keystr(path))
      np.testing.assert_allclose(g, w, atol=1e-5 * scale + 1e-9, rtol=1e-4,
                                 err_msg=f"{name}{jax.tree_util.keystr(path)}")


def test_config_errors_name_the_field():
  config = config_lib.load_config("vocoder:tiny", ["model.generator.upsample_rates=(5, 4, 4)",
                                                   "model.generator.upsample_kernels=(11, 8, 8)"])
  with pytest.raises(ConfigError, match="upsample_rates=.*hop of 160"):
    build_model(config)
  config = config_lib.load_config("vocoder:tiny", ["model.msd.groups=(1, 3, 1, 1)"])
  with pytest.raises(ConfigError, match="model.msd.groups"):
    build_model(config)
