"""The cascade vs end-to-end comparison runs end to end on micro models (1 step each)."""

import json

import pytest

from st_jax import compare

SHARED_MICRO = ["model.d_model=32", "model.num_heads=4", "model.encoder.num_layers=1",
                "model.encoder.ffn_dim=64", "model.decoder.num_layers=1",
                "model.decoder.ffn_dim=64", "data.vocab_size=128", "data.num_buckets=1",
                "train.eval_split=", "train.async_checkpointing=False"]


@pytest.mark.slow
def test_compare_writes_the_table(tone_corpus, tmp_path):
  assert compare.main(["--corpus", tone_corpus, "--workdir", str(tmp_path), "--steps", "1",
                       "--batch-size", "8", "--beam", "2", *SHARED_MICRO]) == 0
  table = json.loads((tmp_path / "compare.json").read_text())
  assert table["utterances"] == 4
  for name in ("cascade", "e2e", "multitask"):
    assert 0.0 <= table[name]["bleu"] <= 100.0 and table[name]["latency_ms_per_utterance"] > 0
  assert table["cascade"]["parameters"] > table["e2e"]["parameters"]
  assert table["multitask"]["parameters"] > table["e2e"]["parameters"]   # + the CTC head
  markdown = (tmp_path / "compare.md").read_text()
  assert markdown.count("\n| ") == 4 and "| cascade |" in markdown
