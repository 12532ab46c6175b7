"""Low-resource ASR with and without BEST-RQ pretraining, on one corpus.

    python -m st_jax.pretrain_experiment --corpus corpus --workdir runs/low_resource \\
        [--pretrain-steps 1000] [--finetune-steps 600] [--fractions 0.05,0.2]

1. pretrain `pretrain_bestrq:tiny` on every English training utterance, labels unused;
2. for each label fraction f: train `asr_conformer:tiny` on the same fixed random f of the
   training utterances (data.label_fraction) twice with the same steps and seed: from scratch,
   and starting from the pretrained front end + encoder (train.init_from, nothing frozen);
3. score the test split (beam 4): W/low_resource.json and W/low_resource.md (WER, CER).
Every stage resumes or is skipped when its final checkpoint exists.
"""

from __future__ import annotations

import argparse
import os
import sys

from st_jax.compare import train_once, write_results
from st_jax.errors import UserError


def run(corpus: str, workdir: str, pretrain_steps: int, finetune_steps: int,
        fractions: list[float], batch_size: int, limit: int | None, extra: list[str]) -> dict:
  from st_jax import evaluate  # pylint: disable=g-import-not-at-top
  common = [f"data.corpus_dir={corpus}", f"data.batch_size={batch_size}", *extra]
  pretrained = train_once("pretrain_bestrq:tiny", common, os.path.join(workdir, "pretrain"),
                          pretrain_steps)
  rows = []
  for fraction in fractions:
    for start in ("scratch", "pretrained"):
      init = [f"train.init_from={pretrained}",
              "train.init_include=('^frontend/', '^encoder/')"] if start == "pretrained" else []
      out = train_once("asr_conformer:tiny", [*common, f"data.label_fraction={fraction}", *init],
                       os.path.join(workdir, f"asr_{start}_{fraction:g}"), finetune_steps)
      result = evaluate.evaluate(out, "test", beam_size=4, limit=limit)
      rows.append({"label_fraction": fraction, "start": start,
                   "wer": result["metrics"]["wer"], "cer": result["metrics"]["cer"],
                   "utterances": result["num_utterances"]})
  return {"pretrain_steps": pretrain_steps, "finetune_steps": finetune_steps,
          "batch_size": batch_size, "rows": rows}


def markdown(table: dict, corpus: str) -> str:
  lines = [f"`{corpus}`, test split ({table['rows'][0]['utterances']} utterances), "
           f"BEST-RQ pretraining {table['pretrain_steps']} steps, ASR training "
           f"{table['finetune_steps']} steps, batch {table['batch_size']}, beam 4.", "",
           "| labels used | start | WER % | CER % |", "|---|---|---|---|"]
  for row in table["rows"]:
    lines.append(f"| {100 * row['label_fraction']:g}% | {row['start']} | "
                 f"{100 * row['wer']:.1f} | {100 * row['cer']:.1f} |")
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--corpus", required=True)
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--pretrain-steps", type=int, default=1000)
  parser.add_argument("--finetune-steps", type=int, default=600)
  parser.add_argument("--fractions", default="0.05,0.2")
  parser.add_argument("--batch-size", type=int, default=32)
  parser.add_argument("--limit", type=int, default=None, help="first N test utterances")
  parser.add_argument("overrides", nargs="*", help="config overrides for every run")
  args = parser.parse_args(argv)
  try:
    table = run(args.corpus, args.workdir, args.pretrain_steps, args.finetune_steps,
                [float(f) for f in args.fractions.split(",")], args.batch_size, args.limit,
                [o.removeprefix("--config.") for o in args.overrides])
  except UserError as e:
    print(f"pretrain_experiment: error: {e}", file=sys.stderr)
    return 2
  write_results(args.workdir, "low_resource", table, markdown(table, args.corpus))
  return 0


if __name__ == "__main__":
  sys.exit(main())
