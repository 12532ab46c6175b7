"""`st-jax serve` as a subprocess that cannot import st_jax: same text as the runtime, dynamic
batching under concurrent load, 4xx for bad requests while valid ones in flight succeed,
Prometheus metrics, and SIGTERM finishing in-flight requests then exiting 0."""

import concurrent.futures
import io
import pathlib
import threading
import time
import uuid

import numpy as np
import pytest
import soundfile as sf

from serving import export, metrics, runtime
from serving.loadtest import ServerProcess, free_port, get, invalid_bodies, post, run_load, \
    wav_bytes
from serving_helpers import shared_st_workdir, start_server

for _module in ("starlette", "uvicorn", "multipart"):
  pytest.importorskip(_module, reason="st-jax serve needs the [serve] extra: "
                      "pip install -e '.[serve]'")
import uvicorn  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position

from serving import server as server_lib  # noqa: E402  pylint: disable=g-import-not-at-top

BUCKET_SECONDS = 3.0   # holds every tone-corpus utterance
MAX_BODY = 300_000


@pytest.fixture(scope="module")
def model(tone_corpus, tmp_path_factory):
  """(export dir, test wav bodies) of the session's micro ST model."""
  workdir = shared_st_workdir(tmp_path_factory, tone_corpus)
  out = tmp_path_factory.mktemp("serve") / "st"
  export.export_model(workdir, "translate", str(out), beam_size=2,
                      length_buckets=(BUCKET_SECONDS,))
  wavs = sorted(pathlib.Path(tone_corpus, "audio").glob("test-*-en.wav"))[:4]
  return str(out), [w.read_bytes() for w in wavs]


def start(model_dir: str, tmp_path_factory, *args: str) -> ServerProcess:
  return start_server(model_dir, tmp_path_factory, "--max-body-bytes", str(MAX_BODY), *args)


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
  server = start(model[0], tmp_path_factory, "--max-batch", "8", "--max-wait-ms", "50")
  yield server
  server.stop()


def multipart(wav: bytes) -> tuple[bytes, str]:
  """(body, content type) of a multipart/form-data upload of ``wav`` as field 'file'."""
  boundary = uuid.uuid4().hex
  head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
          f"Content-Type: audio/wav\r\n\r\n")
  tail = f"\r\n--{boundary}--\r\n"
  return head.encode() + wav + tail.encode(), f"multipart/form-data; boundary={boundary}"


def metric_values(url: str) -> dict:
  status, text = get(url + "/metrics")
  assert status == 200
  return metrics.parse(text)


class SlowWarmUp(runtime.Artifact):
  """The real runtime logic around a model that answers the row length, warming up until
  ``release`` is set."""

  def __init__(self):   # pylint: disable=super-init-not-called
    self.task, self.sample_rate, self.min_samples = "translate", 16000, 2
    self.max_samples, self.max_seconds, self.batch_sizes = [16000], 1.0, (1, 2, 4)
    self.executables, self.release = runtime.Executables([]), threading.Event()

  def warm_up(self, batch_sizes=None):
    self.release.wait(60)
    return 0.0

  def run_batch(self, bucket, rows):
    return [str(len(r)) for r in rows]


def test_healthz_is_503_until_warm_up_finishes():
  fake = SlowWarmUp()
  port = free_port()
  app = server_lib.build_app(fake, server_lib.Options(model="-", port=port, max_batch=4))
  uvicorn_server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
  thread = threading.Thread(target=uvicorn_server.run, daemon=True)
  thread.start()
  url = f"http://127.0.0.1:{port}"
  deadline = time.monotonic() + 30
  while get(url + "/healthz")[0] == 0 and time.monotonic() < deadline:
    time.sleep(0.05)
  status, text = get(url + "/healthz")
  assert status == 503 and '"status":"warming up"' in text
  wav = wav_bytes(np.zeros(800, np.float32), 16000)
  assert post(url + "/v1/translate", wav)[0] == 503
  fake.release.set()
  while get(url + "/healthz")[0] != 200 and time.monotonic() < deadline:
    time.sleep(0.05)
  assert post(url + "/v1/translate", wav) == (200, {"text": "800"})
  uvicorn_server.should_exit = True
  thread.join(30)
  assert not thread.is_alive()


def test_healthz_reports_ready_after_warm_up(server):
  status, text = get(server.url + "/healthz")
  assert status == 200 and '"status":"ready"' in text
  values = metric_values(server.url)
  assert values["st_serving_ready"] == 1
  assert values["st_serving_compiles_total"] == 4   # batch sizes 1, 2, 4, 8 of one bucket


