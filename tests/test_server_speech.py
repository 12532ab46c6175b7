"""`st-jax serve` of synthesize and s2st exports, as subprocesses that cannot import st_jax:
WAV answers equal to the runtime's, the translation header, concurrent requests batched, a
row that fails inside its batch failing alone, 4xx naming every bad request, metrics."""

import concurrent.futures
import io
import json
import pathlib
import threading
import urllib.parse

import numpy as np
import pytest
import soundfile as sf

from serving import metrics, runtime, tts_export
from serving.loadtest import get, post, post_raw
from serving_helpers import matching_bucket_seconds, shared_st_workdir, shared_tts_workdir, \
    shared_vocoder_workdir, start_server

for _module in ("starlette", "uvicorn", "multipart"):
  pytest.importorskip(_module, reason="st-jax serve needs the [serve] extra: "
                      "pip install -e '.[serve]'")

JSON = "application/json"
SLOW = {"text": "oma saum ume ais su mi", "rate": 0.25}   # more frames than the longest bucket
VALID = [{"text": "mase ui"}, {"text": "ma su omi", "emotion": "sad", "speaker": "spk1"},
         {"text": "Oma, saum!", "rate": 1.3, "pitch_shift": -2}]


def start(model_dir: str, tmp_path_factory, *args: str):
  return start_server(model_dir, tmp_path_factory, "--max-wait-ms", "100", *args)


@pytest.fixture(scope="module")
def synth_server(tmp_path_factory):
  """(server, export dir) of a synthesize export (HiFi-GAN, so batching changes no sample)."""
  out = tmp_path_factory.mktemp("serve_tts") / "tts"
  tts_export.export_synthesize(shared_tts_workdir(tmp_path_factory), str(out),
                               shared_vocoder_workdir(tmp_path_factory), (32,), (128, 256))
  server = start(str(out), tmp_path_factory, "--max-batch", "4")
  yield server, str(out)
  server.stop()


def synthesize(server, request: dict):
  status, headers, body = post_raw(server.url + "/v1/synthesize", json.dumps(request).encode(),
                                   JSON)
  return status, headers, body


def samples_of(wav: bytes) -> np.ndarray:
  samples, rate = sf.read(io.BytesIO(wav), dtype="float32")
  assert rate == 16000
  return samples


def metric_values(url: str) -> dict:
  status, text = get(url + "/metrics")
  assert status == 200
  return metrics.parse(text)


def test_synthesize_answers_the_runtime_audio(synth_server):
  server, model_dir = synth_server
  health = json.loads(get(server.url + "/healthz")[1])
  assert health["status"] == "ready" and health["frame_buckets"] == [128, 256]
  assert health["compiles"] == 3 + 2 * 3   # (1 symbol + 2 frame buckets) x batch 1, 2, 4
  expected = runtime.load_artifact(model_dir, batch_sizes=(1,)).speak(VALID)
  for request, speech in zip(VALID, expected):
    status, headers, body = synthesize(server, request)
    assert status == 200 and headers["content-type"] == "audio/wav"
    np.testing.assert_allclose(samples_of(body), speech.audio, atol=1e-4, rtol=0)


def test_concurrent_requests_batch_and_a_failing_row_fails_alone(synth_server):
  server, model_dir = synth_server
  expected = runtime.load_artifact(model_dir, batch_sizes=(1,)).speak(VALID)
  before = metric_values(server.url)
  requests = [SLOW, *VALID]
  barrier = threading.Barrier(len(requests))

  def one(request):
    barrier.wait()
    return synthesize(server, request)
  with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
    answers = list(pool.map(one, requests))
  status, _, body = answers[0]
  assert status == 413 and "longest frame bucket (256)" in json.loads(body)["error"]
  for (status, _, body), speech in zip(answers[1:], expected):
    assert status == 200
    np.testing.assert_allclose(samples_of(body), speech.audio, atol=1e-4, rtol=0)
  after = metric_values(server.url)
  batches = after["st_serving_batch_size_count"] - before["st_serving_batch_size_count"]
  assert batches < len(requests)   # so some batch held more than one request
  assert after["st_serving_compiles_total"] == 9
  assert after['st_serving_requests_total{endpoint="synthesize",status="413"}'] >= 1
  assert after['st_serving_output_audio_seconds_total{endpoint="synthesize"}'] > 0


