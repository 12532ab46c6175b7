"""`st-jax serve`: an exported model over HTTP (Starlette on uvicorn) with dynamic batching.

  POST /v1/translate | /v1/transcribe   body: a WAV/FLAC/OGG file (any rate, mixed to mono), raw
                                        (Content-Type audio/* or application/octet-stream) or
                                        as the `file` field of multipart/form-data
                                        -> 200 {"text": ...} | 4xx/5xx {"error": ...}
  POST /v1/synthesize                   JSON {"text", "lang"?, "emotion"?, "speaker"?, "rate"?,
                                        "pitch_shift"?, "energy_scale"?} -> 200 audio/wav
  POST /v1/s2st                         audio as for /v1/translate (?emotion=&speaker=&rate=)
                                        -> 200 audio/wav, X-Translation: the text (UTF-8,
                                        percent-encoded)   (serving/speech_io.py)
  GET  /healthz                         200 {"status": "ready", ...} once every shape is
                                        compiled; 503 {"status": "warming up"} before
  GET  /metrics                         Prometheus text: requests by endpoint and status,
                                        latency and batch-size histograms, queue depth

A request is read (size-capped), decoded, resampled and validated before it joins a batch
(`batching.DynamicBatcher`), so bad audio or text gets its own 4xx and never reaches the model
with others (a synthesis row whose durations exceed every frame bucket fails alone). Warm-up compiles and runs every (length bucket, batch size) once, in a thread, after
the socket is open, so no request pays a compile. SIGTERM: uvicorn stops accepting connections
and waits for the requests in flight; the batcher then finishes its queue and the process exits
0. Imports only serving/ (no st_jax).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serving import audio_io, batching, metrics, runtime, speech_io
from serving.errors import InputError

log = logging.getLogger("serving")
AUDIO_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/flac",
               "audio/x-flac", "audio/ogg", "audio/mpeg", "application/octet-stream")
MULTIPART = "multipart/form-data"
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BOUNDS = (1, 2, 4, 8, 16, 32, 64, 128)
DRAIN_FACTOR = 4   # see _read_body


@dataclasses.dataclass
class Options:
  """Server settings (`serving.cli` fills them from the command line)."""
  model: str
  host: str = "127.0.0.1"
  port: int = 8000
  max_batch: int = 8
  max_wait_ms: float = 20.0
  max_body_bytes: int = 10 * 1024 * 1024
  max_audio_seconds: float | None = None   # default: the longest exported bucket
  graceful_seconds: float = 30.0
  access_log: bool = False


class _State:
  """What the handlers share: artifact, batcher, metrics, readiness."""

  def __init__(self, artifact: runtime.Artifact, options: Options):
    self.artifact, self.options = artifact, options
    longest = getattr(artifact, "max_seconds", None)   # None: no audio input (synthesize)
    self.max_seconds = longest and min(options.max_audio_seconds or longest, longest)
    self.ready, self.warm_up_seconds, self.warm_up_error = False, None, None
    self.registry = metrics.Registry()
    self.requests = self.registry.add(metrics.Counter(
        "st_serving_requests_total", "HTTP requests by endpoint and status code.",
        ("endpoint", "status")))
    self.latency = self.registry.add(metrics.Histogram(
        "st_serving_request_seconds", "Request latency (read, decode, queue, model).",
        LATENCY_BOUNDS, ("endpoint",)))
    self.batch_size = self.registry.add(metrics.Histogram(
        "st_serving_batch_size", "Requests per model batch.", BATCH_BOUNDS))
    self.batch_seconds = self.registry.add(metrics.Histogram(
        "st_serving_batch_seconds", "Model time per batch.", LATENCY_BOUNDS))
    self.audio_out = self.registry.add(metrics.Counter(
        "st_serving_output_audio_seconds_total", "Seconds of speech synthesised.",
        ("endpoint",)))
    self.batcher = batching.DynamicBatcher(artifact.run_batch, options.max_batch,
                                           options.max_wait_ms / 1000.0, self._on_batch)
    self.registry.add(metrics.Gauge("st_serving_queue_depth", "Requests waiting for a batch.",
                                    lambda: self.batcher.depth))
    self.registry.add(metrics.Gauge("st_serving_ready", "1 after warm-up.",
                                    lambda: float(self.ready)))
    self.registry.add(metrics.Gauge("st_serving_compiles_total",
                                    "Executables compiled (all during warm-up).",
                                    lambda: artifact.compile_count))

  def _on_batch(self, bucket: int, rows: int, seconds: float) -> None:
    del bucket
    self.batch_size.observe(rows)
    self.batch_seconds.observe(seconds)


async def _read_body(request: Request, limit: int) -> bytes:
  """The body, at most ``limit`` bytes, else 413 (by Content-Length or while streaming).

  A body over the limit is still read, and dropped, up to DRAIN_FACTOR x limit before the
  413 goes out: clients that send the whole body before reading the answer (urllib, curl)
  then see the 413 instead of a connection reset.
  """
  declared = request.headers.get("content-length", "")
  declared = int(declared) if declared.isdigit() else None
  too_large = declared is not None and declared > limit
  chunks, size = [], 0
  async for chunk in request.stream():
    size += len(chunk)
    too_large = too_large or size > limit
    if too_large and size > DRAIN_FACTOR * limit:
      break
    if not too_large:
      chunks.append(chunk)
  if too_large:
    raise InputError(f"request body of {declared or f'more than {limit}'} bytes exceeds the "
                     f"limit of {limit} bytes", 413)
  return b"".join(chunks)


async def _audio_bytes(request: Request, limit: int) -> tuple[bytes, str]:
  """(file bytes, what to call them in errors) of a raw or multipart request."""
  content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
  if content_type not in AUDIO_TYPES and content_type != MULTIPART:
    raise InputError(f"Content-Type {content_type or '(none)'!r} is not accepted; send the "
                     f"audio file as audio/wav, audio/flac, audio/ogg or "
                     f"application/octet-stream, or as the 'file' field of {MULTIPART}", 415)
  body = await _read_body(request, limit)
  if content_type != MULTIPART:
    return body, "request body"

  async def stream():
    yield body
    yield b""
  try:
    form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=16).parse()
  except MultiPartException as e:
    raise InputError(f"malformed multipart body: {e.message}", 400) from None
  try:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
      upload = next((v for _, v in form.multi_items() if isinstance(v, UploadFile)), None)
    if upload is None:
      raise InputError(f"the {MULTIPART} body has no file; send the audio as its 'file' "
                       f"field", 400)
    return await upload.read(), f"uploaded file {upload.filename or 'file'!r}"
  finally:
    await form.close()


def check_ready(state: _State, task: str) -> None:
  if not state.ready:
    raise InputError("the model is warming up; retry when GET /healthz answers 200", 503)
  state.artifact.check_task(task)


async def read_audio(state: _State, request: Request):
  """(samples at the model's input rate, their bucket) of an audio request."""
  data, what = await _audio_bytes(request, state.options.max_body_bytes)
  samples = await run_in_threadpool(audio_io.decode_audio, data, state.artifact.sample_rate,
                                    what, state.max_seconds)
  return samples, state.artifact.bucket_for(len(samples), what)


async def _speech_to_text(state: _State, request: Request, task: str) -> Response:
  check_ready(state, task)
  with state.batcher.arriving():
    samples, bucket = await read_audio(state, request)
  return JSONResponse({"text": await state.batcher.submit(bucket, samples)})


def _audio_response(state: _State, task: str, samples, headers=None) -> Response:
  rate = state.artifact.voice.sample_rate
  state.audio_out.inc(task, amount=len(samples) / rate)
  return Response(speech_io.wav_bytes(samples, rate), media_type="audio/wav", headers=headers)


async def _synthesize(state: _State, request: Request, task: str) -> Response:
  check_ready(state, task)
  speech_io.check_json(request)
  with state.batcher.arriving():
    fields = speech_io.parse_request(await _read_body(request, state.options.max_body_bytes))
    bucket, row = await run_in_threadpool(lambda: state.artifact.prepare_text(**fields))
  speech = await state.batcher.submit(bucket, row)
  return _audio_response(state, task, speech.audio)


async def _s2st(state: _State, request: Request, task: str) -> Response:
  check_ready(state, task)
  controls = state.artifact.voice.controls(**speech_io.query_controls(request))[0]
  with state.batcher.arriving():
    samples, bucket = await read_audio(state, request)
  speech = await state.batcher.submit(bucket, (samples, controls))
  return _audio_response(state, task, speech.audio,
                         {"X-Translation": speech_io.translation_header(speech.text)})


HANDLERS = {"translate": _speech_to_text, "transcribe": _speech_to_text,
            "synthesize": _synthesize, "s2st": _s2st}


def _endpoint(state: _State, task: str):
  async def handle(request: Request) -> Response:
    start = time.perf_counter()
    try:
      response = await HANDLERS[task](state, request, task)
    except InputError as e:
      response = JSONResponse({"error": str(e)}, status_code=e.status)
    except Exception as e:  # pylint: disable=broad-except  (a bug: answer 500, keep serving)
      log.exception("request to /v1/%s failed", task)
      response = JSONResponse({"error": f"internal error ({type(e).__name__}); see the "
                                        f"server log"}, status_code=500)
    state.requests.inc(task, response.status_code)
    state.latency.observe(time.perf_counter() - start, task)
    return response
  return handle


def build_app(artifact: runtime.Artifact, options: Options) -> Starlette:
  """The ASGI app; its lifespan starts the batcher and the warm-up and drains on shutdown."""
  state = _State(artifact, options)

  async def healthz(_request: Request) -> Response:
    body = {"status": "ready" if state.ready else "warming up", "task": artifact.task,
            **artifact.health(), "max_wait_ms": options.max_wait_ms,
            "warm_up_seconds": state.warm_up_seconds, "compiles": artifact.compile_count}
    if state.warm_up_error:
      body.update(status="failed", error=state.warm_up_error)
    return JSONResponse(body, status_code=200 if state.ready else 503)

  async def metrics_page(_request: Request) -> Response:
    return Response(state.registry.render(), media_type=metrics.CONTENT_TYPE)

  async def warm_up() -> None:
    try:
      state.warm_up_seconds = round(await asyncio.to_thread(artifact.warm_up), 2)
      state.ready = True
      log.info("ready: %d executables compiled in %.1f s", artifact.compile_count,
               state.warm_up_seconds)
    except Exception as e:  # pylint: disable=broad-except  (reported by /healthz)
      log.exception("warm-up failed")
      state.warm_up_error = f"{type(e).__name__}: {e}"

  @contextlib.asynccontextmanager
  async def lifespan(_app):
    state.batcher.start()
    task = asyncio.get_running_loop().create_task(warm_up())
    yield
    await task
    await state.batcher.close()
    log.info("stopped after finishing queued requests")

  routes = [Route(f"/v1/{task}", _endpoint(state, task), methods=["POST"]) for task in HANDLERS]
  routes += [Route("/healthz", healthz), Route("/metrics", metrics_page)]
  app = Starlette(routes=routes, lifespan=lifespan)
  app.state.serving = state
  return app


def serve(options: Options) -> int:
  """Loads ``options.model`` (``ArtifactError`` before binding the port), serves until SIGTERM
  or SIGINT, finishes the requests in flight, returns 0."""
  logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
  artifact = runtime.load_artifact(options.model, max_batch=options.max_batch)
  app = build_app(artifact, options)
  config = uvicorn.Config(app, host=options.host, port=options.port, lifespan="on",
                          access_log=options.access_log,
                          timeout_graceful_shutdown=options.graceful_seconds)
  # uvicorn re-raises the signal it shut down for once it is done; these handlers make that a
  # no-op so a graceful stop exits 0.
  for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda *_: None)
  uvicorn.Server(config).run()
  return 0


if __name__ == "__main__":
  import sys  # pylint: disable=g-import-not-at-top
  from serving import cli  # pylint: disable=g-import-not-at-top
  sys.exit(cli.main(["serve", *sys.argv[1:]]))
