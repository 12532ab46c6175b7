"""Whisper (Radford et al., 2022) shapes, as in HF WhisperForConditionalGeneration: two GELU
conv1d front end, fixed sinusoidal encoder positions, learned decoder positions, pre-norm,
no bias on key projections, tied output projection.

  st-jax train --config configs/whisper.py:tiny --workdir runs/whisper_tiny \
      --config.train.init_from=<converted weights>

Variants tiny / base / small are the OpenAI shapes (multilingual vocabulary 51865); HF counts
its fixed encoder positions (1500 x D) as parameters, we do not. `mini` is a CPU test size.
"""

from __future__ import annotations

from configs import common

VARIANTS = {
    # d_model, heads, layers (encoder = decoder), vocab, encoder/decoder positions
    "mini": dict(d=64, heads=2, layers=2, vocab=1000, source_positions=1500,
                 target_positions=448),
    "tiny": dict(d=384, heads=6, layers=4, vocab=51865, source_positions=1500,
                 target_positions=448),
    "base": dict(d=512, heads=8, layers=6, vocab=51865, source_positions=1500,
                 target_positions=448),
    "small": dict(d=768, heads=12, layers=12, vocab=51865, source_positions=1500,
                  target_positions=448),
}


def get_config(variant: str = "tiny"):
  size = common.select_variant("whisper", VARIANTS, variant)
  encoder = common.transformer_stack(
      size["layers"], 4 * size["d"], decoder=False, activation="gelu", position="sinusoidal",
      max_length=size["source_positions"], k_bias=False)
  decoder = common.transformer_stack(
      size["layers"], 4 * size["d"], decoder=True, activation="gelu", position="learned",
      max_length=size["target_positions"], k_bias=False)
  model = common.model_config(size["d"], size["heads"], common.whisper_frontend(), encoder,
                              decoder, dropout=0.0)
  return common.assemble(f"whisper:{variant}", model,
                         data=dict(task="st", vocab_size=size["vocab"], max_frames=3000),
                         train=dict(learning_rate=1e-5, warmup_steps=500, label_smoothing=0.0))