def test_wav_gives_the_runtime_text(server, model):
  model_dir, wavs = model
  expected = runtime.load_artifact(model_dir, batch_sizes=(1,)).translate(
      [sf.read(io.BytesIO(w), dtype="float32")[0] for w in wavs[:1]])[0]
  status, body = post(server.url + "/v1/translate", wavs[0])
  assert (status, body) == (200, {"text": expected})
  assert post(server.url + "/v1/translate", *multipart(wavs[0])) == (200, {"text": expected})
  samples, rate = sf.read(io.BytesIO(wavs[0]), dtype="float32")
  stereo_32k = wav_bytes(np.stack([samples, samples], 1).repeat(2, 0), 2 * rate)
  status, body = post(server.url + "/v1/translate", stereo_32k)   # resampled, mixed to mono
  assert status == 200 and isinstance(body["text"], str)


def test_concurrent_requests_are_batched(server, model):
  _, wavs = model
  before = metric_values(server.url)
  barrier = threading.Barrier(8)

  def one(i):
    barrier.wait()
    return post(server.url + "/v1/translate", wavs[i % len(wavs)])
  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    answers = list(pool.map(one, range(8)))
  assert [status for status, _ in answers] == [200] * 8
  for i in range(4, 8):
    assert answers[i] == answers[i - 4]
  after = metric_values(server.url)
  batches = after["st_serving_batch_size_count"] - before.get("st_serving_batch_size_count", 0)
  rows = after["st_serving_batch_size_sum"] - before.get("st_serving_batch_size_sum", 0)
  assert rows == 8 and batches < 8   # so some batch held more than one request
  assert after['st_serving_requests_total{endpoint="translate",status="200"}'] >= 8
  assert after["st_serving_compiles_total"] == 4   # no request compiled anything
  assert "st_serving_queue_depth" in after
  assert after['st_serving_request_seconds_count{endpoint="translate"}'] >= 8


def test_bad_requests_get_4xx_while_valid_ones_succeed(server, model):
  _, wavs = model
  url = server.url + "/v1/translate"
  too_long = wav_bytes(np.zeros(int(16000 * (BUCKET_SECONDS + 1)), np.float32), 16000)
  oversized = wav_bytes(np.zeros(MAX_BODY, np.float32), 16000)
  empty, text, garbage, nan = invalid_bodies(16000)
  bad = [(empty, 400, "empty"), (text, 415, "text/plain"), (garbage, 422, "not a readable audio"),
         (nan, 422, "NaN"), ((too_long, "audio/wav"), 413, "longer than"),
         ((oversized, "audio/wav"), 413, "exceeds the limit"),
         ((b"--x--\r\n", "multipart/form-data; boundary=x"), 400, "no file")]
  with concurrent.futures.ThreadPoolExecutor(4) as pool:
    valid = pool.submit(run_load, url, wavs, 2, 3.0)
    for (body, content_type), status, words in bad:
      got, answer = post(url, body, content_type)
      assert got == status and words in answer["error"], (status, answer)
    got, answer = post(server.url + "/v1/transcribe", wavs[0])
    assert got == 404 and "/v1/translate" in answer["error"]
    load = valid.result()
  assert load["requests"] > 0 and load["errors"] == {}
  assert get(server.url + "/healthz")[0] == 200
  values = metric_values(server.url)
  for status in ("400", "413", "415", "422"):
    assert values[f'st_serving_requests_total{{endpoint="translate",status="{status}"}}'] >= 1


def test_sigterm_finishes_in_flight_requests_and_exits_zero(model, tmp_path_factory):
  model_dir, wavs = model
  server = start(model_dir, tmp_path_factory, "--max-batch", "1", "--max-wait-ms", "0")
  url = server.url + "/v1/translate"
  with concurrent.futures.ThreadPoolExecutor(16) as pool:
    in_flight = [pool.submit(post, url, wavs[i % len(wavs)]) for i in range(16)]
    deadline = time.monotonic() + 60
    depth = 0
    while depth < 4 and time.monotonic() < deadline:   # requests queue behind the one running
      depth = metric_values(server.url).get("st_serving_queue_depth", 0)
    assert depth >= 4, "no requests queued up"
    status = server.stop()
    answers = [f.result() for f in in_flight]
  assert status == 0
  statuses = [s for s, _ in answers]
  assert set(statuses) <= {200, 0}, statuses   # 0: connected after the socket closed
  assert statuses.count(200) >= depth + 1
