"""`make demo`: the built-in corpus and its input pipeline, end to end on a fresh clone.

    python -m st_jax.demo --workdir demo [--size 300]

Synthesises an en/de/fr speech corpus with espeak-ng, builds the bucketed training pipeline
for English speech -> German text and prints what a batch holds and how much of it is
padding; then (``--train-steps`` > 0) trains `st_conformer:tiny` on it, scores the test split
with `st-jax eval` (BLEU, chrF) and translates three test files it never heard.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from st_jax.errors import UserError


def train_and_translate(workdir: str, corpus_dir: str, steps: int, batch_size: int = 32) -> None:
  """Trains the demo model (resuming), evaluates it and translates three test files."""
  from st_jax import config_lib, evaluate, inference, train
  from st_jax.data.manifest import read_manifest, split_path
  model_dir = os.path.join(workdir, "st_tiny")
  print(f"\ntraining st_conformer:tiny for {steps} steps -> {model_dir} (resumes if stopped)")
  config = config_lib.load_config("st_conformer:tiny", [
      f"data.corpus_dir={corpus_dir}", f"data.batch_size={batch_size}", "data.num_buckets=6",
      f"train.num_steps={steps}", f"train.eval_every={steps}",
      f"train.checkpoint_every={max(steps // 4, 1)}", "train.log_every=25"])
  start = time.time()
  train.train_and_evaluate(config, model_dir)
  minutes = (time.time() - start) / 60
  result = evaluate.evaluate(model_dir, "test", beam_size=4, limit=200)
  scores = result["metrics"]
  print(f"\ntest BLEU {scores['bleu']:.1f}, chrF {scores['chrf']:.1f} "
        f"({result['num_utterances']} utterances, beam 4; training took {minutes:.1f} min); "
        f"hypotheses in {model_dir}/eval_test_hypotheses.tsv")
  rows = [r for r in read_manifest(split_path(corpus_dir, "test")) if r.lang == "en"][:3]
  outputs = inference.Transcriber(inference.load_trained(model_dir), beam_size=4)(
      [r.audio for r in rows])
  print(f"\n.venv/bin/st-jax translate --workdir {model_dir} <wav>:")
  for row, text in zip(rows, outputs):
    print(f"  {os.path.basename(row.audio)}\n    heard:     {row.text}\n"
          f"    reference: {row.translation('de')}\n    output:    {text}")


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
  parser.add_argument("--train-steps", type=int, default=0,
                      help="> 0: train, evaluate and translate with st_conformer:tiny")
  args = parser.parse_args(argv)
  try:
    run(args.workdir, args.size)
    if args.train_steps > 0:
      train_and_translate(args.workdir, os.path.join(args.workdir, "corpus"), args.train_steps)
  except UserError as e:
    print(f"demo: error: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main())
