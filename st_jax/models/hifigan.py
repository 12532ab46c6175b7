"""HiFi-GAN (Kong, Kim & Bae 2020): generator, multi-period and multi-scale discriminators.

Shapes: B batch, T mel frames, F mel bins, H = prod(upsample_rates) samples per frame (the
hop), L = T * H samples, C channels, p a period, L_p = ceil(L / p).

Generator  log-mel [B, T, F] + paddings [B, T] -> audio [B, T * H]::

  h   = conv_pre(x)                                        Conv1d k=7, F -> C
  for stage i, rate u_i (kernel k_i):                      C_i = C / 2^(i+1)
    h = ConvTranspose_{k_i, stride u_i}(lrelu_0.1(h))      [B, T u_1..u_i, C_i], SAME
    h = (1 / R) sum_r ResBlock_r(h)                        multi-receptive-field fusion
  y   = tanh(conv_post(lrelu_0.01(h)))                     Conv1d k=7, C_last -> 1
  ResBlock (kernel k, dilations d_1..d_J):  h <- h + conv_{k,1}(lrelu(conv_{k,d_j}(lrelu(h))))

Every conv input is zeroed at padded positions (frame paddings repeated to each rate), so an
utterance's audio does not depend on how much padding its batch adds, and padded frames give
zero samples.

Multi-period discriminator: for each p in (2, 3, 5, 7, 11), audio reflect-padded to p L_p is
folded to [B, L_p, p] and each of the p columns goes through the same stack of Conv1d
(k=5, stride 3; the last stride 1) + lrelu_0.1 and conv_post (k=3) -- the paper's Conv2d
with (k, 1) kernels. Multi-scale discriminator: 3 ScaleDiscriminators (grouped strided Conv1d
stacks) on the audio, on AvgPool_{4,2}(audio) and on AvgPool_{4,2}^2(audio). Each
discriminator k returns its scores D_k(x) and its feature maps D_k^l(x) (every layer after its
activation). Weight norm and the first scale's spectral norm of the paper are left out
(Adam's updates do not depend on the scale of the gradient); the losses are in vocoder_api.py.
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from st_jax.data import audio as audio_lib
from st_jax.errors import ConfigError
from st_jax.models.layers import constrain, mask_padded, partitioned
from st_jax.models.model_api import _Model

GENERATOR_INIT = nn.initializers.normal(0.01)   # HiFi-GAN's init_weights for the generator
ACTIVATION_NAMES = ("batch", "length", "conv")


def _conv(features: int, kernel: int, stride: int = 1, dilation: int = 1, groups: int = 1,
          init=nn.initializers.lecun_normal(), name: str | None = None) -> nn.Conv:
  """Conv1d with PyTorch's symmetric padding dilation (k - 1) / 2 (odd k), kernel
  [k, C_in / groups, C_out] named (None, None, 'conv')."""
  pad = dilation * (kernel - 1) // 2
  return nn.Conv(features, (kernel,), strides=(stride,), padding=[(pad, pad)],
                 kernel_dilation=(dilation,), feature_group_count=groups,
                 kernel_init=partitioned(init, (None, None, "conv")),
                 bias_init=partitioned(nn.initializers.zeros, ("conv",)), name=name)


def leaky_relu(x: jax.Array, slope: float = 0.1) -> jax.Array:
  return jnp.where(x >= 0, x, slope * x)


class ResBlock(nn.Module):
  """HiFi-GAN ResBlock1: x [B, L, C], paddings [B, L] -> [B, L, C] (module doc)."""
  kernel: int
  dilations: Sequence[int]

  @nn.compact
  def __call__(self, x: jax.Array, paddings: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    for j, dilation in enumerate(self.dilations):
      h = _conv(channels, self.kernel, dilation=dilation, init=GENERATOR_INIT,
                name=f"convs1_{j}")(leaky_relu(x))
      h = _conv(channels, self.kernel, init=GENERATOR_INIT,
                name=f"convs2_{j}")(leaky_relu(mask_padded(h, paddings)))
      x = x + mask_padded(h, paddings)
    return constrain(x, ACTIVATION_NAMES)


class Generator(nn.Module):
  """log-mel [B, T, F], paddings [B, T] -> audio [B, T * prod(upsample_rates)] in (-1, 1)."""
  channels: int
  upsample_rates: Sequence[int]
  upsample_kernels: Sequence[int]
  resblock_kernels: Sequence[int]
  resblock_dilations: Sequence[Sequence[int]]

  @nn.compact
  def __call__(self, log_mel: jax.Array, paddings: jax.Array) -> jax.Array:
    h = _conv(self.channels, 7, init=GENERATOR_INIT, name="conv_pre")(
        mask_padded(log_mel.astype(jnp.float32), paddings))
    h = mask_padded(h, paddings)
    for i, (rate, kernel) in enumerate(zip(self.upsample_rates, self.upsample_kernels)):
      length = h.shape[1] * rate
      h = nn.ConvTranspose(self.channels // 2 ** (i + 1), (kernel,), strides=(rate,),
                           padding="SAME",
                           kernel_init=partitioned(GENERATOR_INIT, (None, None, "conv")),
                           bias_init=partitioned(nn.initializers.zeros, ("conv",)),
                           name=f"ups_{i}")(leaky_relu(h))
      assert h.shape[1] == length, (h.shape, length)
      paddings = jnp.repeat(paddings, rate, axis=1)
      h = mask_padded(h, paddings)
      h = sum(ResBlock(k, tuple(d), name=f"resblocks_{i}_{j}")(h, paddings)
              for j, (k, d) in enumerate(zip(self.resblock_kernels,
                                             self.resblock_dilations))) / len(
                                                 self.resblock_kernels)
      h = constrain(h, ACTIVATION_NAMES)
    y = _conv(1, 7, init=GENERATOR_INIT, name="conv_post")(leaky_relu(h, 0.01))
    return mask_padded(jnp.tanh(y[..., 0]), paddings)


class PeriodDiscriminator(nn.Module):
  """audio [B, L] -> (scores [B, L'' p], feature maps [B p, L', C_l] per layer)."""
  period: int
  channels: Sequence[int]

  @nn.compact
  def __call__(self, audio: jax.Array):
    batch, length = audio.shape
    p = self.period
    if length % p:
      audio = jnp.pad(audio, ((0, 0), (0, p - length % p)), mode="reflect")
    h = audio.reshape(batch, -1, p).transpose(0, 2, 1).reshape(batch * p, -1, 1)
    features = []
    for i, c in enumerate(self.channels):
      stride = 3 if i < len(self.channels) - 1 else 1
      h = leaky_relu(_conv(c, 5, stride, name=f"convs_{i}")(h))
      features.append(h)
    h = _conv(1, 3, name="conv_post")(h)
    features.append(h)
    return h.reshape(batch, -1), features


class ScaleDiscriminator(nn.Module):
  """audio [B, L] -> (scores [B, L'], feature maps [B, L_l, C_l] per layer)."""
  channels: Sequence[int]
  kernels: Sequence[int]
  strides: Sequence[int]
  groups: Sequence[int]

  @nn.compact
  def __call__(self, audio: jax.Array):
    h = audio[..., None]
    features = []
    for i, (c, k, s, g) in enumerate(zip(self.channels, self.kernels, self.strides,
                                         self.groups)):
      h = leaky_relu(_conv(c, k, s, groups=g, name=f"convs_{i}")(h))
      features.append(h)
    h = _conv(1, 3, name="conv_post")(h)
    features.append(h)
    return h[..., 0], features


class MultiPeriodDiscriminator(nn.Module):
  """audio [B, L] -> ([scores per period], [feature maps per period])."""
  periods: Sequence[int]
  channels: Sequence[int]

  @nn.compact
  def __call__(self, audio: jax.Array):
    outputs = [PeriodDiscriminator(p, tuple(self.channels), name=f"period_{p}")(audio)
               for p in self.periods]
    return [o[0] for o in outputs], [o[1] for o in outputs]


class MultiScaleDiscriminator(nn.Module):
  """audio [B, L] -> ([scores per scale], [feature maps per scale]); scale s sees the audio
  average-pooled s times (window 4, stride 2, zero padding 2 counted, as PyTorch).
  ``stack`` = (channels, kernels, strides, groups) of every ScaleDiscriminator."""
  num_scales: int
  stack: tuple

  @nn.compact
  def __call__(self, audio: jax.Array):
    scores, features = [], []
    x = audio
    for s in range(self.num_scales):
      if s:
        x = nn.avg_pool(x[..., None], (4,), (2,), padding=[(2, 2)],
                        count_include_pad=True)[..., 0]
      score, maps = ScaleDiscriminator(*self.stack, name=f"scale_{s}")(x)
      scores.append(score)
      features.append(maps)
    return scores, features


class HifiGan(nn.Module):
  """Generator + both discriminators; parameters {generator, mpd, msd}.

  ``__call__`` (init only) runs all three; training and inference use ``generate`` and
  ``discriminate``.
  """
  model: ml_collections.FrozenConfigDict

  def setup(self):
    g, mpd, msd = self.model.generator, self.model.mpd, self.model.msd
    self.generator = Generator(g.channels, tuple(g.upsample_rates), tuple(g.upsample_kernels),
                               tuple(g.resblock_kernels),
                               tuple(tuple(d) for d in g.resblock_dilations))
    self.mpd = MultiPeriodDiscriminator(tuple(mpd.periods), tuple(mpd.channels))
    self.msd = MultiScaleDiscriminator(msd.num_scales, tuple(
        tuple(msd[k]) for k in ("channels", "kernels", "strides", "groups")))

  def generate(self, log_mel: jax.Array, paddings: jax.Array) -> jax.Array:
    return self.generator(log_mel, paddings)

  def discriminate(self, audio: jax.Array):
    """audio [B, L] -> (scores, feature maps): lists over the 5 + 3 discriminators."""
    mpd_scores, mpd_features = self.mpd(audio)
    msd_scores, msd_features = self.msd(audio)
    return mpd_scores + msd_scores, mpd_features + msd_features

  def __call__(self, log_mel: jax.Array, paddings: jax.Array):
    return self.discriminate(self.generate(log_mel, paddings))


def discriminator_loss(real_scores, fake_scores) -> jax.Array:
  """L_D = sum_k mean (D_k(y) - 1)^2 + mean D_k(yh)^2."""
  return sum(jnp.mean((r - 1.0) ** 2) + jnp.mean(f ** 2)
             for r, f in zip(real_scores, fake_scores))


def adversarial_loss(fake_scores) -> jax.Array:
  """L_adv = sum_k mean (D_k(yh) - 1)^2."""
  return sum(jnp.mean((f - 1.0) ** 2) for f in fake_scores)


def feature_matching_loss(real_features, fake_features) -> jax.Array:
  """L_fm = sum_k sum_l mean |D_k^l(y) - D_k^l(yh)|."""
  return sum(jnp.mean(jnp.abs(r - f)) for real, fake in zip(real_features, fake_features)
             for r, f in zip(real, fake))


def _split_rows(scores, features, batch: int):
  """Outputs of D on [y; yh] -> (real scores, generated scores, real feature maps). A period
  discriminator's maps have p rows per utterance (audio folded to [B p, L_p, 1])."""
  real = [s[:batch] for s in scores]
  fake = [s[batch:] for s in scores]
  real_features = [[f[:f.shape[0] // 2] for f in maps] for maps in features]
  return real, fake, real_features


class VocoderModel(_Model):
  """Model API of HiFi-GAN training (data.task 'vocoder'): init, loss_fn, generate.

  Batch (st_jax/data/segments.py): audio [B, S H], features [B, S, F] (raw log-mel),
  feature_paddings [B, S]. Metrics: loss_sum = sum over valid frames of the per-frame mel L1
  (so the dev loss is L_mel), weight = valid frames, and disc_sum / adv_sum / fm_sum = L_D /
  L_adv / L_fm times the batch's weight (batch-weighted means after dividing by weight).
  """

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config, HifiGan(ml_collections.FrozenConfigDict(config.model)))
    data, g, msd = config.data, config.model.generator, config.model.msd
    _, self.hop, _ = audio_lib.stft_sizes(data.sample_rate, data.win_ms, data.hop_ms)
    rates = tuple(g.upsample_rates)
    if math.prod(rates) != self.hop or len(g.upsample_kernels) != len(rates):
      raise ConfigError(f"model.generator.upsample_rates={rates} must multiply to the hop of "
                        f"{self.hop} samples (data.hop_ms={data.hop_ms} at "
                        f"{data.sample_rate} Hz), one upsample_kernels entry each")
    if g.channels % 2 ** len(rates) or any(
        c % groups for c, groups in zip(msd.channels, msd.groups)):
      raise ConfigError(f"model.generator.channels={g.channels} must be divisible by "
                        f"2^{len(rates)} and model.msd.channels {tuple(msd.channels)} by "
                        f"model.msd.groups {tuple(msd.groups)}")
    self.front_end = dict(sample_rate=data.sample_rate, n_mels=data.n_mels, win_ms=data.win_ms,
                          hop_ms=data.hop_ms)
    self.fm_weight = float(config.model.fm_weight)
    self.mel_weight = float(config.model.mel_weight)

  def init(self, rng: jax.Array, batch: dict):
    """Boxed parameters. Their shapes do not depend on the batch, so a 1 x 4-frame slice of it
    is enough (and keeps the init pass through the discriminators cheap)."""
    return self.module.init({"params": rng}, batch["features"][:1, :4],
                            batch["feature_paddings"][:1, :4])["params"]

  def generate(self, params, log_mel: jax.Array, paddings: jax.Array) -> jax.Array:
    """log-mel [B, T, F] + paddings [B, T] -> audio [B, T * H] (zeros on padded frames)."""
    return self._apply(params, log_mel, paddings, method="generate")

  def mel_l1_sums(self, generated: jax.Array, audio: jax.Array, paddings: jax.Array):
    """(sum over valid frames of mean_m |log_mel(y) - log_mel(yh)|, valid frames)."""
    frames = paddings.shape[1]
    mel = lambda x: audio_lib.log_mel(x, xp=jnp, **self.front_end)[:, :frames]
    per_frame = jnp.mean(jnp.abs(mel(audio) - mel(generated)), axis=-1)
    valid = 1.0 - paddings
    return jnp.sum(per_frame * valid), jnp.sum(valid)

  def loss_fn(self, params, batch: dict, rng: jax.Array | None, train: bool = True):
    """-> (L = L_G + L_D, metric sums); no randomness (``rng``, ``train`` unused)."""
    del rng, train
    audio, paddings = batch["audio"], batch["feature_paddings"]
    generated = self.generate(params, batch["features"], paddings)
    frozen = dict(params, mpd=jax.lax.stop_gradient(params["mpd"]),
                  msd=jax.lax.stop_gradient(params["msd"]))
    discriminate = lambda p, x: self._apply(p, x, method="discriminate")
    # theta_D sees [y; sg(yh)] in one pass (rows 0..B-1 real, B..2B-1 generated)
    scores, features = discriminate(params, jnp.concatenate(
        [audio, jax.lax.stop_gradient(generated)], axis=0))
    real_scores, fake_scores, real_features = _split_rows(scores, features, audio.shape[0])
    g_scores, g_features = discriminate(frozen, generated)
    disc = discriminator_loss(real_scores, fake_scores)
    adv = adversarial_loss(g_scores)
    fm = feature_matching_loss(jax.lax.stop_gradient(real_features), g_features)
    mel_sum, weight = self.mel_l1_sums(generated, audio, paddings)
    mel = mel_sum / jnp.maximum(weight, 1.0)
    loss = adv + self.fm_weight * fm + self.mel_weight * mel + disc
    metrics = {"loss_sum": mel_sum, "weight": weight, "disc_sum": disc * weight,
               "adv_sum": adv * weight, "fm_sum": fm * weight}
    return loss, metrics
