"""Requests and responses of the speech-out endpoints of `st-jax serve` (serving/server.py).

  POST /v1/synthesize   Content-Type application/json, UTF-8:
                        {"text": "...", "lang"?, "emotion"?, "speaker"?, "rate"?,
                         "pitch_shift"?, "energy_scale"?}
                        -> 200 audio/wav (16-bit PCM mono at the model's rate)
  POST /v1/s2st         a WAV/FLAC/OGG body as for /v1/translate; the spoken translation's
                        emotion, speaker, rate, pitch_shift, energy_scale as query parameters
                        -> 200 audio/wav, X-Translation: the translated text, UTF-8
                           percent-encoded (urllib.parse.unquote gives it back)

Problems a client causes get a 4xx JSON {"error": ...} naming them: 415 for another content
type, 400 for a body that is not UTF-8 or not a JSON object, 422 for a missing or empty text,
an unknown field, language, emotion or speaker, or a control out of range, 413 for text longer
than the longest symbol bucket or whose speech exceeds the longest frame bucket. Requests are
validated before they join a batch; the one failure found inside a batch (too many frames) is
that row's alone (`tts_runtime.Voice.render`).
"""

from __future__ import annotations

import io
import json
import urllib.parse

import numpy as np
import soundfile as sf
from starlette.requests import Request

from serving.errors import InputError

JSON = "application/json"
FIELDS = ("text", "lang", "emotion", "speaker", "rate", "pitch_shift", "energy_scale")
QUERY_CONTROLS = ("emotion", "speaker", "rate", "pitch_shift", "energy_scale")
HEADER_SAFE = " !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~"   # printable ASCII except %


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
  """16-bit PCM mono WAV of float samples (clipped to [-1, 1]), as `st-jax synthesize` writes."""
  buffer = io.BytesIO()
  sf.write(buffer, np.clip(np.asarray(samples, np.float32), -1.0, 1.0), int(sample_rate),
           format="WAV", subtype="PCM_16")
  return buffer.getvalue()


def parse_request(body: bytes) -> dict:
  """A /v1/synthesize body -> its fields; ``InputError`` naming what is wrong."""
  try:
    text = body.decode("utf-8")
  except UnicodeDecodeError as e:
    raise InputError(f"the body is not UTF-8 (byte {e.start}: {body[e.start:e.start + 1]!r}); "
                     f"send JSON encoded as UTF-8", 400) from None
  try:
    fields = json.loads(text)
  except ValueError as e:
    raise InputError(f"the body is not valid JSON ({e}); send an object like "
                     f'{{"text": "Guten Morgen."}}', 400) from None
  if not isinstance(fields, dict):
    raise InputError(f"expected a JSON object like {{\"text\": \"Guten Morgen.\"}}, got "
                     f"{type(fields).__name__}", 400)
  unknown = sorted(set(fields) - set(FIELDS))
  if unknown:
    raise InputError(f"unknown fields {unknown}; valid fields: {', '.join(FIELDS)}")
  if "text" not in fields:
    raise InputError('the JSON object has no "text" field: give the text to speak')
  return fields


def query_controls(request: Request) -> dict:
  """The s2st query parameters, numbers parsed; ``InputError`` for unknown or bad ones."""
  unknown = sorted(set(request.query_params) - set(QUERY_CONTROLS))
  if unknown:
    raise InputError(f"unknown query parameters {unknown}; valid: {', '.join(QUERY_CONTROLS)}")
  controls = dict(request.query_params)
  for key in ("rate", "pitch_shift", "energy_scale"):
    if key in controls:
      try:
        controls[key] = float(controls[key])
      except ValueError:
        raise InputError(f"{key}={controls[key]!r} is not a number") from None
  return controls


def translation_header(text: str) -> str:
  """X-Translation: ``text`` with non-ASCII, control characters and % percent-encoded."""
  return urllib.parse.quote(text, safe=HEADER_SAFE)


def check_json(request: Request) -> None:
  content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
  if content_type != JSON:
    raise InputError(f"Content-Type {content_type or '(none)'!r} is not accepted; send "
                     f"{JSON} like {{\"text\": \"Guten Morgen.\"}}", 415)
