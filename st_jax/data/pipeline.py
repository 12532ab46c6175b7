"""grain input pipeline: bucketed, per-process sharded, checkpointable batches.

    plan = BatchPlan(...)                     which examples form global batch i (bucketing.py)
    MapDataset.source(plan) .map(load)        load: this process's rows of batch i ->
                                              decode, features, tokens, pad (features.py)
    .to_iter_dataset() [.mp_prefetch(workers)]

Every process builds the same plan and takes rows ``[p*B/P, (p+1)*B/P)`` of each global batch
(``jax.process_index/count``), so the data order does not depend on the number of processes,
and ``jax.make_array_from_process_local_data`` assembles the global batch. Augmentation draws
from ``rng(seed, step, row)``, so batches are identical with any number of worker processes.
The iterator's ``get_state()``/``set_state()`` (saved with the train state) resume exactly.
"""

from __future__ import annotations

import dataclasses
import logging

import grain
import numpy as np

from st_jax.data import bucketing
from st_jax.data import features as features_lib
from st_jax.data import segments
from st_jax.data import storage
from st_jax.data import tts_features
from st_jax.data.manifest import read_manifest, split_path
from st_jax.errors import ConfigError

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Pipeline:
  """A split's batches. ``shapes[b]`` = {frames, targets, transcripts} of bucket ``b``."""
  dataset: grain.IterDataset
  plan: bucketing.BatchPlan
  shapes: list
  dropped: int            # examples dropped for being over-long
  padding_fraction: float  # padded / total frames over one epoch
  load: "_LoadBatch"       # global batch -> this process's arrays

  def iterator(self):
    """A fresh checkpointable iterator (``get_state``/``set_state``) at global batch 0."""
    return iter(self.dataset)

  def example_batch(self, step: int = 0) -> dict:
    """This process's arrays of global batch ``step``, without touching any iterator."""
    return self.load.map(self.plan[step])


class _PlanSource:
  """grain random-access source: element ``i`` is global batch ``i`` of ``plan``."""

  def __init__(self, plan: bucketing.BatchPlan, num_epochs: int):
    self.plan, self.num_epochs = plan, num_epochs

  def __len__(self):
    return self.plan.batches_per_epoch * self.num_epochs

  def __getitem__(self, step):
    return self.plan[int(step)]


class _LoadBatch(grain.transforms.Map):
  """This process's rows of one global batch -> padded numpy arrays (see features.py)."""

  def __init__(self, data, split, train, shapes, process_index, process_count):
    self.data, self.split, self.train, self.shapes = data, split, train, shapes
    self.process_index, self.process_count = process_index, process_count
    self._encoder = self._source = None

  def __getstate__(self):
    state = dict(self.__dict__)
    state["_encoder"] = state["_source"] = None
    return state

  def map(self, batch: bucketing.Batch) -> dict:
    if self._source is None:
      self._encoder = features_lib.ExampleEncoder(self.data, self.train)
      self._source = storage.open_split(self.data.corpus_dir, self.split)
    rows = len(batch.indices) // self.process_count
    start = self.process_index * rows
    encoded = []
    for row in range(start, start + rows):
      index = int(batch.indices[row])
      rng = np.random.default_rng([self.data.seed, batch.step, row])
      encoded.append(None if index < 0 else self._encoder.encode(self._source[index], rng))
    if all(e is None for e in encoded):   # a filler-only shard: keep shapes with one dummy
      encoded[0] = self._encoder.encode(self._source[int(batch.indices[0])], rng)
      out = features_lib.collate(encoded, self.shapes[batch.bucket], self.data.task)
      out["example_mask"][:] = 0.0
      return out
    return features_lib.collate(encoded, self.shapes[batch.bucket], self.data.task)


def _eligible(data, split: str, encoder_tokenizers):
  """Data-source indices in ``src_lang`` with their lengths and token counts (train split:
  a fixed random ``data.label_fraction`` of them, for low-resource experiments)."""
  index = storage.read_index(data.corpus_dir, split)
  rows = {r.id: r for r in read_manifest(split_path(data.corpus_dir, split))}
  langs = tts_features.languages(data) if data.task == "tts" else (data.src_lang,)
  chosen = np.flatnonzero(np.isin(index["lang"], langs))
  if not len(chosen):
    raise ConfigError(f"data.src_lang={data.src_lang!r}: split {split!r} of {data.corpus_dir} "
                      f"has no utterances in that language")
  fraction = float(data.get("label_fraction", 1.0))
  if split == "train" and fraction < 1.0:
    if not 0.0 < fraction <= 1.0:
      raise ConfigError(f"data.label_fraction={fraction} must be in (0, 1]")
    keep = max(1, int(round(fraction * len(chosen))))   # the same subset for every seed/run
    chosen = np.sort(np.random.default_rng(1234).permutation(chosen)[:keep])
  src_tok, tgt_tok = encoder_tokenizers
  texts = [rows[str(index["id"][i])] for i in chosen]
  transcripts = np.asarray([len(src_tok.encode(r.text)) for r in texts]) if data.task != "tts" \
      else tts_features.symbol_counts(data, texts)   # TTS: symbols per utterance
  own_text = data.task in features_lib.SOURCE_TEXT_TASKS
  targets = np.asarray([len(tgt_tok.encode(r.text if own_text
                                           else r.translation(data.tgt_lang))) + 1
                        for r in texts])
  if data.task == "mt":
    lengths = transcripts
  elif data.task == "vocoder":   # fixed-length segments of every utterance (segments.py)
    lengths = np.full(len(chosen), segments.segment_frames(data))
  else:
    lengths = np.asarray([features_lib.num_frames(n, data) for n in index["num_samples"][chosen]])
  return chosen, lengths, targets, transcripts


