"""Load test of `st-jax serve`: throughput and latency with and without batching, and a soak.

  python -m serving.loadtest --model DIR [--seconds 10] [--concurrency 1,4,16,64]
  python -m serving.loadtest --model DIR --soak-seconds 600

The first form starts a server with --max-batch 1 and one with --max-batch 8, drives each with
`run_load` at every concurrency (threads + urllib, closed loop: each thread sends its next
request when the previous one is answered) and prints requests/s, p50 and p99 latency, errors
by status, and the batching speedup at concurrency 16 = throughput(8) / throughput(1). The soak
mixes valid and invalid requests (empty, text/plain, garbage, NaN audio) and checks that no
request got a 5xx or a broken connection and how much the server's RSS grew after its first
tenth. Audio is synthetic (tones and noise) sized to the export's buckets unless --wav is given;
a synthesize export gets JSON texts of its own letters (`synthetic_texts`) and, in the soak,
bad JSON, non-UTF-8, empty text and unknown emotions.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Sequence

import numpy as np
import soundfile as sf

from serving import artifact

SERVER_COMMAND = (sys.executable, "-m", "serving.server")


def post_raw(url: str, body: bytes, content_type: str = "audio/wav",
             timeout: float = 120.0) -> tuple[int, dict, bytes]:
  """POST ``body`` -> (status, response headers (lower-case names), body bytes); status 0 and
  the reason as the body when the connection failed."""
  request = urllib.request.Request(url, data=body, method="POST",
                                   headers={"Content-Type": content_type})
  try:
    with urllib.request.urlopen(request, timeout=timeout) as response:
      return response.status, {k.lower(): v for k, v in response.headers.items()}, \
          response.read()
  except urllib.error.HTTPError as e:
    return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
  except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
    return 0, {}, f"connection failed: {e}".encode()


def post(url: str, body: bytes, content_type: str = "audio/wav",
         timeout: float = 120.0) -> tuple[int, dict]:
  """POST ``body`` -> (status, decoded JSON body); status 0 when the connection failed. A
  non-JSON answer (audio) gives {"bytes": its size, "content_type": ...}."""
  status, headers, data = post_raw(url, body, content_type, timeout)
  if status == 0:
    return 0, {"error": data.decode()}
  if status == 200 and not headers.get("content-type", "").startswith("application/json"):
    return status, {"bytes": len(data), "content_type": headers.get("content-type")}
  try:
    return status, json.loads(data or b"{}")
  except ValueError:
    return status, {"error": data.decode("utf-8", "replace")}


def get(url: str, timeout: float = 10.0) -> tuple[int, str]:
  """GET -> (status, text); status 0 when the connection failed."""
  try:
    with urllib.request.urlopen(url, timeout=timeout) as response:
      return response.status, response.read().decode("utf-8")
  except urllib.error.HTTPError as e:
    return e.code, e.read().decode("utf-8", "replace")
  except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
    return 0, str(e)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class ServerProcess:
  """`st-jax serve` in a subprocess on a free port (``command`` runs serving.server's CLI)."""

  def __init__(self, model: str, *args: str, command: Sequence[str] = SERVER_COMMAND,
               env: dict | None = None, log_path: str | None = None):
    self.port = free_port()
    self.url = f"http://127.0.0.1:{self.port}"
    self.log = open(log_path or os.devnull, "wb")   # pylint: disable=consider-using-with
    self.process = subprocess.Popen(    # pylint: disable=consider-using-with
        [*command, "--model", model, "--port", str(self.port), *args],
        stdout=self.log, stderr=subprocess.STDOUT, env=env)

  def wait_ready(self, timeout: float = 600.0) -> dict:
    """Polls GET /healthz until 200 -> its JSON; RuntimeError if the process dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      if self.process.poll() is not None:
        raise RuntimeError(f"server exited with status {self.process.returncode} before ready")
      status, text = get(self.url + "/healthz", timeout=5)
      if status == 200:
        return json.loads(text)
      time.sleep(0.25)
    raise RuntimeError(f"server not ready after {timeout:g} s")

  def rss_bytes(self) -> int:
    """Resident memory of the server process (Linux /proc)."""
    with open(f"/proc/{self.process.pid}/status", encoding="ascii") as f:
      for line in f:
        if line.startswith("VmRSS:"):
          return int(line.split()[1]) * 1024
    return 0

  def stop(self, timeout: float = 60.0) -> int:
    """SIGTERM, wait -> exit status (kills it after ``timeout``)."""
    if self.process.poll() is None:
      self.process.send_signal(signal.SIGTERM)
      try:
        self.process.wait(timeout)
      except subprocess.TimeoutExpired:
        self.process.kill()
        self.process.wait()
    self.log.close()
    return self.process.returncode


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
  buffer = io.BytesIO()
  sf.write(buffer, samples, rate, format="WAV", subtype=subtype)
  return buffer.getvalue()


def synthetic_wavs(rate: int, max_seconds: float, count: int = 8, seed: int = 0) -> list[bytes]:
  """``count`` WAV files of tones in noise, 0.5 s .. 0.9 max_seconds long."""
  rng = np.random.default_rng(seed)
  out = []
  for seconds in np.linspace(0.5, max(0.5, 0.9 * max_seconds), count):
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * rng.uniform(150, 900) * t)
    out.append(wav_bytes((tone + 0.01 * rng.standard_normal(len(t))).astype(np.float32), rate))
  return out


def synthetic_texts(manifest: dict, count: int = 8, seed: int = 0) -> list[tuple[bytes, str]]:
  """``count`` /v1/synthesize bodies: 3-8 words of the model's own letters (a character
  model), or German sentences (a phoneme model, spoken through espeak-ng)."""
  rng = np.random.default_rng(seed)
  table = manifest["tts"]["symbols"]
  letters = [c for c in table["table"] if c.isalpha()] if table["kind"] == "characters" else []
  out = []
  for i in range(count):
    if letters:
      text = " ".join("".join(rng.choice(letters, rng.integers(2, 6)))
                      for _ in range(rng.integers(3, 9)))
    else:
      text = ["Guten Morgen.", "Wie geht es dir heute?", "Das Wetter ist schön."][i % 3]
    out.append((json.dumps({"text": text}).encode(), "application/json"))
  return out


def invalid_text_bodies() -> list[tuple[bytes, str]]:
  """/v1/synthesize bodies every server must answer with a 4xx."""
  return [(b'{"text": ', "application/json"), (b'{"text": "\xff"}', "application/json"),
          (b'{"text": " "}', "application/json"), (b'{"text": "a", "emotion": "x"}',
                                                   "application/json"), (b"hi", "text/plain")]


def invalid_bodies(rate: int) -> list[tuple[bytes, str]]:
  """(body, content type) pairs every server must answer with a 4xx."""
  nan = np.zeros(rate // 4, np.float32)
  nan[100] = np.nan
  return [(b"", "audio/wav"), (b"hello", "text/plain"), (os.urandom(2048), "audio/wav"),
          (wav_bytes(nan, rate, "FLOAT"), "audio/wav")]


def run_load(url: str, wavs: Sequence, concurrency: int, seconds: float) -> dict:
  """Closed-loop load: ``concurrency`` threads POST bodies from ``wavs`` (bytes, or (bytes,
  content type)) to ``url`` for ``seconds`` -> {requests, throughput (successful requests/s),
  p50, p99 (s, successful requests), errors {status: count}} (status 0 = connection failed)."""
  bodies = [w if isinstance(w, tuple) else (w, "audio/wav") for w in wavs]
  latencies: list[float] = []
  statuses: dict[int, int] = {}
  lock = threading.Lock()
  deadline = time.monotonic() + seconds

  def worker(index: int) -> None:
    n = index
    while time.monotonic() < deadline:
      body, content_type = bodies[n % len(bodies)]
      n += concurrency
      start = time.perf_counter()
      status, _ = post(url, body, content_type)
      elapsed = time.perf_counter() - start
      with lock:
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
          latencies.append(elapsed)

  start = time.perf_counter()
  threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  elapsed = time.perf_counter() - start
  ok = np.asarray(latencies) if latencies else np.asarray([np.nan])
  return {"requests": sum(statuses.values()), "throughput": len(latencies) / elapsed,
          "p50": float(np.percentile(ok, 50)), "p99": float(np.percentile(ok, 99)),
          "errors": {s: c for s, c in sorted(statuses.items()) if s != 200}}


def _endpoint(model: str) -> tuple[str, dict]:
  manifest = artifact.read_manifest(model)
  return f"/v1/{manifest['task']}", manifest


def benchmark(model: str, wavs: Sequence[bytes], concurrency: Sequence[int], seconds: float,
              max_batches: Sequence[int] = (1, 8)) -> dict:
  """{max_batch: {concurrency: run_load result}} with one server per max_batch."""
  path, _ = _endpoint(model)
  results = {}
  for max_batch in max_batches:
    server = ServerProcess(model, "--max-batch", str(max_batch))
    try:
      ready = server.wait_ready()
      print(f"max-batch {max_batch}: ready (warm-up {ready['warm_up_seconds']} s)", flush=True)
      run_load(server.url + path, wavs, max(concurrency), min(seconds, 3.0))   # settle
      results[max_batch] = {}
      for c in concurrency:
        results[max_batch][c] = run_load(server.url + path, wavs, c, seconds)
        r = results[max_batch][c]
        print(f"  concurrency {c:3d}: {r['throughput']:7.2f} req/s  p50 {r['p50'] * 1e3:7.1f} ms"
              f"  p99 {r['p99'] * 1e3:7.1f} ms  errors {r['errors']}", flush=True)
    finally:
      print(f"  stopped: exit status {server.stop()}", flush=True)
  return results


def soak(model: str, wavs: Sequence[bytes], seconds: float, concurrency: int = 8) -> dict:
  """Mixed valid/invalid load for ``seconds`` -> request counts by status, 5xx and broken
  connections (``server_errors``), the server's RSS sampled every second (MiB) and its growth
  over the second half (a leak grows steadily; allocator warm-up levels off early)."""
  path, manifest = _endpoint(model)
  mixed = [*wavs, *(invalid_text_bodies() if manifest["task"] == "synthesize" else
                     invalid_bodies(manifest["sample_rate"]))]
  server = ServerProcess(model, "--max-batch", "8")
  rss = []
  try:
    server.wait_ready()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
      load = pool.submit(run_load, server.url + path, mixed, concurrency, seconds)
      while not load.done():
        rss.append(server.rss_bytes() / 2**20)
        time.sleep(1.0)
      result = load.result()
  finally:
    status = server.stop()
  half = rss[len(rss) // 2:] or [0.0]
  return {"requests": result["requests"], "throughput": result["throughput"],
          "statuses": {200: result["requests"] - sum(result["errors"].values()),
                       **result["errors"]},
          "server_errors": sum(c for s, c in result["errors"].items() if s >= 500 or s == 0),
          "rss_mib": [round(r, 1) for r in rss], "rss_growth_second_half_mib": half[-1] - half[0],
          "exit_status": status}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m serving.loadtest", description=__doc__)
  parser.add_argument("--model", required=True, help="export directory")
  parser.add_argument("--wav", nargs="*", default=None, help="audio files to send")
  parser.add_argument("--seconds", type=float, default=10.0, help="per concurrency level")
  parser.add_argument("--concurrency", default="1,4,16,64")
  parser.add_argument("--soak-seconds", type=float, default=0.0,
                      help="run the soak instead of the throughput benchmark")
  parser.add_argument("--max-rss-growth-mib", type=float, default=50.0,
                      help="soak fails if RSS grows more over its second half")
  args = parser.parse_args(argv)
  _, manifest = _endpoint(args.model)
  rate = manifest["sample_rate"]
  if args.wav:
    wavs = []
    for path in args.wav:
      with open(path, "rb") as f:
        wavs.append(f.read())
  else:
    wavs = synthetic_texts(manifest) if manifest["task"] == "synthesize" else synthetic_wavs(
        rate, max(f.get("max_samples", 0) for f in manifest["functions"]) / rate)
  if args.soak_seconds:
    result = soak(args.model, wavs, args.soak_seconds)
    print(json.dumps(result, indent=1))
    passed = (result["server_errors"] == 0 and result["exit_status"] == 0
              and result["rss_growth_second_half_mib"] <= args.max_rss_growth_mib)
    print("soak " + ("passed" if passed else "FAILED"))
    return 0 if passed else 1
  levels = [int(c) for c in args.concurrency.split(",")]
  results = benchmark(args.model, wavs, levels, args.seconds)
  if 16 in levels and {1, 8} <= set(results):
    speedup = results[8][16]["throughput"] / max(results[1][16]["throughput"], 1e-9)
    print(f"batching speedup at concurrency 16 (max-batch 8 vs 1): {speedup:.2f}x")
  return 0


if __name__ == "__main__":
  sys.exit(main())
