"""Serving: `st-jax serve` throughput and latency with and without dynamic batching, and a soak.

Model: st_conformer:tiny trained 2 steps on a tone corpus made here (bench/pipeline.py
`tone_corpus`), exported for `translate` with beam 4 and length buckets of 2 and 4 s
(`serving.export.export_model`). The weights are barely trained, so requests decode to their
bucket's full output length L (the slowest case; the detail line lists the lengths).

  probe        the exported function in this process (no HTTP): output lengths, and one call
               at batch 1 vs batch 8 on the longest bucket (what batching can gain at most)
  throughput   serving.loadtest.benchmark: one server with --max-batch 1 and one with
               --max-batch 8 (default --max-wait-ms 20), each driven by `run_load` (closed loop:
               C client threads, each sending its next WAV when the previous one is answered)
               at C = 1, 4, 16, 64 for 6 s each -> answered requests/s, p50 and p99 latency
  speedup      throughput(max-batch 8) / throughput(max-batch 1) at C = 16 (goal >= 4x)
  soak         serving.loadtest.soak, 120 s: valid WAVs mixed with invalid bodies (empty,
               text/plain, random bytes, NaN samples) at C = 8 -> 5xx and broken connections
               (goal 0), the server's RSS sampled every second and its growth over the second
               half (goal <= 50 MiB)
  synthesize   full runs only: tts:tiny (characters, learned durations) trained 2 steps on the
               same corpus, exported for /v1/synthesize with Griffin-Lim
               (`serving.tts_export.export_synthesize`), one --max-batch 8 server, JSON texts
               at C = 1 and 8 -> audio seconds per second (requests/s x mean audio per text)

--quick: a 32-dim micro shape, beam 2, one 2 s bucket, C = 1 and 16 for 2 s, a 5 s soak.
The client threads run in this process and share the 2 cores with the server. The servers use
an XLA compilation cache in the benchmark's temp directory, so the max-batch 8 server and the
soak server load the executables the first server compiled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time

from bench import common

NAME = "server"
TITLE = "HTTP serving: dynamic batching throughput, latency and soak"
GOAL_SPEEDUP = 4.0
MAX_RSS_GROWTH_MIB = 50.0
CONCURRENCY = (1, 4, 16, 64)
QUICK_CONCURRENCY = (1, 16)
BUCKETS = (2.0, 4.0)
MICRO = ["model.d_model=32", "model.num_heads=4", "model.encoder.num_layers=1",
         "model.encoder.ffn_dim=64", "model.decoder.num_layers=1", "model.decoder.ffn_dim=64",
         "model.frontend.channels=8"]
TRAIN = ["data.batch_size=8", "data.num_buckets=1", "data.max_frames=400", "data.overlong=clip",
         "train.num_steps=2", "train.eval_split=", "train.checkpoint_every=2",
         "train.log_every=1", "train.async_checkpointing=False"]
TEXTS = ("Red blue green house.", "Seven small apples in the garden.", "Morning light.",
         "The teacher and the child walk to the city market.")
SYNTHESIS_CONCURRENCY = (1, 8)
LIMIT = ("the exported function itself takes {ratio:.1f}x the time of one row for 8 rows on "
         "this CPU ({seconds:g} s of audio, detail line): its beam search costs the same per row "
         "at batch 1 and 8, so batching saves only the per-request overheads (HTTP, queueing, "
         "dispatch), not model time; and the client threads share the 2 cores with the server")


@contextlib.contextmanager
def _environment(**values: str):
  """os.environ updated for the servers started inside (restored afterwards)."""
  old = {k: os.environ.get(k) for k in values}
  os.environ.update(values)
  try:
    yield
  finally:
    for key, value in old.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value


def _train_two_steps(spec: str, corpus: str, workdir: str, *overrides: str) -> None:
  from st_jax import config_lib  # pylint: disable=g-import-not-at-top
  from st_jax import train as train_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.load_config(spec, [f"data.corpus_dir={corpus}", *TRAIN, *overrides])
  train_lib.train_and_evaluate(config, workdir)


def train_and_export(root: str, quick: bool, beam: int, buckets) -> tuple[str, dict]:
  """Tone corpus (``root``/corpus) -> 2 training steps -> translate export; returns (export
  dir, its manifest)."""
  from bench.pipeline import tone_corpus  # pylint: disable=g-import-not-at-top
  from serving import export  # pylint: disable=g-import-not-at-top
  corpus, workdir, out = (os.path.join(root, d) for d in ("corpus", "workdir", "export"))
  tone_corpus(corpus, 20 if quick else 40)
  _train_two_steps("st_conformer:tiny", corpus, workdir, "data.vocab_size=120",
                   *(MICRO if quick else []))
  manifest = export.export_model(workdir, "translate", out, beam_size=beam,
                                 length_buckets=buckets)
  return out, manifest


def synthesis_load(root: str, levels, seconds: float) -> dict:
  """tts:tiny (characters, learned durations) trained 2 steps on ``root``/corpus -> a
  synthesize export with Griffin-Lim -> one --max-batch 8 server driven with JSON texts ->
  {"levels": {C: run_load result}, "audio_s": seconds of audio per text, "warm_up_s"}."""
  import io  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  from serving import loadtest, tts_export  # pylint: disable=g-import-not-at-top
  workdir, out = os.path.join(root, "tts_workdir"), os.path.join(root, "tts_export")
  _train_two_steps("tts:tiny", os.path.join(root, "corpus"), workdir, "data.src_lang=en",
                   "data.tts_symbols=characters", "model.tts.durations=learned")
  tts_export.export_synthesize(workdir, out, "griffin_lim", symbol_buckets=(64,),
                               frame_buckets=(400,))
  bodies = [(json.dumps({"text": t}).encode(), "application/json") for t in TEXTS]
  server = loadtest.ServerProcess(out, "--max-batch", "8")
  try:
    warm_up = server.wait_ready()["warm_up_seconds"]
    audio_s = []
    for body, content_type in bodies:
      status, _, wav = loadtest.post_raw(server.url + "/v1/synthesize", body, content_type)
      if status != 200:
        raise RuntimeError(f"/v1/synthesize answered {status}: {wav[:300]!r}")
      audio_s.append(sf.info(io.BytesIO(wav)).duration)
    results = {c: loadtest.run_load(server.url + "/v1/synthesize", bodies, c, seconds)
               for c in levels}
  finally:
    server.stop()
  return {"levels": results, "audio_s": audio_s, "warm_up_s": warm_up}


def _synthesis_rows(synthesis: dict) -> list[dict]:
  mean_audio = sum(synthesis["audio_s"]) / len(synthesis["audio_s"])
  rows = []
  for c, r in synthesis["levels"].items():
    errors = f", errors {r['errors']}" if r["errors"] else ""
    rows.append(common.row(
        f"synthesize (tts:tiny + Griffin-Lim), max-batch 8, concurrency {c}: "
        f"{r['throughput']:.2f} req/s (p50 {r['p50'] * 1e3:.0f} ms, p99 {r['p99'] * 1e3:.0f} ms"
        f"{errors})", "audio s/s", r["throughput"] * mean_audio,
        peer_note="no peer (server alone)"))
  return rows


def probe(model: str, wavs, repeats: int) -> tuple[list[int], tuple[float, float, float]]:
  """In this process, without HTTP: (tokens before EOS that the export decodes for each of
  ``wavs`` at batch 1, (longest bucket s, median s of one batch-1 call on its longest input,
  of one batch-8 call))."""
  import io  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  from serving import runtime  # pylint: disable=g-import-not-at-top
  artifact = runtime.load_artifact(model, batch_sizes=(1, 8))
  run = artifact._run  # pylint: disable=protected-access  (tokens, not detokenized text)
  eos = artifact.manifest["special_ids"]["eos"]
  lengths = []
  for wav in wavs:
    samples = sf.read(io.BytesIO(wav), dtype="float32")[0]
    tokens = run(artifact.bucket_for(len(samples)), [samples], 1)[0][0]
    ends = np.flatnonzero(tokens == eos)
    lengths.append(int(ends[0]) if ends.size else len(tokens))
  bucket = len(artifact.max_samples) - 1
  x = 0.1 * np.random.default_rng(0).standard_normal(artifact.max_samples[bucket])
  x = x.astype(np.float32)
  timed = common.interleave({b: lambda b=b: run(bucket, [x] * b, b) for b in (1, 8)}, repeats)
  return lengths, (artifact.max_samples[bucket] / artifact.sample_rate, timed[1]["median"],
                   timed[8]["median"])


def _load_rows(results: dict, concurrency) -> list[dict]:
  rows = []
  for max_batch, levels in results.items():
    for c in concurrency:
      r = levels[c]
      errors = f", errors {r['errors']}" if r["errors"] else ""
      rows.append(common.row(
          f"max-batch {max_batch}, concurrency {c}: throughput (p50 {r['p50'] * 1e3:.0f} ms, "
          f"p99 {r['p99'] * 1e3:.0f} ms{errors})", "req/s", r["throughput"],
          peer_note="no peer (server alone)"))
  return rows


def _rounded(by_level: dict) -> dict:
  """{concurrency: run_load result} -> the same with str keys and 4-digit floats (JSON)."""
  return {str(c): {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
          for c, r in by_level.items()}


def run(ctx: common.Context) -> dict:
  from serving import loadtest  # pylint: disable=g-import-not-at-top
  seconds, soak_s = (2.0, 5.0) if ctx.quick else (6.0, 120.0)
  beam, levels = (2, QUICK_CONCURRENCY) if ctx.quick else (4, CONCURRENCY)
  buckets = BUCKETS[:1] if ctx.quick else BUCKETS
  root = tempfile.mkdtemp(prefix="bench_server_")
  try:
    start = time.perf_counter()
    model, manifest = train_and_export(root, ctx.quick, beam, buckets)
    prepare_s = time.perf_counter() - start
    rate = manifest["sample_rate"]
    wavs = loadtest.synthetic_wavs(rate, manifest["functions"][-1]["max_samples"] / rate)
    lengths, calls = probe(model, wavs, 2)
    common.log(f"server: exported in {prepare_s:.0f} s, outputs of {lengths} tokens; load "
               f"{seconds:g} s per level at concurrency {levels}, max-batch 1 and 8")
    cache = dict(JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=os.path.join(root, "xla_cache"),
                 JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.5",
                 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    with _environment(**cache):
      start = time.perf_counter()
      load = loadtest.benchmark(model, wavs, levels, seconds)
      load_s = time.perf_counter() - start
      common.log(f"server: soak {soak_s:g} s")
      soak = loadtest.soak(model, wavs, soak_s)
      synthesis = None
      if not ctx.quick:
        common.log(f"server: synthesize, {seconds:g} s at concurrency {SYNTHESIS_CONCURRENCY}")
        synthesis = synthesis_load(root, SYNTHESIS_CONCURRENCY, seconds)
  finally:
    shutil.rmtree(root, ignore_errors=True)
  speedup = load[8][16]["throughput"] / max(load[1][16]["throughput"], 1e-9)
  answered = 1.0 - soak["server_errors"] / max(soak["requests"], 1)
  growth = soak["rss_growth_second_half_mib"]
  rss = soak["rss_mib"] or [0.0]
  rows = _load_rows(load, levels) + [
      common.row("batching speedup at concurrency 16 (max-batch 8 / max-batch 1)", "x",
                 speedup, goal=f">= {GOAL_SPEEDUP:g}x", met=speedup >= GOAL_SPEEDUP,
                 peer_note="max-batch 1 = 1x",
                 limit=LIMIT.format(ratio=calls[2] / calls[1], seconds=calls[0])),
      common.row(f"soak {soak_s:.0f} s, valid + invalid requests: answered without 5xx or "
                 f"broken connection ({soak['requests']} requests, {soak['server_errors']} "
                 f"failed)", "%", answered, goal="100 % (zero 5xx)",
                 met=soak["server_errors"] == 0 and soak["exit_status"] == 0,
                 peer_note="no peer (server alone)",
                 limit=f"statuses {soak['statuses']}, exit status {soak['exit_status']}"),
      common.row(f"soak: server RSS at the end (growth over the second half {growth:+.1f} MiB)",
                 "MiB", rss[-1], goal=f"growth <= {MAX_RSS_GROWTH_MIB:g} MiB",
                 met=growth <= MAX_RSS_GROWTH_MIB, peer_note="no peer (server alone)",
                 limit="RSS kept growing: a leak in the request path")]
  details = [
      f"model: {manifest['weights']['parameters']:,} parameters, beam {beam}, buckets "
      + ", ".join(f"{f['bucket_seconds']:g} s (L = {f['max_output_tokens']} tokens)"
                  for f in manifest["functions"])
      + f"; trained 2 steps, exported in {prepare_s:.0f} s (corpus, training, export)",
      f"requests: {len(wavs)} synthetic WAVs of 0.5..{0.9 * buckets[-1]:g} s (tones in noise), "
      f"sent in turn; they decode to {lengths} tokens before EOS",
      f"the exported function in this process (no HTTP), one call on {calls[0]:g} s of audio: "
      f"batch 1 {calls[1] * 1e3:.0f} ms, batch 8 {calls[2] * 1e3:.0f} ms = "
      f"{calls[2] / calls[1]:.1f}x the time for 8x the rows",
      f"load test (both servers, {len(levels)} levels of {seconds:g} s each, plus warm-up, "
      f"settling and drain) took {load_s:.0f} s",
      f"soak: {soak['requests']} requests at concurrency 8, statuses {soak['statuses']}, "
      f"{soak['throughput']:.1f} answered req/s, RSS {rss[0]:.0f} -> {rss[-1]:.0f} MiB "
      f"(max {max(rss):.0f}), server exit status {soak['exit_status']}"]
  if synthesis:
    rows += _synthesis_rows(synthesis)
    details.append(
        f"synthesize: tts:tiny (characters, learned durations) trained 2 steps on the same "
        f"corpus, exported with Griffin-Lim (symbol bucket 64, frame bucket 400), one "
        f"--max-batch 8 server (warm-up {synthesis['warm_up_s']:g} s); {len(TEXTS)} texts of "
        + ", ".join(f"{a:.2f}" for a in synthesis["audio_s"]) + " s of audio, sent in turn")
  else:
    details.append("synthesize: measured in full runs only (its TTS training and export "
                   "would double the quick run)")
  settings = dict(model="st_conformer:tiny" + (" (micro overrides)" if ctx.quick else ""),
                  beam=beam, buckets_s=list(buckets), concurrency=list(levels),
                  seconds_per_level=seconds, max_wait_ms=20, soak_seconds=soak_s,
                  soak_concurrency=8)
  measurements = {f"max_batch_{mb}": _rounded(by_level) for mb, by_level in load.items()}
  measurements.update(batching_speedup_c16=round(speedup, 3), output_tokens=lengths,
                      call_s_batch_1_vs_8=[round(v, 4) for v in calls[1:]],
                      soak={k: v for k, v in soak.items() if k != "rss_mib"})
  if synthesis:
    measurements["synthesize"] = {"audio_s": [round(a, 3) for a in synthesis["audio_s"]],
                                  **_rounded(synthesis["levels"])}
  return dict(title=TITLE, settings=settings, peer="none (max-batch 1 is the baseline)",
              rows=rows, measurements=measurements, details=details)
