"""End-to-end speech translation: conformer encoder, transformer decoder, source-language CTC.

  st-jax train --config configs/st_conformer.py:small --workdir runs/st_conformer_small

Variants (parameters): tiny < 2M (CPU tests), small ~30M, base ~120M, large ~600M+.

Variant `finetune` (tiny shape) starts from an ASR model of the same shape and trains ST with
the front end and encoder frozen:

  st-jax train --config asr_conformer:tiny --workdir runs/asr_conformer_tiny
  st-jax train --config st_conformer:finetune --workdir runs/st_finetune \
      [--config.train.init_from=runs/asr_conformer_tiny]
"""

from __future__ import annotations

from configs import common

VARIANTS = {
    # d_model, heads, encoder blocks/FFN, decoder layers/FFN, conv2d channels, vocab
    "tiny": dict(d=144, heads=4, enc=2, enc_ffn=288, dec=1, dec_ffn=288, channels=32,
                 kernel=15, vocab=1000),
    "small": dict(d=256, heads=4, enc=12, enc_ffn=1024, dec=6, dec_ffn=1024, channels=256,
                  kernel=31, vocab=8000),
    "base": dict(d=512, heads=8, enc=12, enc_ffn=2048, dec=6, dec_ffn=2048, channels=512,
                 kernel=31, vocab=10000),
    "large": dict(d=1024, heads=16, enc=24, enc_ffn=4096, dec=12, dec_ffn=4096, channels=1024,
                  kernel=31, vocab=32000),
}
VARIANTS["finetune"] = VARIANTS["tiny"]   # tiny shape, initialised from an ASR model


# The ASR model's parameters taken by `finetune` (same paths in asr_conformer): the CTC head
# predicts the source transcript in both tasks.
FINETUNE_TAKE = ("^frontend/", "^encoder/", "^ctc_head/")
FINETUNE_FREEZE = "^(frontend|encoder)/"


def get_config(variant: str = "tiny"):
  size = common.select_variant("st_conformer", VARIANTS, variant)
  finetune = variant == "finetune"
  shape = "tiny" if finetune else variant
  model = common.conformer_encoder_decoder(
      size, ctc_weight=0.3, stochastic_depth=0.0 if shape == "tiny" else 0.1)
  train = dict(learning_rate=2e-3, warmup_steps=4000 if shape != "tiny" else 100,
               schedule="inverse_sqrt")
  if finetune:
    train.update(init_from="runs/asr_conformer_tiny", init_include=FINETUNE_TAKE,
                 freeze=FINETUNE_FREEZE)
  return common.assemble(f"st_conformer:{variant}", model,
                         data=dict(task="st", vocab_size=size["vocab"]), train=train)
