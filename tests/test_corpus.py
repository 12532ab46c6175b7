"""The built-in corpus: three languages, held-out sentences and voices, alignments, padding."""

import numpy as np
import pytest

from configs.base import data_config
from st_jax.cli import main as cli_main
from st_jax.data import corpus, espeak, grammar, pipeline, storage
from st_jax.data.manifest import read_manifest, split_path

pytest.importorskip("espeakng_loader", reason="the [synth] extra (espeak-ng) is not installed")
pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  out = tmp_path_factory.mktemp("synth")
  assert cli_main(["data", "synth", "--out", str(out), "--size", "60", "--seed", "5"]) == 0
  return str(out)


def test_splits_hold_unseen_sentences_and_voices(built):
  rows = {s: read_manifest(split_path(built, s)) for s in ("train", "dev", "test")}
  assert {len(r) for r in rows.values()} and len(rows["train"]) == 3 * 48
  assert len(rows["dev"]) == len(rows["test"]) == 3 * 6
  train_text = {r.text for r in rows["train"]}
  for split in ("dev", "test"):
    assert not train_text & {r.text for r in rows[split]}
  train_voices = {r.speaker for r in rows["train"]}
  for lang, voice in espeak.HELD_OUT_VOICES.items():
    assert voice not in train_voices
  assert set(espeak.HELD_OUT_VOICES.values()) & {r.speaker for r in rows["dev"] + rows["test"]}
  for split_rows in rows.values():
    assert {r.lang for r in split_rows} == {"en", "de", "fr"}
  assert {r.emotion for r in rows["train"]} == set(espeak.EMOTIONS)


def test_every_utterance_has_translations_and_phoneme_timings(built):
  sentences = {s.en: s for s in grammar.generate(60, 5)}
  for row in read_manifest(split_path(built, "train")):
    english = row.text if row.lang == "en" else row.translation_en
    sentence = sentences[english]
    assert row.translation("de") == sentence.de and row.translation("fr") == sentence.fr
    starts = [a[1] for a in row.alignment]
    assert len(row.alignment) > 3 and starts == sorted(starts)
    assert row.alignment[-1][2] <= row.duration + 1e-3


def test_same_seed_same_corpus(built, tmp_path):
  again = str(tmp_path / "again")
  corpus.synthesize_corpus(again, size=60, seed=5, workers=1)
  a, b = storage.open_split(built, "test"), storage.open_split(again, "test")
  for i in range(len(a)):
    np.testing.assert_array_equal(a[i]["audio"], b[i]["audio"])
    assert a[i]["text"] == b[i]["text"] and a[i]["speaker"] == b[i]["speaker"]


def test_bucketing_pads_less_than_ten_percent(built):
  data = data_config(corpus_dir=built, batch_size=4, num_buckets=8)
  pipe = pipeline.make_pipeline(data, "train", train=True)
  print(f"padding fraction on the built-in corpus: {pipe.padding_fraction:.3f}")
  assert pipe.padding_fraction < 0.10
