"""fairseq S2T transformer (HF Speech2Text): conv1d subsampler, sinusoidal positions starting
at padding_idx + 1, sqrt(D)-scaled embeddings, pre-norm layers, tied output projection.

  st-jax train --config configs/s2t_transformer.py:small --workdir runs/s2t_small

Variant `small` is exactly fairseq `s2t_transformer_s` with an 8000-token vocabulary
(HF Speech2Text parameter count 29,024,256); `tiny` is the same shape, < 2M, for CPU tests.
"""

from __future__ import annotations

from configs import common

VARIANTS = {
    # d_model, heads, encoder/decoder layers, FFN, conv channels, vocab
    "tiny": dict(d=64, heads=4, enc=2, dec=2, ffn=256, channels=256, vocab=1000),
    "small": dict(d=256, heads=4, enc=12, dec=6, ffn=2048, channels=1024, vocab=8000),
}


def get_config(variant: str = "small"):
  size = common.select_variant("s2t_transformer", VARIANTS, variant)

  def stack(layers, decoder, max_length):
    return common.transformer_stack(layers, size["ffn"], decoder=decoder, activation="relu",
                                    position="sinusoidal", position_offset=2,
                                    max_length=max_length, scale_embedding=True)

  model = common.model_config(
      size["d"], size["heads"], common.conv1d_frontend(size["channels"], (5, 5)),
      stack(size["enc"], False, 6000), stack(size["dec"], True, 1024),
      dropout=0.1, attention_dropout=0.1, activation_dropout=0.1)
  return common.assemble(f"s2t_transformer:{variant}", model,
                         data=dict(task="st", vocab_size=size["vocab"]),
                         train=dict(learning_rate=2e-3, schedule="inverse_sqrt",
                                    warmup_steps=100 if variant == "tiny" else 10000))
