"""Response model of the spoken interaction pipeline: English question -> English answer text,
the mt_transformer model trained on the QA corpus of `st-jax data qa` (data.task 'mt' with
src_lang = tgt_lang = 'en': the target is each row's answer column, translation_en).

  st-jax data qa --out qa --size 20000
  st-jax train --config configs/response.py:tiny --workdir runs/response_tiny \\
      --config.data.corpus_dir=qa

Variants: tiny 1.18M (CPU), small 7.9M.
"""

from __future__ import annotations

from configs import common
from configs import mt_transformer

VARIANTS = {
    # d_model, heads, encoder/decoder layers, FFN, vocab (the QA tokenizer has < 1000 pieces)
    "tiny": dict(d=128, heads=4, layers=2, ffn=512, vocab=1000),
    "small": dict(d=256, heads=4, layers=4, ffn=1024, vocab=1000),
}


def get_config(variant: str = "tiny"):
  size = common.select_variant("response", VARIANTS, variant)
  return common.assemble(
      f"response:{variant}", mt_transformer.text_model(size),
      data=dict(task="mt", corpus_dir="qa", src_lang="en", tgt_lang="en",
                vocab_size=size["vocab"], batch_size=64, num_buckets=4),
      train=dict(learning_rate=1e-3, schedule="cosine", warmup_steps=200, num_steps=2000,
                 eval_every=500, checkpoint_every=500))
