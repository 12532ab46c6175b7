"""`make bench`: runs the benchmarks, writes ``<out>/<name>.json`` each, regenerates BENCHMARKS.md.

  python -m bench.run [--quick] [--only NAME,...] [--out bench/results] [--markdown BENCHMARKS.md]

--quick: tiny shapes and 2 repeats (about 3 minutes; what tests/test_bench.py runs). Without
it the full suite takes about 30 minutes on a 2-core CPU. Benchmarks run in the order below
(pipeline and mfu read the train_step result of the same run when there is one). One
benchmark failing is reported and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback

from bench import common
from bench import report

BENCHMARKS = ("train_step", "mfu", "decoding", "frontend", "pipeline", "scaling", "tts",
              "server")
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def run_one(name: str, ctx: common.Context, machine: dict) -> dict:
  """Runs benchmark `name`, writes its JSON and returns the result."""
  module = importlib.import_module(f"bench.{name}")
  common.log(f"=== {name}: {module.TITLE} ({'quick' if ctx.quick else 'full'})")
  start = time.perf_counter()
  result = module.run(ctx)
  result = dict(name=name, quick=ctx.quick, machine=machine, **result,
                elapsed_s=round(time.perf_counter() - start, 1))
  path = common.write_json(ctx.out_dir, name, result)
  ctx.results[name] = result
  for r in result["rows"]:
    common.log(f"{name}: {r['label']}: ours {r['ours']} {r['unit']}, peer {r['peer']}, "
               f"ratio {r['ratio']}, goal {r['goal'] or '-'} met {r['met']}")
  common.log(f"=== {name} done in {result['elapsed_s']:.0f} s -> {path}")
  return result


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="tiny shapes, few repeats")
  parser.add_argument("--only", default="", help=f"comma-separated subset of {BENCHMARKS}")
  parser.add_argument("--out", default=DEFAULT_OUT, help="results folder (JSON, plots)")
  parser.add_argument("--markdown", default=report.DEFAULT_MARKDOWN,
                      help="report regenerated from every JSON in --out")
  args = parser.parse_args(argv)
  names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
  unknown = sorted(set(names) - set(BENCHMARKS))
  if unknown:
    parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
  if common.peer_modules() is None:
    common.log(f"torch/transformers not importable: {common.PEER_MISSING}")
  ctx = common.Context(quick=args.quick, out_dir=args.out,
                       results=common.read_results(args.out))
  machine = common.machine_info()
  common.log(f"machine: {machine['cpu']}, {machine['usable_cores']} cores, {machine['device']}")
  start, failed = time.perf_counter(), []
  for name in [n for n in BENCHMARKS if n in names]:
    try:
      run_one(name, ctx, machine)
    except Exception:  # pylint: disable=broad-except  (report it, run the rest)
      traceback.print_exc()
      common.log(f"=== {name} FAILED (see the traceback above)")
      failed.append(name)
  common.log(f"all done in {time.perf_counter() - start:.0f} s"
             + (f"; failed: {', '.join(failed)}" if failed else ""))
  report.write_report(args.out, args.markdown)
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
