"""Length bucketing: which examples form each global batch, and the padded batch shapes.

Examples are assigned to buckets by frame count; bucket upper bounds are quantiles of the
lengths (rounded up to ``length_multiple``), so each bucket holds about the same number of
examples and padding is only the spread inside a bucket. A bucket of length ``T_b`` has a fixed
batch size ``B_b`` (``batch_size``, or ``max_frames_per_batch // T_b`` when batching by total
frames, rounded down to a multiple of ``batch_multiple`` = the number of data-parallel
devices), so every batch has one of ``num_buckets`` shapes and the step compiles at most once
per bucket.

Epoch ``e`` permutes the examples with ``rng(seed, e)``, cuts each bucket's examples into
batches and shuffles the batch order; the number of batches per epoch does not depend on
``e``, so global batch ``i`` is batch ``i % n`` of epoch ``i // n``.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from st_jax.errors import ConfigError


def round_up(value: int, multiple: int) -> int:
  return -(-int(value) // multiple) * multiple


def bucket_boundaries(lengths: np.ndarray, num_buckets: int, length_multiple: int) -> np.ndarray:
  """[K] increasing upper bounds: quantiles of ``lengths``, rounded up, deduplicated."""
  if len(lengths) == 0:
    raise ConfigError("no examples left to bucket (check data.src_lang and data.max_frames)")
  quantiles = np.quantile(lengths, np.linspace(0, 1, num_buckets + 1)[1:], method="higher")
  return np.unique([round_up(q, length_multiple) for q in quantiles]).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class Batch:
  """Global batch ``step``: example indices (-1 = filler row) and its bucket."""
  step: int
  bucket: int
  indices: np.ndarray


class BatchPlan:
  """Deterministic global batches over epochs. ``plan[i]`` is a ``Batch``.

  Args:
    example_ids: [N] data-source indices of the eligible examples.
    frames: [N] frame counts; targets: [N] target token counts (for the S of each bucket).
    boundaries: [K] bucket upper bounds in frames (examples longer than the last are clipped).
    batch_sizes: [K] rows per batch in each bucket (multiples of the process count).
    drop_remainder: drop each bucket's last partial batch (training) or fill it with filler
      rows (evaluation: every example is seen exactly once per epoch).
  """

  def __init__(self, example_ids, frames, boundaries, batch_sizes, seed: int,
               drop_remainder: bool, shuffle: bool = True):
    self.example_ids = np.asarray(example_ids, np.int64)
    self.boundaries = np.asarray(boundaries, np.int64)
    self.batch_sizes = np.asarray(batch_sizes, np.int64)
    self.bucket_of = np.minimum(np.searchsorted(self.boundaries, frames),
                                len(self.boundaries) - 1)
    self.seed, self.drop_remainder, self.shuffle = seed, drop_remainder, shuffle
    counts = np.bincount(self.bucket_of, minlength=len(self.boundaries))
    per_bucket = counts // self.batch_sizes if drop_remainder else -(-counts // self.batch_sizes)
    self.batches_per_epoch = int(per_bucket.sum())
    if self.batches_per_epoch == 0:
      raise ConfigError(f"{len(self.example_ids)} examples make no full batch with batch "
                        f"sizes {self.batch_sizes.tolist()}; lower data.batch_size")

  @functools.lru_cache(maxsize=4)
  def epoch(self, epoch: int) -> list:
    """The (bucket, indices) batches of ``epoch`` in their shuffled order."""
    rng = np.random.default_rng([self.seed, epoch])
    order = rng.permutation(len(self.example_ids)) if self.shuffle else \
        np.arange(len(self.example_ids))
    batches = []
    for bucket, size in enumerate(self.batch_sizes):
      members = self.example_ids[order[self.bucket_of[order] == bucket]]
      for start in range(0, len(members), size):
        chunk = members[start:start + size]
        if len(chunk) < size:
          if self.drop_remainder:
            break
          chunk = np.concatenate([chunk, -np.ones(size - len(chunk), np.int64)])
        batches.append((bucket, chunk))
    if self.shuffle:
      batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches

  def __getitem__(self, step: int) -> Batch:
    bucket, indices = self.epoch(step // self.batches_per_epoch)[step % self.batches_per_epoch]
    return Batch(step, bucket, indices)

  def padding_fraction(self, frames_of: dict) -> float:
    """Padded / total frames over one epoch, given ``frames_of[example_id]``."""
    real = padded = 0
    for bucket, indices in self.epoch(0):
      real += sum(min(frames_of[i], self.boundaries[bucket]) for i in indices if i >= 0)
      padded += len(indices) * self.boundaries[bucket]
    return 1.0 - real / padded
