"""HiFi-GAN vocoder: log-mel frames -> 16 kHz audio (st_jax/models/hifigan.py).

  st-jax train --config configs/vocoder.py:small --workdir runs/vocoder_small \\
      --config.data.corpus_dir=corpus

trains on random 64-frame (0.64 s) segments of the corpus's speech (data.task 'vocoder',
st_jax/data/segments.py); the dev loss is the mel L1 of the generated segments. The workdir is
then a vocoder: `st_jax.vocoders.load_vocoder("runs/vocoder_small")`.

Variants: tiny (< 2M parameters, CPU tests), small (HiFi-GAN V2 generator, 128 channels, with
the paper's full-size discriminators), base (HiFi-GAN V1 generator, 512 channels).
"""

from __future__ import annotations

import ml_collections

from configs import common

# HiFi-GAN's discriminator stacks (Kong et al. 2020, V1/V2/V3 share them).
FULL_MPD = (32, 128, 512, 1024, 1024)
FULL_MSD = dict(channels=(128, 128, 256, 512, 1024, 1024, 1024),
                kernels=(15, 41, 41, 41, 41, 41, 5), strides=(1, 2, 2, 4, 4, 1, 1),
                groups=(1, 4, 16, 16, 16, 16, 1))
V1_RESBLOCKS = dict(kernels=(3, 7, 11), dilations=((1, 3, 5), (1, 3, 5), (1, 3, 5)))

VARIANTS = {
    # generator channels, resblocks, MPD channels, MSD stack, segment frames, batch, steps, lr
    "tiny": dict(channels=32, resblocks=dict(kernels=(3,), dilations=((1, 3),)),
                 mpd=(4, 8, 16),
                 msd=dict(channels=(8, 16, 16, 16), kernels=(15, 21, 21, 5),
                          strides=(1, 4, 4, 1), groups=(1, 1, 1, 1)),   # grouped convs: slow on CPU
                 segment=32, batch=8, steps=300, lr=2e-3),
    "small": dict(channels=128, resblocks=V1_RESBLOCKS, mpd=FULL_MPD, msd=FULL_MSD, segment=64,
                  batch=16, steps=200_000, lr=2e-4),
    "base": dict(channels=512, resblocks=V1_RESBLOCKS, mpd=FULL_MPD, msd=FULL_MSD, segment=64,
                 batch=16, steps=500_000, lr=2e-4),
}


def generator(channels: int, resblocks: dict) -> ml_collections.ConfigDict:
  g = ml_collections.ConfigDict()
  g.channels = channels                 # C after conv_pre; halved by every upsampling stage
  g.upsample_rates = (5, 4, 4, 2)       # transposed-conv strides; product = hop (160 samples)
  g.upsample_kernels = (11, 8, 8, 4)    # their kernels (~2x the rate, k - u even)
  g.resblock_kernels = resblocks["kernels"]      # one ResBlock per kernel in each stage (MRF)
  g.resblock_dilations = resblocks["dilations"]  # dilations of each ResBlock's conv pairs
  return g


def period_discriminator(channels) -> ml_collections.ConfigDict:
  mpd = ml_collections.ConfigDict()
  mpd.periods = (2, 3, 5, 7, 11)        # one discriminator per period p (audio folded to p cols)
  mpd.channels = tuple(channels)        # conv stack (k=5, stride 3, the last stride 1)
  return mpd


def scale_discriminator(stack: dict) -> ml_collections.ConfigDict:
  msd = ml_collections.ConfigDict()
  msd.num_scales = 3                    # raw audio, x1/2 and x1/4 average-pooled
  msd.channels = stack["channels"]      # grouped conv stack of each scale discriminator
  msd.kernels = stack["kernels"]        # its kernel sizes
  msd.strides = stack["strides"]        # its strides
  msd.groups = stack["groups"]          # its channel groups (divide the channels)
  return msd


def get_config(variant: str = "tiny"):
  size = common.select_variant("vocoder", VARIANTS, variant)
  model = ml_collections.ConfigDict()
  model.generator = generator(size["channels"], size["resblocks"])
  model.mpd = period_discriminator(size["mpd"])
  model.msd = scale_discriminator(size["msd"])
  model.fm_weight = 2.0                 # w_fm of the feature-matching loss
  model.mel_weight = 45.0               # w_mel of the log-mel L1 (natural-log power mel)
  config = common.assemble(
      f"vocoder:{variant}", model,
      data=dict(task="vocoder", normalization="none", batch_size=size["batch"], num_buckets=1,
                spec_augment=False),
      # HiFi-GAN's AdamW(b1 0.8, b2 0.99) at 2e-4 without clipping; its per-epoch
      # ExponentialLR(0.999) over ~3000 epochs ends near 5% of the peak, which the cosine
      # schedule down to final_lr_fraction 0.05 over num_steps stands in for.
      train=dict(num_steps=size["steps"], learning_rate=size["lr"], adam_b1=0.8, adam_b2=0.99,
                 adam_eps=1e-8, weight_decay=0.01, grad_clip=0.0, schedule="cosine",
                 warmup_steps=1, final_lr_fraction=0.05, label_smoothing=0.0,
                 eval_every=1000 if variant != "tiny" else 100,
                 checkpoint_every=1000 if variant != "tiny" else 100))
  config.data.segment_frames = size["segment"]  # frames per training segment (x hop samples)
  return config
