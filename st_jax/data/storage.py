"""Writes a corpus directory: manifests, a TFDS array_record dataset, tokenizers, metadata.

Layout of ``out_dir`` (the same for the built-in corpus and imported ones)::

  <split>.tsv                   manifest (see manifest.py)
  tfds/st_jax_corpus/1.0.0/     TFDS dataset, array_record files, one per split; features:
                                audio int16 [num_samples] at corpus.json's sample_rate, id,
                                lang, text, translation_{en,de,fr}, speaker, emotion,
                                alignment (JSON text), duration (s)
  <split>.index.npz             per data-source index: id, lang, num_samples (int32), so the
                                pipeline can filter and bucket without decoding audio
  tokenizer.model               SentencePiece, shared vocabulary of all languages
  tokenizer_<lang>.model        SentencePiece per language
  corpus.json                   sample_rate, languages, splits and counts, speakers, emotions

Audio is stored in TFDS as a plain int16 ``Tensor`` feature (no TensorFlow needed) and read
back with ``open_split`` (``tfds`` data source: random access for grain).
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
from typing import Sequence

import numpy as np

from st_jax.data import audio as audio_lib
from st_jax.data import tokenizer as tokenizer_lib
from st_jax.data.manifest import Utterance, split_path, write_manifest
from st_jax.errors import AudioError, ManifestError

DATASET_NAME = "st_jax_corpus"
TEXT_FIELDS = ("id", "lang", "text", "translation_en", "translation_de", "translation_fr",
               "speaker", "emotion", "alignment")


def _load_int16(task: tuple[str, int]):
  """Worker: (path, rate) -> (int16 samples, None) or (None, error message).

  A row without an audio path (a text-only corpus, e.g. `st-jax data qa`) stores no samples.
  """
  path, rate = task
  if not path:
    return np.zeros(0, np.int16), None
  try:
    samples, _ = audio_lib.load_audio(path, rate)
  except AudioError as e:
    return None, str(e)
  return np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16), None


def _example(row: Utterance, samples: np.ndarray, rate: int) -> dict:
  example = {f: getattr(row, f) for f in TEXT_FIELDS if f != "alignment"}
  example["alignment"] = json.dumps(row.alignment, ensure_ascii=False)
  example["audio"] = samples
  example["duration"] = np.float32(len(samples) / rate)
  return example


class _LocalGfile:
  """The few `tf.io.gfile` / `tf.errors` names TFDS's shuffler uses, on the local file system.

  TFDS keeps a split in memory up to 1 GB and beyond that spills it to bucket files through
  `tf.io.gfile` (tensorflow_datasets/core/shuffle.py), the one place the array_record path
  still needs TensorFlow; a corpus over 1 GB of audio per split (an 8000-sentence built-in
  corpus, LibriSpeech) would fail with "No module named 'tensorflow'" without this.
  """

  class io:  # pylint: disable=invalid-name
    class gfile:  # pylint: disable=invalid-name
      GFile = staticmethod(open)
      exists = staticmethod(os.path.exists)
      remove = staticmethod(os.remove)

  class errors:  # pylint: disable=invalid-name
    class ResourceExhaustedError(OSError):
      message = ""


def _spill_without_tensorflow() -> None:
  import importlib.util  # pylint: disable=g-import-not-at-top
  if importlib.util.find_spec("tensorflow") is None:
    from tensorflow_datasets.core import shuffle  # pylint: disable=g-import-not-at-top
    shuffle.tf = _LocalGfile


@functools.lru_cache(maxsize=1)
def _builder_class():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  _spill_without_tensorflow()
  tfds.disable_progress_bar()
  absl_logging.set_verbosity(absl_logging.WARNING)

  class StJaxCorpus(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """TFDS builder over already-decoded rows; examples are produced by ``rows_to_examples``."""
    VERSION = tfds.core.Version("1.0.0")

    def __init__(self, *, split_examples=None, **kwargs):
      self._split_examples = split_examples
      super().__init__(**kwargs)

    def _info(self):
      text = {f: tfds.features.Text() for f in TEXT_FIELDS}
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
          **text, "audio": tfds.features.Tensor(shape=(None,), dtype=np.int16),
          "duration": tfds.features.Scalar(dtype=np.float32)}))

    def _split_generators(self, dl_manager):
      del dl_manager
      return {name: self._generate_examples(gen) for name, gen in self._split_examples.items()}

    def _generate_examples(self, examples):
      for example in examples:
        yield example["id"], example

  StJaxCorpus.name = DATASET_NAME
  return StJaxCorpus


def _decoded(split: str, rows: Sequence[Utterance], rate: int, pool, on_bad_audio: str,
             kept: list, skipped: list):
  """Yields TFDS examples for ``rows``; appends kept rows and (id, reason) of skipped ones."""
  tasks = [(row.audio, rate) for row in rows]
  results = pool.imap(_load_int16, tasks, chunksize=8) if pool else map(_load_int16, tasks)
  for row, (samples, error) in zip(rows, results):
    if error is not None:
      if on_bad_audio != "skip":
        raise AudioError(f"{error} (utterance {row.id!r} of split {split!r}; pass "
                         f"--on-bad-audio skip to skip and count such files)")
      skipped.append((row.id, error))
      continue
    kept.append(row)
    yield _example(row, samples, rate)


def write_corpus(out_dir: str, splits: dict[str, list[Utterance]], sample_rate: int,
                 on_bad_audio: str = "error", tokenizer_vocab: int = 1000,
                 workers: int = 0) -> dict[str, int]:
  """Decodes every row's audio at ``sample_rate`` and writes the corpus layout above.

  Bad audio raises ``AudioError`` naming the file, or with ``on_bad_audio='skip'`` is left out
  and counted (printed, and listed in corpus.json). Returns kept utterances per split.
  Nothing is written into ``out_dir``'s manifests until the dataset is complete.
  """
  if on_bad_audio not in ("error", "skip"):
    raise ManifestError(f"on_bad_audio={on_bad_audio!r}: expected 'error' or 'skip'")
  if not splits or not any(splits.values()):
    raise ManifestError(f"no utterances to write into {out_dir}")
  if "train" not in splits or not splits["train"]:
    raise ManifestError(f"corpus for {out_dir} has no 'train' split (splits: {sorted(splits)})")
  os.makedirs(out_dir, exist_ok=True)
  workers = workers or os.cpu_count() or 1
  kept = {name: [] for name in splits}
  skipped = {name: [] for name in splits}
  ctx = multiprocessing.get_context("spawn")
  pool = ctx.Pool(workers) if workers > 1 else None
  try:
    examples = {name: _decoded(name, rows, sample_rate, pool, on_bad_audio, kept[name],
                               skipped[name]) for name, rows in splits.items()}
    data_dir = os.path.join(out_dir, "tfds")
    builder = _builder_class()(split_examples=examples, data_dir=data_dir,
                               file_format="array_record")
    builder.download_and_prepare()
  finally:
    if pool:
      pool.close()
      pool.join()
  for name, rows in kept.items():
    write_manifest(split_path(out_dir, name), rows)
    _write_index(out_dir, name)
  _write_tokenizers(out_dir, kept["train"], tokenizer_vocab)
  counts = {name: len(rows) for name, rows in kept.items()}
  meta = {"sample_rate": sample_rate, "splits": counts,
          "languages": sorted({r.lang for rows in kept.values() for r in rows}),
          "speakers": sorted({r.speaker for rows in kept.values() for r in rows}),
          "emotions": sorted({r.emotion for rows in kept.values() for r in rows if r.emotion}),
          "skipped": {n: [{"id": i, "reason": why} for i, why in s] for n, s in skipped.items()}}
  with open(os.path.join(out_dir, "corpus.json"), "w", encoding="utf-8") as f:
    json.dump(meta, f, indent=1, ensure_ascii=False)
  for name in splits:
    if skipped[name]:
      print(f"{name}: skipped {len(skipped[name])} unusable audio file(s), "
            f"listed in {out_dir}/corpus.json")
  return counts


def _write_tokenizers(out_dir: str, train_rows: Sequence[Utterance], vocab_size: int):
  """Shared and per-language SentencePiece models trained on the train split's text (a
  same-language ``translation_<lang>``, e.g. a QA corpus' answer, counts as ``lang`` text)."""
  per_lang: dict[str, set] = {}
  for row in train_rows:
    per_lang.setdefault(row.lang, set()).add(row.text)
    for lang in ("en", "de", "fr"):
      if getattr(row, f"translation_{lang}"):
        per_lang.setdefault(lang, set()).add(getattr(row, f"translation_{lang}"))
  everything = [t for texts in per_lang.values() for t in texts]
  tokenizer_lib.train_tokenizer(everything, tokenizer_lib.tokenizer_path(out_dir), vocab_size)
  for lang, texts in per_lang.items():
    tokenizer_lib.train_tokenizer(texts, tokenizer_lib.tokenizer_path(out_dir, lang),
                                  vocab_size)


