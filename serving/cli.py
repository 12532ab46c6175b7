"""Command-line wiring of `st-jax export` and `st-jax serve` (also `python -m serving ...`).

`st_jax/cli.py` adds the two subcommands with `add_export_arguments` / `add_serve_arguments`
and runs `run_export` / `run_serve`; both modules stay light to import (jax, starlette and
uvicorn are imported when a command runs). Errors a user can cause print one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys

from serving.artifact import DEFAULT_BUCKETS, DEFAULT_FRAME_BUCKETS, DEFAULT_S2ST_SYMBOLS, \
    DEFAULT_SYMBOL_BUCKETS
from serving.errors import ServingError


def _floats(text: str) -> list[float]:
  try:
    return [float(x) for x in text.split(",") if x.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected comma-separated seconds, got {text!r}") from None


def _ints(text: str) -> list[int]:
  try:
    return [int(x) for x in text.split(",") if x.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _names(text: str) -> list[str]:
  return [x.strip() for x in text.split(",") if x.strip()]


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--workdir", required=True, help="trained workdir (config.json, "
                      "checkpoints/, assets/); s2st: the ST workdir")
  parser.add_argument("--task", required=True,
                      choices=["translate", "transcribe", "synthesize", "s2st"],
                      help="translate: an st workdir; transcribe: an asr workdir; synthesize: "
                      "a tts workdir; s2st: an st workdir and --tts-workdir")
  parser.add_argument("--out", required=True, help="export directory (an older export there "
                      "is replaced)")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
  parser.add_argument("--beam", type=int, default=4, help="beam size (1 = greedy)")
  parser.add_argument("--length-penalty", type=float, default=1.0,
                      help="GNMT alpha in ((5 + n) / 6) ** alpha")
  parser.add_argument("--ctc-weight", type=float, default=0.0,
                      help="joint CTC/attention weight (asr models with a CTC head)")
  parser.add_argument("--buckets", type=_floats, default=list(DEFAULT_BUCKETS),
                      help="audio length buckets in seconds, comma-separated (default: "
                      f"{','.join(f'{s:g}' for s in DEFAULT_BUCKETS)}); one function each")
  parser.add_argument("--platforms", type=_names, default=["cpu"],
                      help="comma-separated among cpu,cuda,rocm,tpu (cpu is always included)")
  speech = parser.add_argument_group("speech out (synthesize, s2st)")
  speech.add_argument("--tts-workdir", default=None, help="s2st: a character TTS workdir in "
                      "the ST target language")
  speech.add_argument("--tts-step", type=int, default=None, help="s2st: its checkpoint step")
  speech.add_argument("--vocoder", default="griffin_lim", help="griffin_lim or a vocoder "
                      "workdir")
  speech.add_argument("--symbol-buckets", type=_ints, default=list(DEFAULT_SYMBOL_BUCKETS),
                      help="synthesize: text lengths in symbols, comma-separated (default: "
                      f"{','.join(map(str, DEFAULT_SYMBOL_BUCKETS))})")
  speech.add_argument("--frame-buckets", type=_ints, default=list(DEFAULT_FRAME_BUCKETS),
                      help="speech lengths in frames, comma-separated (default: "
                      f"{','.join(map(str, DEFAULT_FRAME_BUCKETS))})")
  speech.add_argument("--max-symbols", type=int, default=DEFAULT_S2ST_SYMBOLS,
                      help="s2st: most characters of a translation spoken at once")


def run_export(args) -> None:
  """Exports and prints every file written (`st_jax.errors.UserError` on bad input)."""
  from st_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
  if args.task == "s2st" and not args.tts_workdir:
    raise ConfigError("export --task s2st needs --tts-workdir (a character TTS workdir in the "
                      "ST target language)")
  if args.task in ("synthesize", "s2st"):
    from serving import tts_export  # pylint: disable=g-import-not-at-top
    manifest = tts_export.export_synthesize(
        args.workdir, args.out, args.vocoder, args.symbol_buckets, args.frame_buckets,
        args.platforms, args.step) if args.task == "synthesize" else tts_export.export_s2st(
            args.workdir, args.tts_workdir, args.out, args.vocoder, args.buckets,
            args.frame_buckets, args.max_symbols, args.beam, args.length_penalty,
            args.platforms, args.step, args.tts_step)
    print(tts_export.describe(args.out, manifest))
    return
  from serving import export  # pylint: disable=g-import-not-at-top
  manifest = export.export_model(args.workdir, args.task, args.out, beam_size=args.beam,
                                 length_buckets=args.buckets, platforms=args.platforms,
                                 length_penalty=args.length_penalty,
                                 ctc_weight=args.ctc_weight, step=args.step)
  print(export.describe(args.out, manifest))


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--model", required=True, help="export directory (`st-jax export`)")
  parser.add_argument("--host", default="127.0.0.1")
  parser.add_argument("--port", type=int, default=8000)
  parser.add_argument("--max-batch", type=int, default=8,
                      help="most requests per model batch (compiled sizes: powers of two up "
                      "to it)")
  parser.add_argument("--max-wait-ms", type=float, default=20.0,
                      help="longest a request waits for others to join its batch")
  parser.add_argument("--max-body-bytes", type=int, default=10 * 1024 * 1024)
  parser.add_argument("--max-audio-seconds", type=float, default=None,
                      help="longest audio accepted (default and upper bound: the longest "
                      "exported bucket)")
  parser.add_argument("--graceful-seconds", type=float, default=30.0,
                      help="on SIGTERM, how long requests in flight may still take")
  parser.add_argument("--access-log", action="store_true", help="log every request")


def run_serve(args) -> None:
  """Serves until SIGTERM; a bad artifact or missing extra prints one line and exits 2."""
  try:
    from serving import server  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    print(f"st-jax serve: error: serving needs the optional extra [serve] (python module "
          f"{e.name!r} is not installed). Install it with: pip install -e '.[serve]'",
          file=sys.stderr)
    raise SystemExit(2) from None
  options = server.Options(
      model=args.model, host=args.host, port=args.port, max_batch=args.max_batch,
      max_wait_ms=args.max_wait_ms, max_body_bytes=args.max_body_bytes,
      max_audio_seconds=args.max_audio_seconds, graceful_seconds=args.graceful_seconds,
      access_log=args.access_log)
  try:
    server.serve(options)
  except ServingError as e:
    print(f"st-jax serve: error: {e}", file=sys.stderr)
    raise SystemExit(2) from None


def main(argv=None) -> int:
  """`python -m serving export|serve ...` (the same options as `st-jax export|serve`)."""
  parser = argparse.ArgumentParser(prog="python -m serving")
  commands = parser.add_subparsers(dest="command", required=True)
  add_export_arguments(commands.add_parser("export", help="export a trained workdir"))
  add_serve_arguments(commands.add_parser("serve", help="serve an export over HTTP"))
  args = parser.parse_args(argv)
  if args.command == "serve":
    try:
      run_serve(args)
    except SystemExit as e:
      return int(e.code or 0)
    return 0
  from st_jax.errors import UserError  # pylint: disable=g-import-not-at-top
  try:
    run_export(args)
  except UserError as e:
    print(f"python -m serving export: error: {e}", file=sys.stderr)
    return 2
  return 0
