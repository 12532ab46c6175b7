"""Utterance classification from speech (emotion by default; language ID or speaker by
setting model.classifier.label / num_classes): conformer encoder + pooling + linear layer.

  st-jax train --config configs/classifier.py:small --workdir runs/emotion_small

Variants: tiny < 2M (CPU tests), small ~10M.
"""

from __future__ import annotations

from configs import common

VARIANTS = {
    # d_model, heads, conformer blocks, FFN, conv2d channels, pooling
    "tiny": dict(d=96, heads=4, layers=2, ffn=192, channels=32, kernel=15, pooling="mean"),
    "small": dict(d=256, heads=4, layers=6, ffn=1024, channels=256, kernel=31,
                  pooling="attention"),
}


def get_config(variant: str = "tiny"):
  size = common.select_variant("classifier", VARIANTS, variant)
  model = common.model_config(
      size["d"], size["heads"], common.conv2d_frontend(size["channels"], subsampling=4),
      common.conformer_encoder(size["layers"], size["ffn"], size["kernel"]),
      classifier=common.classifier_head(num_classes=4, label="emotion",
                                        pooling=size["pooling"]))
  return common.assemble(f"classifier:{variant}", model, data=dict(task="classify"),
                         train=dict(learning_rate=1e-3, label_smoothing=0.0))
