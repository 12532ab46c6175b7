"""`st-jax <command>`: argument parsing only, then one call into the library.

Errors a user can cause (`st_jax.errors.UserError`) are printed as one line, without a traceback,
and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys

from st_jax.errors import NotYetBuiltError, UserError

_PLANNED: dict[str, str] = {
    # command: the issue area that builds it (none at present)
}


def _data_synth(args):
  from st_jax.data import corpus
  corpus.synthesize_corpus(args.out, size=args.size, seed=args.seed, workers=args.workers,
                           sample_rate=args.sample_rate, tokenizer_vocab=args.vocab_size)


def _data_qa(args):
  from st_jax.data import qa_corpus  # pylint: disable=g-import-not-at-top
  qa_corpus.write_qa_corpus(args.out, size=args.size, seed=args.seed,
                            tokenizer_vocab=args.vocab_size)


def _data_prepare(args):
  from st_jax.data import prepare
  prepare.prepare_corpus(args.format, args.src, args.out, sample_rate=args.sample_rate,
                         on_bad_audio=args.on_bad_audio, tokenizer_vocab=args.vocab_size,
                         src_lang=args.src_lang, tgt_lang=args.tgt_lang, workers=args.workers)


def _train(args):
  import logging  # pylint: disable=g-import-not-at-top
  logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
  for noisy in ("absl", "orbax", "jax", "grain"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
  from st_jax import config_lib, train  # pylint: disable=g-import-not-at-top
  config = config_lib.load_config(args.config, args.overrides)
  summary = train.train_and_evaluate(config, args.workdir)
  print(f"done: {summary}")


def _info(args):
  from st_jax import info  # pylint: disable=g-import-not-at-top
  print(info.run_info(args.config, args.overrides))


def _decoding_args(parser, beam_size: int = 4, workdir_required: bool = True) -> None:
  parser.add_argument("--workdir", required=workdir_required, help="trained workdir "
                      "(config.json, checkpoints/, assets/)")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
  parser.add_argument("--beam", type=int, default=beam_size, help="beam size (1 = greedy)")
  parser.add_argument("--length-penalty", type=float, default=1.0,
                      help="GNMT alpha in ((5 + n) / 6) ** alpha")
  parser.add_argument("--ctc-weight", type=float, default=0.0,
                      help="joint CTC/attention weight (ASR models with a CTC head)")
  parser.add_argument("--batch-size", type=int, default=8)


def _eval(args):
  from st_jax import evaluate  # pylint: disable=g-import-not-at-top
  result = evaluate.evaluate(args.workdir, args.split, args.beam, args.length_penalty,
                             args.ctc_weight, args.batch_size, args.limit, args.step,
                             vocoder=args.vocoder, asr=args.asr, emotion=args.emotion)
  shown = {k: round(v, 4) for k, v in result["metrics"].items() if isinstance(v, float)}
  print(f"{result['task']} {args.split} ({result['num_utterances']} utterances, step "
        f"{result['step']}): {shown}")
  for name, signature in result.get("signatures", {}).items():
    print(f"  {name} signature: {signature}")
  print(f"wrote {args.workdir}/eval_{args.split}.json and eval_{args.split}_hypotheses.tsv")
  for plot in result.get("plots", []):
    print(f"  plot: {args.workdir}/{plot}")


def _speech_to_text(task: str):
  def run(args):
    from st_jax import inference  # pylint: disable=g-import-not-at-top
    from st_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
    if bool(args.workdir) == bool(args.model):
      raise ConfigError("give either --workdir (a trained workdir) or --model (an export)")
    if args.model:
      from serving import errors, runtime  # pylint: disable=g-import-not-at-top
      try:
        model = runtime.load_artifact(args.model)
        for text in getattr(model, "translate" if task == "st" else "transcribe")(args.files):
          print(text, flush=True)
      except errors.ServingError as e:
        raise ConfigError(str(e)) from e
      return
    trained = inference.load_trained(args.workdir, args.step)
    if trained.task != task:
      want = {"st": "translate", "asr": "transcribe"}.get(trained.task, "eval")
      raise ConfigError(f"{args.workdir} holds a {trained.task!r} model; use `st-jax {want}`")
    transcriber = inference.Transcriber(trained, args.beam, args.length_penalty,
                                        args.ctc_weight, args.batch_size, args.chunk_seconds,
                                        args.overlap_seconds)
    for text in transcriber(args.files):
      print(text, flush=True)
  return run


def _plan(args):
  import json  # pylint: disable=g-import-not-at-top
  from st_jax import plan  # pylint: disable=g-import-not-at-top
  plan.prepare_host_devices(args.topology)   # before jax is imported
  from st_jax import config_lib  # pylint: disable=g-import-not-at-top
  from st_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
  mesh = []
  for part in filter(None, (args.mesh or "").split(",")):
    axis, _, size = part.partition("=")
    if axis.strip() not in ("data", "fsdp", "tensor") or not size.strip().lstrip("-").isdigit():
      raise ConfigError(f"--mesh {args.mesh!r}: expected data=N,fsdp=N,tensor=N (one may be -1)")
    mesh.append(f"mesh.{axis.strip()}={int(size)}")
  config = config_lib.load_config(args.config, [*mesh, *args.overrides])
  report = plan.plan(config, args.topology, args.batch_size, args.frames)
  print(plan.format_report(report))
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump(report, f, indent=1)
    print(f"wrote {args.json}")


def _synthesize(args):
  from st_jax import synthesis  # pylint: disable=g-import-not-at-top
  seconds = synthesis.synthesize_to_file(
      args.workdir, args.text, args.out, lang=args.lang, emotion=args.emotion,
      speaker=args.speaker, rate=args.rate, pitch_shift=args.pitch_shift,
      energy_scale=args.energy_scale, vocoder=args.vocoder, step=args.step)
  print(f"wrote {args.out} ({seconds:.2f} s)")


def _s2st(args):
  from st_jax import s2st  # pylint: disable=g-import-not-at-top
  result = s2st.translate_file(
      args.workdir, args.tts_workdir, args.input, args.out, vocoder=args.vocoder,
      emotion=args.emotion, emotion_workdir=args.emotion_workdir, speaker=args.speaker,
      rate=args.rate, beam_size=args.beam, step=args.step)
  print(result.text, flush=True)
  print(f"wrote {args.out} ({result.seconds:.2f} s of {result.lang} speech, emotion "
        f"{result.emotion})", file=sys.stderr)


def _not_yet(name):
  def run(_args):
    raise NotYetBuiltError(f"`st-jax {name}` is not available in this version yet "
                           f"(planned with {_PLANNED[name]}).")
  return run


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="st-jax", description=__doc__.splitlines()[0])
  commands = parser.add_subparsers(dest="command", metavar="COMMAND")
  commands.required = True

  data = commands.add_parser("data", help="make or import a speech corpus")
  data_commands = data.add_subparsers(dest="data_command", metavar="ACTION")
  data_commands.required = True
  synth = data_commands.add_parser("synth", help="built-in en/de/fr speech corpus (espeak-ng)")
  synth.add_argument("--out", required=True, help="output corpus directory")
  synth.add_argument("--size", type=int, default=2000, help="number of distinct sentences")
  synth.add_argument("--seed", type=int, default=0)
  synth.add_argument("--workers", type=int, default=0, help="processes (0: one per core)")
  synth.add_argument("--sample-rate", type=int, default=16000)
  synth.add_argument("--vocab-size", type=int, default=1000, help="sentencepiece vocabulary")
  synth.set_defaults(run=_data_synth)

  qa = data_commands.add_parser("qa", help="text corpus of English questions and answers "
                                "(response model, data.task mt)")
  qa.add_argument("--out", required=True, help="output corpus directory")
  qa.add_argument("--size", type=int, default=20000, help="number of distinct questions")
  qa.add_argument("--seed", type=int, default=0)
  qa.add_argument("--vocab-size", type=int, default=1000, help="sentencepiece vocabulary")
  qa.set_defaults(run=_data_qa)

  prep = data_commands.add_parser("prepare", help="import a real corpus into manifest + TFDS")
  prep.add_argument("--format", required=True,
                    choices=["librispeech", "mustc", "covost", "tsv", "fsdd", "ljspeech"])
  prep.add_argument("--src", required=True, help="path of the corpus in its own layout")
  prep.add_argument("--out", required=True, help="output corpus directory")
  prep.add_argument("--sample-rate", type=int, default=16000)
  prep.add_argument("--on-bad-audio", choices=["error", "skip"], default="error",
                    help="stop at the first unusable file, or skip it and count it")
  prep.add_argument("--vocab-size", type=int, default=1000, help="sentencepiece vocabulary")
  prep.add_argument("--src-lang", default=None, help="spoken language (tsv: en, covost: from "
                    "the file names)")
  prep.add_argument("--tgt-lang", default=None, help="translation language (tsv: de)")
  prep.add_argument("--workers", type=int, default=0, help="processes (0: one per core)")
  prep.set_defaults(run=_data_prepare)

  train = commands.add_parser("train", help="train a model (resumes from the workdir)")
  train.add_argument("--config", required=True, help="configs/F.py:VARIANT or F:VARIANT")
  train.add_argument("--workdir", required=True, help="checkpoints, logs, config.json")
  train.set_defaults(run=_train, takes_overrides=True)

  info = commands.add_parser("info", help="parameter counts per module")
  info.add_argument("--config", required=True, help="configs/F.py:VARIANT or F:VARIANT")
  info.set_defaults(run=_info, takes_overrides=True)

  evaluate = commands.add_parser("eval", help="decode a corpus split and score it (BLEU, chrF, "
                                 "WER, CER, accuracy) into W/eval_<split>.json")
  _decoding_args(evaluate)
  evaluate.add_argument("--split", default="test")
  evaluate.add_argument("--limit", type=int, default=None, help="first N utterances only")
  evaluate.add_argument("--vocoder", default=None, help="TTS workdirs: griffin_lim (default) "
                        "or a vocoder workdir")
  evaluate.add_argument("--asr", default=None, help="TTS workdirs: an ASR workdir of the same "
                        "language for the intelligibility round trip (CER/WER)")
  evaluate.add_argument("--emotion", default=None, help="TTS workdirs: an emotion classifier "
                        "workdir for the emotion round trip")
  evaluate.set_defaults(run=_eval)

  for name, task, what in (("translate", "st", "translation"), ("transcribe", "asr",
                                                                 "transcript")):
    sub = commands.add_parser(name, help=f"print the {what} of each audio file, one per line")
    _decoding_args(sub, workdir_required=False)
    sub.add_argument("--model", default=None, help="an export of `st-jax export` instead of a "
                     "workdir (runs without the model code)")
    sub.add_argument("files", nargs="+", help="wav/flac/ogg files (any rate, mixed to mono)")
    sub.add_argument("--chunk-seconds", type=float, default=None,
                     help="long audio is decoded in windows of this length (default: the "
                     "model's data.max_frames)")
    sub.add_argument("--overlap-seconds", type=float, default=2.0,
                     help="overlap of consecutive windows (their texts are stitched)")
    sub.set_defaults(run=_speech_to_text(task))

  plan = commands.add_parser("plan", help="compile the train step for a TPU/GPU topology ahead "
                             "of time: memory, FLOPs, collectives, step time, fit")
  plan.add_argument("--config", required=True, help="configs/F.py:VARIANT or F:VARIANT")
  plan.add_argument("--topology", required=True,
                    help="v5e:16x16, v5p:8x8x8, v4:4x4x4, v6e:8x8, h100:8x8, cpu:8")
  plan.add_argument("--mesh", default=None, help="data=..,fsdp=..,tensor=.. (default: config)")
  plan.add_argument("--batch-size", type=int, default=None, help="global utterances per step")
  plan.add_argument("--frames", type=int, default=None, help="frames per utterance (default: "
                    "data.max_frames)")
  plan.add_argument("--json", default=None, help="also write the report to this file")
  plan.set_defaults(run=_plan, takes_overrides=True)

  from serving import cli as serving_cli  # pylint: disable=g-import-not-at-top
  export = commands.add_parser("export", help="write a self-contained jax.export directory "
                               "(functions per length bucket, weights, tokenizer, manifest)")
  serving_cli.add_export_arguments(export)
  export.set_defaults(run=serving_cli.run_export)
  serve = commands.add_parser("serve", help="serve an export over HTTP with dynamic batching")
  serving_cli.add_serve_arguments(serve)
  serve.set_defaults(run=serving_cli.run_serve)

  synth_cmd = commands.add_parser("synthesize", help="speak a text with a TTS workdir into a "
                                  "16-bit wav")
  synth_cmd.add_argument("--workdir", required=True, help="a TTS workdir (tts config)")
  synth_cmd.add_argument("--text", required=True, help="the text to speak")
  synth_cmd.add_argument("--out", required=True, help="output .wav (16-bit, the model's rate)")
  synth_cmd.add_argument("--lang", default=None, help="language (default: the model's first)")
  synth_cmd.add_argument("--emotion", default="neutral", help="neutral | happy | sad | angry")
  synth_cmd.add_argument("--speaker", default=None, help="speaker id or name (default: the "
                         "language's first training speaker)")
  synth_cmd.add_argument("--rate", type=float, default=1.0, help="speaking rate (2 = twice "
                         "as fast)")
  synth_cmd.add_argument("--pitch-shift", type=float, default=0.0, help="semitones")
  synth_cmd.add_argument("--energy-scale", type=float, default=1.0, help="loudness factor")
  synth_cmd.add_argument("--vocoder", default="griffin_lim", help="griffin_lim or a vocoder "
                         "workdir")
  synth_cmd.add_argument("--step", type=int, default=None, help="checkpoint step (default: "
                         "latest)")
  synth_cmd.set_defaults(run=_synthesize)

  s2st = commands.add_parser("s2st", help="speech-to-speech translation: an ST workdir, then a "
                             "TTS workdir of its target language; prints the translation")
  s2st.add_argument("--workdir", required=True, help="an end-to-end ST workdir (st_conformer)")
  s2st.add_argument("--tts-workdir", required=True, help="a TTS workdir speaking the ST "
                    "model's target language")
  s2st.add_argument("input", help="source speech (wav/flac/ogg, any rate, mixed to mono)")
  s2st.add_argument("--out", required=True, help="output .wav of the translated speech")
  s2st.add_argument("--vocoder", default="griffin_lim", help="griffin_lim or a vocoder workdir")
  s2st.add_argument("--emotion", default=None, help="neutral | happy | sad | angry (default: "
                    "recognised with --emotion-workdir, else neutral)")
  s2st.add_argument("--emotion-workdir", default=None, help="emotion classifier of the source "
                    "language: the input's emotion is spoken when --emotion is not given")
  s2st.add_argument("--speaker", default=None, help="TTS speaker id or name (default: the "
                    "target language's first training speaker)")
  s2st.add_argument("--rate", type=float, default=1.0, help="speaking rate (2 = twice as fast)")
  s2st.add_argument("--beam", type=int, default=4, help="ST beam size (1 = greedy)")
  s2st.add_argument("--step", type=int, default=None, help="ST checkpoint step (default: "
                    "latest)")
  s2st.set_defaults(run=_s2st)

  for name in _PLANNED:
    sub = commands.add_parser(name, help=f"(planned: {_PLANNED[name]})")
    sub.set_defaults(run=_not_yet(name), takes_any_arguments=True)
  return parser


def main(argv=None) -> int:
  parser = build_parser()
  args, unknown = parser.parse_known_args(argv)
  args.overrides = [u for u in unknown if u.startswith("--config.")]
  rest = [u for u in unknown if not (getattr(args, "takes_overrides", False)
                                     and u.startswith("--config."))]
  if rest and not getattr(args, "takes_any_arguments", False):
    parser.error(f"unrecognized arguments: {' '.join(rest)}")
  try:
    args.run(args)
  except UserError as e:
    print(f"st-jax {args.command}: error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print(f"st-jax {args.command}: interrupted", file=sys.stderr)
    return 130
  return 0


if __name__ == "__main__":
  sys.exit(main())