def make_pipeline(data, split: str, *, train: bool, batch_multiple: int = 1,
                  process_index: int = 0, process_count: int = 1,
                  num_epochs: int | None = None, boundaries=None) -> Pipeline:
  """Builds the pipeline of ``split`` from the ``config.data`` ConfigDict.

  ``batch_multiple``: every batch size is a multiple of it (the global number of data-parallel
  devices; must itself be a multiple of ``process_count``). ``boundaries`` reuses another
  split's bucket bounds (evaluation reuses training's to share compiled shapes).
  """
  if batch_multiple % process_count:
    raise ConfigError(f"batch multiple {batch_multiple} is not divisible by the "
                      f"{process_count} processes")
  encoder = features_lib.ExampleEncoder(data, train)
  ids, lengths, targets, transcripts = _eligible(
      data, split, (encoder.src_tokenizer, encoder.tgt_tokenizer))
  overlong = lengths > data.max_frames
  dropped = int(overlong.sum()) if data.overlong == "drop" else 0
  if overlong.any():
    log.warning("%s: %d of %d utterances are longer than data.max_frames=%d: %s", split,
                int(overlong.sum()), len(lengths), data.max_frames,
                "dropped" if data.overlong == "drop" else "clipped")
    if data.overlong == "drop":
      keep = ~overlong
      ids, lengths, targets, transcripts = ids[keep], lengths[keep], targets[keep], \
          transcripts[keep]
    lengths = np.minimum(lengths, data.max_frames)
  if boundaries is None:
    boundaries = bucketing.bucket_boundaries(lengths, data.num_buckets, data.length_multiple)
  boundaries = np.asarray(boundaries)
  if lengths.max() > boundaries[-1]:
    boundaries = np.append(boundaries, bucketing.round_up(lengths.max(), data.length_multiple))
  batch_sizes = _batch_sizes(data, boundaries, batch_multiple)
  plan = bucketing.BatchPlan(ids, lengths, boundaries, batch_sizes, seed=data.seed,
                             drop_remainder=train, shuffle=train)
  shapes = []
  for b, bound in enumerate(boundaries):
    members = plan.bucket_of == b
    longest = lambda counts: int(counts[members].max()) if members.any() else 1
    shapes.append({"frames": int(bound),
                   "targets": min(bucketing.round_up(longest(targets), 8),
                                  data.max_target_tokens),
                   "transcripts": min(bucketing.round_up(longest(transcripts), 8),
                                      data.max_target_tokens)})
  frames_of = dict(zip(ids.tolist(), lengths.tolist()))
  dataset = grain.MapDataset.source(_PlanSource(plan, num_epochs or (data.num_epochs if train
                                                                      else 1)))
  load = _LoadBatch(data, split, train, shapes, process_index, process_count)
  dataset = dataset.map(load)
  dataset = dataset.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=2))
  if data.workers > 0:
    from absl import flags  # pylint: disable=g-import-not-at-top
    if not flags.FLAGS.is_parsed():   # grain's workers read absl flags; we do not parse argv
      flags.FLAGS.mark_as_parsed()
    dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=data.workers))
  return Pipeline(dataset, plan, shapes, dropped, plan.padding_fraction(frames_of), load)


def _batch_sizes(data, boundaries, multiple: int) -> np.ndarray:
  """Rows per batch for each bucket: fixed count, or a total-frames budget."""
  if data.max_frames_per_batch > 0:
    sizes = [max(multiple, (data.max_frames_per_batch // int(b)) // multiple * multiple)
             for b in boundaries]
    return np.asarray(sizes)
  if data.batch_size % multiple:
    raise ConfigError(f"data.batch_size={data.batch_size} is not a multiple of the "
                      f"{multiple} data-parallel devices")
  return np.full(len(boundaries), data.batch_size)
