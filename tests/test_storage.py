"""Corpus storage: TFDS array_record round trip, index, bad audio (error or skip-and-count)."""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from conftest import write_tone_corpus
from st_jax.data import audio, storage
from st_jax.data.manifest import Utterance, read_manifest, split_path
from st_jax.errors import AudioError, ManifestError


def test_tfds_examples_equal_the_source_audio(tone_corpus):
  rows = {r.id: r for r in read_manifest(split_path(tone_corpus, "dev"))}
  source = storage.open_split(tone_corpus, "dev")
  index = storage.read_index(tone_corpus, "dev")
  assert len(source) == len(rows) == len(index["id"])
  for i in range(len(source)):
    example = source[i]
    uid = example["id"].decode()
    assert uid == index["id"][i]
    row = rows[uid]
    pcm, rate = sf.read(row.audio, dtype="int16")
    np.testing.assert_array_equal(example["audio"], pcm)
    assert len(pcm) == index["num_samples"][i] and rate == 16000
    assert example["translation_de"].decode() == row.translation_de
    assert json.loads(example["alignment"].decode()) == row.alignment
  meta = storage.read_metadata(tone_corpus)
  assert meta["sample_rate"] == 16000 and meta["languages"] == ["de", "en", "fr"]


def _rows(tmp_path, bad_bytes):
  good = tmp_path / "good.wav"
  sf.write(good, np.zeros(1600, np.float32) + 0.1, 16000)
  bad = tmp_path / "bad.wav"
  bad.write_bytes(bad_bytes)
  return {"train": [Utterance("good", str(good), 0.1, "en", "a"),
                    Utterance("bad", str(bad), 0.1, "en", "b")]}


def test_bad_audio_stops_with_the_file_named(tmp_path):
  with pytest.raises(AudioError, match="bad.wav") as error:
    storage.write_corpus(str(tmp_path / "out"), _rows(tmp_path, b"not audio"), 16000,
                         workers=1)
  assert "--on-bad-audio skip" in str(error.value)
  assert not os.path.exists(tmp_path / "out" / "train.tsv")


def test_bad_audio_is_skipped_and_counted(tmp_path):
  out = tmp_path / "out"
  counts = storage.write_corpus(str(out), _rows(tmp_path, b""), 16000, on_bad_audio="skip",
                                tokenizer_vocab=50, workers=1)
  assert counts == {"train": 1}
  assert [r.id for r in read_manifest(str(out / "train.tsv"))] == ["good"]
  skipped = storage.read_metadata(str(out))["skipped"]["train"]
  assert [s["id"] for s in skipped] == ["bad"] and "bad.wav" in skipped[0]["reason"]


def test_corpus_needs_a_train_split(tmp_path):
  with pytest.raises(ManifestError, match="no 'train' split"):
    storage.write_corpus(str(tmp_path), {"test": _rows(tmp_path, b"")["train"]}, 16000)


def test_not_a_corpus_directory(tmp_path):
  with pytest.raises(ManifestError, match="not a corpus directory"):
    storage.read_metadata(str(tmp_path))
  with pytest.raises(ManifestError, match="no TFDS dataset"):
    storage.open_split(str(tmp_path), "train")


def test_split_over_the_shuffler_memory_buffer_is_written_without_tensorflow(tmp_path,
                                                                              monkeypatch):
  """TFDS spills a split larger than its memory buffer (1 GB) to bucket files via tf.io.gfile;
  with the buffer shrunk to 1 byte every record takes that path, and the corpus still reads
  back exactly (no TensorFlow installed)."""
  from tensorflow_datasets.core import shuffle
  monkeypatch.setattr(shuffle, "MAX_MEM_BUFFER_SIZE", 1)
  splits = write_tone_corpus(tmp_path / "spilled", num_sentences=6)
  for name, rows in splits.items():
    source = storage.open_split(str(tmp_path / "spilled"), name)
    assert len(source) == len(rows)
    by_id = {r.id: r for r in rows}
    for i in range(len(source)):
      example = source[i]
      row = by_id[example["id"].decode() if isinstance(example["id"], bytes) else example["id"]]
      expected, _ = audio.load_audio(row.audio, 16000)
      np.testing.assert_allclose(example["audio"] / 32768.0, expected, atol=1 / 32768)
