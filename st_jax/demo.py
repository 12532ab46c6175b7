"""`make demo`: the built-in corpus and its input pipeline, end to end on a fresh clone.

    python -m st_jax.demo --workdir demo [--size 300]

Synthesises a small en/de/fr speech corpus with espeak-ng, builds the bucketed training
pipeline for English speech -> German text, and prints what a batch holds and how much of it
is padding.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from st_jax.errors import UserError


def run(workdir: str, size: int) -> None:
  from configs.base import data_config
  from st_jax.data import corpus, pipeline, storage
  from st_jax.data import tokenizer as tokenizer_lib
  from st_jax.data.manifest import read_manifest, split_path

  corpus_dir = os.path.join(workdir, "corpus")
  if not os.path.exists(os.path.join(corpus_dir, "corpus.json")):
    corpus.synthesize_corpus(corpus_dir, size=size, seed=0)
  meta = storage.read_metadata(corpus_dir)
  print(f"\ncorpus {corpus_dir}: {meta['splits']} utterances, languages {meta['languages']}, "
        f"{len(meta['speakers'])} voices, emotions {meta['emotions']}")
  for row in read_manifest(split_path(corpus_dir, "test"))[:3]:
    print(f"  {row.id} [{row.speaker}, {row.emotion}, {row.duration:.1f} s] {row.text}")
  data = data_config(corpus_dir=corpus_dir, batch_size=8, spec_augment=True)
  start = time.time()
  pipe = pipeline.make_pipeline(data, "train", train=True)
  batch = next(pipe.iterator())
  tok = tokenizer_lib.Tokenizer(tokenizer_lib.tokenizer_path(corpus_dir))
  print(f"\ntrain pipeline (en speech -> de text): {pipe.plan.batches_per_epoch} batches/epoch "
        f"in {len(pipe.shapes)} length buckets, padding {100 * pipe.padding_fraction:.1f}% "
        f"of frames, first batch in {time.time() - start:.1f} s")
  print(f"  features {batch['features'].shape}, targets {batch['targets'].shape}")
  print(f"  row 0 transcript: {tok.decode(batch['transcripts'][0])}")
  print(f"  row 0 target:     {tok.decode(batch['targets'][0])}")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", default="demo")
  parser.add_argument("--size", type=int, default=300)
  args = parser.parse_args(argv)
  try:
    run(args.workdir, args.size)
  except UserError as e:
    print(f"demo: error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
