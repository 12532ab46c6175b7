"""Input pipeline: shapes, determinism, exact resume (also with workers), process sharding."""

import numpy as np
import pytest

from st_jax.data import pipeline as pipeline_lib
from st_jax.data import storage
from st_jax.data import tokenizer as tokenizer_lib
from st_jax.data.manifest import read_manifest, split_path


def take(iterator, n):
  return [next(iterator) for _ in range(n)]


def assert_batches_equal(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert sorted(x) == sorted(y)
    for key in x:
      np.testing.assert_array_equal(x[key], y[key], err_msg=key)


def test_batch_arrays_match_the_corpus(data_config):
  pipe = pipeline_lib.make_pipeline(data_config, "train", train=True)
  batch = next(pipe.iterator())
  rows = batch["features"].shape[0]
  bucket = [s for s in pipe.shapes if s["frames"] == batch["features"].shape[1]][0]
  assert batch["features"].shape == (rows, bucket["frames"], 80)
  assert batch["targets"].shape == batch["decoder_inputs"].shape == (rows, bucket["targets"])
  np.testing.assert_array_equal(batch["decoder_inputs"][:, 0], tokenizer_lib.BOS_ID)
  # decoder inputs are the targets shifted right by one
  lengths = (1 - batch["target_paddings"]).sum(1).astype(int)
  for r in range(rows):
    np.testing.assert_array_equal(batch["decoder_inputs"][r, 1:lengths[r]],
                                  batch["targets"][r, :lengths[r] - 1])
    assert batch["targets"][r, lengths[r] - 1] == tokenizer_lib.EOS_ID
  # the targets are the German translation of the English transcript
  tok = tokenizer_lib.Tokenizer(tokenizer_lib.tokenizer_path(data_config.corpus_dir))
  manifest = {r.text: r for r in read_manifest(split_path(data_config.corpus_dir, "train"))
              if r.lang == "en"}
  for r in range(rows):
    transcript = tok.decode(batch["transcripts"][r])
    assert tok.decode(batch["targets"][r]) == manifest[transcript].translation_de
  # paddings mark exactly the frames beyond each utterance
  frames = (1 - batch["feature_paddings"]).sum(1)
  assert np.all(frames > 0) and np.all(batch["features"][batch["feature_paddings"] == 1] == 0)
  assert np.all(batch["lang"] == 0) and np.all(batch["example_mask"] == 1)


def test_same_config_gives_identical_batches(data_config):
  a = take(pipeline_lib.make_pipeline(data_config, "train", train=True).iterator(), 5)
  b = take(pipeline_lib.make_pipeline(data_config, "train", train=True).iterator(), 5)
  assert_batches_equal(a, b)
  data_config.seed = 1
  c = take(pipeline_lib.make_pipeline(data_config, "train", train=True).iterator(), 5)
  assert any(x["features"].shape != y["features"].shape or
             not np.array_equal(x["features"], y["features"]) for x, y in zip(a, c))


@pytest.mark.parametrize("workers", [0, 2])
def test_exact_resume_from_iterator_state(data_config, workers):
  data_config.workers = workers
  data_config.spec_augment = True
  data_config.speed_perturb = True
  straight = take(pipeline_lib.make_pipeline(data_config, "train", train=True).iterator(), 7)
  first = pipeline_lib.make_pipeline(data_config, "train", train=True).iterator()
  take(first, 3)
  state = first.get_state()
  resumed = pipeline_lib.make_pipeline(data_config, "train", train=True).iterator()
  resumed.set_state(state)
  assert_batches_equal(take(resumed, 4), straight[3:])


def test_processes_read_disjoint_rows_of_the_same_global_batch(data_config):
  whole = take(pipeline_lib.make_pipeline(data_config, "train", train=True,
                                          batch_multiple=2).iterator(), 3)
  parts = [take(pipeline_lib.make_pipeline(data_config, "train", train=True, batch_multiple=2,
                                           process_index=p, process_count=2).iterator(), 3)
           for p in range(2)]
  for step in range(3):
    for key in whole[step]:
      joined = np.concatenate([parts[0][step][key], parts[1][step][key]])
      np.testing.assert_array_equal(joined, whole[step][key], err_msg=key)


def test_evaluation_sees_every_utterance_once(data_config):
  pipe = pipeline_lib.make_pipeline(data_config, "test", train=False)
  batches = list(pipe.iterator())
  assert len(batches) == pipe.plan.batches_per_epoch
  seen = sum(int(b["example_mask"].sum()) for b in batches)
  index = storage.read_index(data_config.corpus_dir, "test")
  assert seen == int((index["lang"] == "en").sum())
  for b in batches:
    filler = b["example_mask"] == 0
    assert np.all(b["target_paddings"][filler] == 1) and np.all(b["feature_paddings"][filler] == 1)


def test_overlong_utterances_are_dropped_and_counted(data_config):
  data_config.max_frames = 200
  pipe = pipeline_lib.make_pipeline(data_config, "train", train=True)
  index = storage.read_index(data_config.corpus_dir, "train")
  frames = 1 + index["num_samples"][index["lang"] == "en"] // 160
  assert pipe.dropped == int((frames > 200).sum()) > 0
  assert max(s["frames"] for s in pipe.shapes) <= 200
  data_config.overlong = "clip"
  clipped = pipeline_lib.make_pipeline(data_config, "train", train=True)
  assert clipped.dropped == 0 and max(s["frames"] for s in clipped.shapes) <= 200


def test_batching_by_total_frames(data_config):
  data_config.max_frames_per_batch = 1200
  pipe = pipeline_lib.make_pipeline(data_config, "train", train=True, batch_multiple=2)
  for bucket, size in zip(pipe.plan.boundaries, pipe.plan.batch_sizes):
    assert size % 2 == 0 and (size * bucket <= 1200 or size == 2)
  batch = next(pipe.iterator())
  assert batch["features"].shape[0] * batch["features"].shape[1] <= 1200


def test_mt_task_batches_tokens_without_audio(data_config):
  data_config.task = "mt"
  batch = next(pipeline_lib.make_pipeline(data_config, "train", train=True).iterator())
  assert "features" not in batch and batch["source_tokens"].dtype == np.int32
  assert batch["source_tokens"].shape == batch["source_paddings"].shape
