"""Speech recognition: conformer encoder with joint CTC / attention-decoder training.

  st-jax train --config configs/asr_conformer.py:small --workdir runs/asr_conformer_small

The decoder predicts the transcript (data.task 'asr' fills targets with source-language text);
the CTC head reads `transcripts`. Variants: tiny < 2M (CPU tests), small ~30M, base ~120M.
"""

from __future__ import annotations

from configs import common

VARIANTS = {
    # d_model, heads, encoder blocks/FFN, decoder layers/FFN, conv2d channels, vocab
    "tiny": dict(d=144, heads=4, enc=2, enc_ffn=288, dec=1, dec_ffn=288, channels=32,
                 kernel=15, vocab=1000),
    "small": dict(d=256, heads=4, enc=14, enc_ffn=1024, dec=4, dec_ffn=1024, channels=256,
                  kernel=31, vocab=5000),
    "base": dict(d=512, heads=8, enc=14, enc_ffn=2048, dec=4, dec_ffn=2048, channels=512,
                 kernel=31, vocab=5000),
}


def get_config(variant: str = "tiny"):
  size = common.select_variant("asr_conformer", VARIANTS, variant)
  model = common.conformer_encoder_decoder(
      size, ctc_weight=0.3, stochastic_depth=0.0 if variant == "tiny" else 0.1)
  return common.assemble(f"asr_conformer:{variant}", model,
                         data=dict(task="asr", vocab_size=size["vocab"], tgt_lang="en"),
                         train=dict(learning_rate=2e-3, schedule="inverse_sqrt",
                                    warmup_steps=100 if variant == "tiny" else 10000))
