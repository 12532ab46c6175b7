"""Text-to-text machine translation: token embedding + transformer encoder and decoder.

  st-jax train --config configs/mt_transformer.py:base --workdir runs/mt_base

Inputs are `source_tokens` (data.task 'mt'). Variants: tiny < 2M (CPU tests), small
(~transformer_iwslt_de_en), base (~transformer-base with a 32k joint vocabulary).
"""

from __future__ import annotations

from configs import common

VARIANTS = {
    # d_model, heads, encoder/decoder layers, FFN, vocab
    "tiny": dict(d=128, heads=4, layers=2, ffn=256, vocab=1000),
    "small": dict(d=512, heads=4, layers=6, ffn=1024, vocab=10000),
    "base": dict(d=512, heads=8, layers=6, ffn=2048, vocab=32000),
}


def text_model(size: dict):
  """config.model of token embedding + transformer encoder/decoder from a variant dict with
  keys d, heads, layers, ffn (also the response family's model)."""

  def stack(decoder):
    return common.transformer_stack(size["layers"], size["ffn"], decoder=decoder,
                                    scale_embedding=True, max_length=1024)

  return common.model_config(size["d"], size["heads"], common.embedding_frontend(),
                             stack(decoder=False), stack(decoder=True))


def get_config(variant: str = "tiny"):
  size = common.select_variant("mt_transformer", VARIANTS, variant)
  model = text_model(size)
  return common.assemble(f"mt_transformer:{variant}", model,
                         data=dict(task="mt", vocab_size=size["vocab"]),
                         train=dict(learning_rate=5e-4, schedule="inverse_sqrt",
                                    warmup_steps=100 if variant == "tiny" else 4000))