@pytest.mark.parametrize("body,content_type,status,words", [
    (b'{"text": "\xff"}', JSON, 400, "not UTF-8 (byte 10"),
    (b'{"text": ', JSON, 400, "not valid JSON"),
    (b'["ma"]', JSON, 400, "expected a JSON object"),
    (b'{"emotion": "sad"}', JSON, 422, 'no "text" field'),
    (b'{"text": "  "}', JSON, 422, "text to synthesise is empty"),
    (b'{"text": "ma", "voice": "x"}', JSON, 422, "unknown fields ['voice']"),
    (b'{"text": "ma", "emotion": "joyful"}', JSON, 422, "emotion 'joyful' is unknown"),
    (b'{"text": "ma", "speaker": "bob"}', JSON, 422, "speaker 'bob' is unknown"),
    (b'{"text": "ma", "rate": 9}', JSON, 422, "rate=9 is out of range"),
    (json.dumps({"text": "ma " * 20}).encode(), JSON, 413, "longest symbol bucket (32)"),
    (b"ma", "text/plain", 415, "send application/json"),
])
def test_bad_requests_get_a_4xx_naming_the_problem(synth_server, body, content_type, status,
                                                   words):
  server, _ = synth_server
  got, answer = post(server.url + "/v1/synthesize", body, content_type)
  assert got == status and words in answer["error"], (got, answer)
  assert get(server.url + "/healthz")[0] == 200


def test_other_endpoints_point_to_synthesize(synth_server):
  server, _ = synth_server
  got, answer = post(server.url + "/v1/translate", b"RIFF", "audio/wav")
  assert got == 404 and "/v1/synthesize" in answer["error"]


@pytest.fixture(scope="module")
def s2st_server(tone_corpus, tmp_path_factory):
  """(server, export dir, wav bytes) of an s2st export with one audio bucket."""
  wav = sorted(pathlib.Path(tone_corpus, "audio").glob("test-*-en.wav"))[0]
  out = tmp_path_factory.mktemp("serve_s2st") / "s2st"
  tts_export.export_s2st(shared_st_workdir(tmp_path_factory, tone_corpus),
                         shared_tts_workdir(tmp_path_factory), str(out),
                         shared_vocoder_workdir(tmp_path_factory),
                         (matching_bucket_seconds(sf.info(str(wav)).frames),), (3000,),
                         beam_size=2)
  server = start(str(out), tmp_path_factory, "--max-batch", "2")
  yield server, str(out), wav.read_bytes()
  server.stop()


def test_s2st_answers_speech_with_the_translation(s2st_server):
  server, model_dir, wav = s2st_server
  [expected] = runtime.load_artifact(model_dir, batch_sizes=(1,)).s2st(
      [sf.read(io.BytesIO(wav), dtype="float32")[0]], emotion="happy")
  status, headers, body = post_raw(server.url + "/v1/s2st?emotion=happy", wav)
  assert status == 200 and headers["content-type"] == "audio/wav"
  assert urllib.parse.unquote(headers["x-translation"]) == expected.text and expected.text
  np.testing.assert_allclose(samples_of(body), expected.audio, atol=1e-4, rtol=0)
  for query, words in (("rate=fast", "rate='fast' is not a number"),
                       ("volume=2", "unknown query parameters ['volume']"),
                       ("speaker=bob", "speaker 'bob' is unknown")):
    got, answer = post(server.url + f"/v1/s2st?{query}", wav)
    assert got == 422 and words in answer["error"], (query, answer)
  got, answer = post(server.url + "/v1/s2st", b"not audio", "audio/wav")
  assert got == 422 and "not a readable audio file" in answer["error"]
  values = metric_values(server.url)
  assert values['st_serving_requests_total{endpoint="s2st",status="200"}'] >= 1
  assert values['st_serving_output_audio_seconds_total{endpoint="s2st"}'] > 0
