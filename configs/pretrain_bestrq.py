"""BEST-RQ masked speech pretraining of the conv2d front end + conformer encoder.

  st-jax train --config configs/pretrain_bestrq.py:tiny --workdir runs/bestrq_tiny

No labels are read (data.task 'pretrain'). The front end and encoder have the shapes of the
same variant of asr_conformer / st_conformer, so fine-tuning takes them over:

  st-jax train --config asr_conformer:tiny --workdir runs/asr_from_bestrq \\
      --config.train.init_from=runs/bestrq_tiny \\
      --config.train.init_include="('^frontend/', '^encoder/')"

Variants: tiny (encoder of asr_conformer:tiny, CPU tests), base (asr_conformer:base), and xl,
a ~1B-parameter encoder for pod-scale runs (see `st-jax plan`), e.g. on v5e-256:
  st-jax plan --config pretrain_bestrq:xl --topology v5e:16x16 --mesh data=16,fsdp=16
"""

from __future__ import annotations

import ml_collections

from configs import common

VARIANTS = {
    # d_model, heads, encoder blocks/FFN, conv2d channels, depthwise kernel
    "tiny": dict(d=144, heads=4, enc=2, enc_ffn=288, channels=32, kernel=15),
    "base": dict(d=512, heads=8, enc=14, enc_ffn=2048, channels=512, kernel=31),
    "xl": dict(d=1536, heads=16, enc=20, enc_ffn=6144, channels=512, kernel=31),
}


def bestrq(**overrides) -> ml_collections.ConfigDict:
  cfg = ml_collections.ConfigDict()
  cfg.stack = 4                       # frames per label = the front end's time subsampling
  cfg.num_codebooks = 4               # N independent quantisers / softmax heads
  cfg.codebook_size = 1024            # C codewords per codebook
  cfg.codebook_dim = 16               # d of the random projection
  cfg.mask_prob = 0.02                # probability an unpadded frame starts a masked span
  cfg.mask_span = 20                  # masked span length in frames (200 ms)
  cfg.noise_std = 0.1                 # masked frames are replaced by N(0, noise_std^2)
  cfg.seed = 0                        # the frozen quantiser (projection + codebooks)
  cfg.update(overrides)
  return cfg


def get_config(variant: str = "tiny"):
  size = common.select_variant("pretrain_bestrq", VARIANTS, variant)
  model = common.model_config(
      size["d"], size["heads"], common.conv2d_frontend(size["channels"], subsampling=4),
      common.conformer_encoder(size["enc"], size["enc_ffn"], size["kernel"],
                               0.0 if variant == "tiny" else 0.1))
  model.bestrq = bestrq(codebook_size=256 if variant == "tiny" else 8192)
  if variant == "xl":   # pod scale: one compiled block (nn.scan), recomputed in the backward
    model.encoder.scan_layers, model.encoder.remat = True, "full"
    model.dtype = "bfloat16"
  return common.assemble(f"pretrain_bestrq:{variant}", model,
                         data=dict(task="pretrain", spec_augment=False),
                         train=dict(learning_rate=2e-3, schedule="inverse_sqrt",
                                    label_smoothing=0.0,
                                    warmup_steps=100 if variant == "tiny" else 10000))