def read_metadata(corpus_dir: str) -> dict:
  """corpus.json of a corpus directory (ManifestError when it is not one)."""
  path = os.path.join(corpus_dir, "corpus.json")
  if not os.path.exists(path):
    raise ManifestError(f"{corpus_dir} is not a corpus directory (no corpus.json); make one "
                        f"with `st-jax data synth --out {corpus_dir}` or `st-jax data prepare`")
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def open_split(corpus_dir: str, split: str):
  """Random-access TFDS data source of ``split``: ``source[i]`` is a dict of numpy values."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  path = os.path.join(corpus_dir, "tfds", DATASET_NAME, "1.0.0")
  if not os.path.isdir(path):
    raise ManifestError(f"{corpus_dir} has no TFDS dataset at {path}")
  builder = tfds.builder_from_directory(path)
  if split not in builder.info.splits:
    raise ManifestError(f"{corpus_dir} has no split {split!r}; it has "
                        f"{', '.join(sorted(builder.info.splits))}")
  return builder.as_data_source(split=split)


def _write_index(corpus_dir: str, split: str):
  source = open_split(corpus_dir, split)
  examples = [source[i] for i in range(len(source))]
  np.savez(os.path.join(corpus_dir, f"{split}.index.npz"),
           id=np.asarray([_text(e["id"]) for e in examples]),
           lang=np.asarray([_text(e["lang"]) for e in examples]),
           num_samples=np.asarray([len(e["audio"]) for e in examples], np.int32))


def _text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_index(corpus_dir: str, split: str) -> dict[str, np.ndarray]:
  """Per data-source index of ``split``: ``id`` [N] str, ``lang`` [N] str, ``num_samples`` [N]."""
  path = os.path.join(corpus_dir, f"{split}.index.npz")
  if not os.path.exists(path):
    raise ManifestError(f"{path} is missing; rebuild the corpus with `st-jax data synth` or "
                        f"`st-jax data prepare`")
  with np.load(path) as index:
    return {k: index[k] for k in index.files}
