"""Cascade vs end-to-end speech translation on one corpus (en speech -> de text).

    python -m st_jax.compare --corpus corpus --workdir runs/compare [--steps 1500]

Trains, with the same step budget and batch size (each resumable in W/<system>/):
  asr        asr_conformer:tiny   en speech -> en text (attention + CTC 0.3)
  mt         mt_transformer:tiny  en text -> de text (corpus transcripts -> translations)
  e2e        st_conformer:tiny    en speech -> de text, model.ctc_weight = 0
  multitask  st_conformer:tiny    the same with the auxiliary source-transcript CTC head (0.3)
then translates the test split three ways: cascade = mt(asr(speech)), e2e, multitask, and writes
W/compare.json and W/compare.md: BLEU and chrF (sacrebleu), parameters, and latency = decode
seconds per utterance (batch 8, beam 4, after a warm-up pass so compiles are not counted),
the cascade's latency being ASR + MT.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from st_jax.errors import UserError

SYSTEMS = {
    # name: (config, overrides)
    "asr": ("asr_conformer:tiny", []),
    "mt": ("mt_transformer:tiny", []),
    "e2e": ("st_conformer:tiny", ["model.ctc_weight=0.0"]),
    "multitask": ("st_conformer:tiny", ["model.ctc_weight=0.3"]),
}


def train_once(spec: str, overrides: list[str], out: str, steps: int) -> str:
  """Trains ``spec`` with ``overrides`` for ``steps`` steps in ``out`` (resuming; skipped when
  its final checkpoint exists); returns ``out``."""
  from st_jax import checkpointing, config_lib, train  # pylint: disable=g-import-not-at-top
  if checkpointing.checkpoint_steps(out)[-1:] == [steps]:
    return out
  config = config_lib.load_config(spec, [
      f"train.num_steps={steps}", f"train.checkpoint_every={steps}",
      f"train.eval_every={steps}", "train.log_every=50", *overrides])
  print(f"== training {spec} ({' '.join(overrides)}) for {steps} steps -> {out}")
  train.train_and_evaluate(config, out)
  return out


def train_system(name: str, corpus: str, workdir: str, steps: int, batch_size: int,
                 extra: list[str]) -> str:
  """Trains (or resumes) one of SYSTEMS; returns its workdir."""
  spec, overrides = SYSTEMS[name]
  return train_once(spec, [f"data.corpus_dir={corpus}", f"data.batch_size={batch_size}",
                           *overrides, *extra], os.path.join(workdir, name), steps)


def write_results(workdir: str, name: str, table: dict, text: str) -> None:
  """W/<name>.json (the table) and W/<name>.md (its markdown), and prints the markdown."""
  with open(os.path.join(workdir, f"{name}.json"), "w", encoding="utf-8") as f:
    json.dump(table, f, indent=1, ensure_ascii=False)
  with open(os.path.join(workdir, f"{name}.md"), "w", encoding="utf-8") as f:
    f.write(text)
  print(text)


def _timed(run, inputs):
  """(outputs, seconds per input) of `run(inputs)` after one warm-up call (compiles)."""
  run(inputs)
  tick = time.perf_counter()
  outputs = run(inputs)
  return outputs, (time.perf_counter() - tick) / max(len(inputs), 1)


def translate_test_set(workdirs: dict, corpus: str, beam: int, limit: int | None) -> dict:
  """BLEU/chrF/latency/params of cascade, e2e and multitask on the corpus' English test audio."""
  from st_jax import inference, info, metrics  # pylint: disable=g-import-not-at-top
  from st_jax.data.manifest import read_manifest, split_path  # pylint: disable=g-import-not-at-top
  rows = [r for r in read_manifest(split_path(corpus, "test")) if r.lang == "en"][:limit]
  if not rows:
    raise UserError(f"{corpus} has no English test utterances")
  wavs, references = [r.audio for r in rows], [r.translation("de") for r in rows]
  trained = {name: inference.load_trained(path) for name, path in workdirs.items()}
  params = {name: info.parameter_counts(t.config)["total"] for name, t in trained.items()}
  asr = inference.Transcriber(trained["asr"], beam_size=beam)
  mt = inference.TextTranslator(trained["mt"], beam_size=beam)
  transcripts, asr_latency = _timed(asr, wavs)
  cascade, mt_latency = _timed(mt, transcripts)
  results = {"cascade": (cascade, asr_latency + mt_latency, params["asr"] + params["mt"])}
  for name in ("e2e", "multitask"):
    texts, latency = _timed(inference.Transcriber(trained[name], beam_size=beam), wavs)
    results[name] = (texts, latency, params[name])
  table = {}
  for name, (texts, latency, count) in results.items():
    scores = metrics.translation_metrics(texts, references)
    table[name] = {"bleu": scores["bleu"], "chrf": scores["chrf"],
                   "latency_ms_per_utterance": 1000 * latency, "parameters": count,
                   "examples": [{"reference": r, "hypothesis": h}
                                for r, h in zip(references[:3], texts[:3])]}
  table["asr_wer"] = metrics.recognition_metrics(transcripts, [r.text for r in rows])["wer"]
  table["signature"] = scores["bleu_signature"]
  table["utterances"] = len(rows)
  return table


def markdown(table: dict, corpus: str, steps: int) -> str:
  lines = [f"Test split of `{corpus}` ({table['utterances']} English utterances), {steps} "
           f"training steps per model, beam 4; ASR WER of the cascade's first stage "
           f"{100 * table['asr_wer']:.1f}%.", "",
           "| system | BLEU | chrF | latency (ms/utt) | parameters |", "|---|---|---|---|---|"]
  for name in ("cascade", "e2e", "multitask"):
    row = table[name]
    lines.append(f"| {name} | {row['bleu']:.1f} | {row['chrf']:.1f} | "
                 f"{row['latency_ms_per_utterance']:.1f} | {row['parameters']:,} |")
  lines += ["", f"BLEU signature: `{table['signature']}`"]
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--corpus", required=True, help="corpus with en audio and de translations")
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--steps", type=int, default=1500)
  parser.add_argument("--batch-size", type=int, default=32)
  parser.add_argument("--beam", type=int, default=4)
  parser.add_argument("--limit", type=int, default=None, help="first N test utterances")
  parser.add_argument("overrides", nargs="*", help="config overrides for every system "
                      "(e.g. model.d_model=64)")
  args = parser.parse_args(argv)
  try:
    workdirs = {name: train_system(name, args.corpus, args.workdir, args.steps, args.batch_size,
                                   [o.removeprefix("--config.") for o in args.overrides])
                for name in SYSTEMS}
    table = translate_test_set(workdirs, args.corpus, args.beam, args.limit)
  except UserError as e:
    print(f"compare: error: {e}", file=sys.stderr)
    return 2
  write_results(args.workdir, "compare", table, markdown(table, args.corpus, args.steps))
  return 0


if __name__ == "__main__":
  sys.exit(main())
