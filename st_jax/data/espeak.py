"""Speak text with espeak-ng (through ctypes) and report phoneme timings.

espeak-ng is GPL-3, so it is an optional extra (``pip install -e '.[synth]'``): the
``espeakng_loader`` wheel ships ``libespeak-ng.so`` and its data directory, and is imported
lazily, only when :func:`speak` is called.

Determinism: libespeak-ng keeps synthesiser state in C globals that no API resets (e.g. the
pitch-flutter phase and the glottal wave phase), so in one long-lived library instance the same
call gives slightly different samples depending on what was spoken before. :func:`speak`
therefore loads a private copy of the library (from an in-memory file on Linux, so it never
shares an instance with other users of ``espeakng_loader`` in the process), initialises it,
speaks, terminates and unloads it -- every call. That costs ~2 ms and makes the output depend
only on the arguments: bitwise identical across calls, processes and call orders. Calls are
serialised by a lock (the library is process-global); worker processes each get their own copy.
Known cost: espeak_Terminate does not free the secondary translator espeak-ng builds when a word
is spoken in another language (e.g. English loanwords in German text), so each such call leaks
~180 KB; recycle long-lived workers (e.g. ``maxtasksperchild``) when speaking many thousands.

Phonemes are IPA (``espeakINITIALIZE_PHONEME_IPA``), exactly as espeak-ng writes them, so
stress and length marks stay attached (``ˈoʊ``, ``ɜː``); pauses are ``"_"``. espeak-ng caps a
phoneme name at 8 UTF-8 bytes; a character cut by that cap is dropped.

Silence: the returned audio starts at the onset of the first spoken phoneme and ends at the end
of the last one (espeak-ng's few ms of leading silence and its final pause are trimmed; no end
pause is requested); if the last sound is still fading out when espeak-ng's final pause starts,
the fade (down to ``_SILENCE_LEVEL``) is kept and counted in the last phoneme. Pauses inside the text (commas, sentence ends) are kept as ``"_"``
phonemes. So ``phonemes[0][1] == 0`` and ``phonemes[-1][2] == duration``; callers that want
padding add it themselves.
"""

from __future__ import annotations

import _ctypes
import ctypes
import dataclasses
import os
import threading

import numpy as np

from st_jax.data.manifest import EMOTIONS  # the emotion labels spoken (re-exported)
from st_jax.errors import ConfigError, MissingExtraError

SAMPLE_RATE: int = 22050  # espeak-ng's native rate; checked against the library at each load.

# Voices are `<language file>+<variant>` as accepted by espeak_SetVoiceByName; every one is
# checked to load with its variant (a bad variant is silently ignored by espeak-ng).
VOICES: dict[str, tuple[str, ...]] = {
    "en": ("en-us+m3", "en-us+f2", "en-gb-x-rp+m1", "en-gb-x-rp+f2", "en-gb-scotland+m5",
           "en-us-nyc+f4"),
    "de": ("de+m1", "de+f1", "de+m2", "de+f3", "de+m4", "de+f4"),
    "fr": ("fr+m1", "fr+f2", "fr-be+m4", "fr-be+f3", "fr-ch+m2", "fr-ch+f5"),
}
# One voice per language that training never uses (unseen-speaker test set).
HELD_OUT_VOICES: dict[str, str] = {"en": "en-gb-x-rp+f2", "de": "de+m4", "fr": "fr-be+f3"}
PAUSE = "_"

# Values from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_EVENT_LIST_TERMINATED = 0
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7
_RATE_RANGE = (80, 450)
_SILENCE_LEVEL = 64  # |int16 sample| at or below this (-54 dBFS) counts as silence.


class _EventId(ctypes.Union):
  _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
              ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
  """espeak_EVENT. ``sample`` is the event's sample index, ``audio_position`` the same in ms."""
  _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
              ("text_position", ctypes.c_int), ("length", ctypes.c_int),
              ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
              ("user_data", ctypes.c_void_p), ("id", _EventId)]


class _Voice(ctypes.Structure):
  """espeak_VOICE (only read, to check which voice got loaded)."""
  _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p),
              ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte),
              ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
              ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))


@dataclasses.dataclass(frozen=True)
class Prosody:
  """espeak-ng prosody: rate (words/min, 80-450), pitch and pitch_range (0-100, 50 = voice
  default), volume (0-200, 100 = default)."""
  rate: int = 175
  pitch: int = 50
  pitch_range: int = 50
  volume: int = 100

  def __post_init__(self):
    for field, (low, high) in (("rate", _RATE_RANGE), ("pitch", (0, 100)),
                               ("pitch_range", (0, 100)), ("volume", (0, 200))):
      value = getattr(self, field)
      if not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ConfigError(f"Prosody.{field} must be an integer in [{low}, {high}], got {value!r}")


# Emotion -> (mean prosody, relative sd of rate, sd of pitch, sd of range, relative sd of volume).
_EMOTION_PROSODY = {
    "neutral": Prosody(rate=165, pitch=50, pitch_range=50, volume=100),
    "happy": Prosody(rate=190, pitch=70, pitch_range=85, volume=115),
    "sad": Prosody(rate=125, pitch=30, pitch_range=15, volume=70),
    "angry": Prosody(rate=195, pitch=60, pitch_range=75, volume=165),
}
_RATE_SD, _PITCH_SD, _RANGE_SD, _VOLUME_SD = 0.06, 4.0, 5.0, 0.06


def emotion_prosody(emotion: str, rng: np.random.Generator) -> Prosody:
  """Prosody realising ``emotion``, with random per-utterance variation drawn from ``rng``.

  happy: higher pitch, wide range, faster, a little louder; sad: low pitch, narrow range, slow,
  soft; angry: loud, fast, mid-high pitch, wide range; neutral: espeak-like defaults. The
  variation (rate/volume ±6 % sd, pitch ±4, range ±5 sd, clipped) is smaller than the gaps
  between emotions.
  """
  if emotion not in _EMOTION_PROSODY:
    raise ConfigError(f"Unknown emotion {emotion!r}; valid emotions: {', '.join(EMOTIONS)}")
  mean = _EMOTION_PROSODY[emotion]
  rate_factor, pitch_offset, range_offset, volume_factor = rng.normal(
      0.0, (_RATE_SD, _PITCH_SD, _RANGE_SD, _VOLUME_SD))

  def clip(value: float, low: int, high: int) -> int:
    return int(np.clip(round(value), low, high))

  return Prosody(rate=clip(mean.rate * (1 + rate_factor), *_RATE_RANGE),
                 pitch=clip(mean.pitch + pitch_offset, 0, 100),
                 pitch_range=clip(mean.pitch_range + range_offset, 0, 100),
                 volume=clip(mean.volume * (1 + volume_factor), 0, 200))


@dataclasses.dataclass
class Speech:
  """Spoken audio and its phoneme segmentation ``(phoneme, start_s, end_s)``: contiguous,
  starting at 0 and ending at ``duration``."""
  samples: np.ndarray  # int16 [T]
  sample_rate: int
  phonemes: list[tuple[str, float, float]]

  @property
  def duration(self) -> float:
    return len(self.samples) / self.sample_rate


@dataclasses.dataclass
class _EspeakFiles:
  """Where the library (a private copy) and its data live; found once per process."""
  library_path: str
  data_path: bytes


_files: _EspeakFiles | None = None
_lock = threading.Lock()


def _reset_lock_in_child() -> None:
  global _lock
  _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
  os.register_at_fork(after_in_child=_reset_lock_in_child)


def _private_library_copy(library_path: str) -> str:
  """Path of an in-memory copy of the library (Linux), so dlopen gives us our own instance."""
  if not hasattr(os, "memfd_create") or not os.path.isdir("/proc/self/fd"):
    return library_path
  descriptor = os.memfd_create("libespeak-ng.so")  # close-on-exec; kept across fork
  with open(library_path, "rb") as source, open(descriptor, "wb", closefd=False) as copy:
    copy.write(source.read())
  copy_path = f"/proc/self/fd/{descriptor}"
  try:  # Probe: some kernels forbid executing memfds.
    _ctypes.dlclose(ctypes.CDLL(copy_path)._handle)  # pylint: disable=protected-access
  except OSError:
    os.close(descriptor)
    return library_path
  return copy_path


def _espeak_files() -> _EspeakFiles:
  """Imports espeakng_loader (the [synth] extra) once per process."""
  global _files
  if _files is None:
    try:
      import espeakng_loader  # pylint: disable=import-outside-toplevel
    except ImportError as error:
      raise MissingExtraError("synth", "Speaking the built-in corpus", "espeakng_loader") from error
    _files = _EspeakFiles(library_path=_private_library_copy(espeakng_loader.get_library_path()),
                          data_path=espeakng_loader.get_data_path().encode())
  return _files


class _Recorder:
  """Collects the samples and phoneme onsets that espeak-ng hands to the synth callback."""

  def __init__(self):
    self.chunks: list[bytes] = []
    self.onsets: list[tuple[str, int]] = []  # (phoneme, sample index)
    self.callback = _SynthCallback(self._on_audio)

  def _on_audio(self, wav, num_samples, events) -> int:
    if num_samples > 0:
      self.chunks.append(ctypes.string_at(wav, 2 * num_samples))
    index = 0
    while events[index].type != _EVENT_LIST_TERMINATED:
      event = events[index]
      if event.type == _EVENT_PHONEME:
        name = event.id.string.split(b"\0", 1)[0].decode("utf-8", errors="ignore")
        self.onsets.append((name or PAUSE, event.sample))
      elif event.type in (_EVENT_END, _EVENT_MSG_TERMINATED):
        self.onsets.append((PAUSE, event.sample))
      index += 1
    return 0


def _check_voice(lang: str, voice: str) -> None:
  if lang not in VOICES:
    raise ConfigError(f"Unknown language {lang!r} for espeak; valid languages: "
                      f"{', '.join(VOICES)}")
  if voice not in VOICES[lang]:
    raise ConfigError(f"Unknown voice {voice!r} for language {lang!r}; valid voices: "
                      f"{', '.join(VOICES[lang])}")


def _synthesize(text: bytes, voice: str, prosody: Prosody) -> tuple[np.ndarray, int, _Recorder]:
  """Loads a fresh library instance, speaks ``text`` and unloads it. Call with the lock held."""
  files = _espeak_files()
  library = ctypes.CDLL(files.library_path)
  try:
    library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
    sample_rate = library.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, files.data_path,
        _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT)
    if sample_rate != SAMPLE_RATE:
      raise RuntimeError(f"espeak_Initialize returned {sample_rate}, expected {SAMPLE_RATE}")
    try:
      recorder = _Recorder()
      library.espeak_SetSynthCallback(recorder.callback)
      library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
      library.espeak_GetCurrentVoice.restype = ctypes.POINTER(_Voice)
      status = library.espeak_SetVoiceByName(voice.encode())
      identifier = library.espeak_GetCurrentVoice().contents.identifier or b""
      if status != 0 or not identifier.decode().lower().endswith(voice.split("+")[-1]):
        raise RuntimeError(f"espeak-ng could not load voice {voice!r} (status {status}, "
                           f"got {identifier!r}); is espeakng-loader the version pinned?")
      for parameter, value in ((_PARAM_RATE, prosody.rate), (_PARAM_VOLUME, prosody.volume),
                               (_PARAM_PITCH, prosody.pitch),
                               (_PARAM_RANGE, prosody.pitch_range)):
        library.espeak_SetParameter(parameter, int(value), 0)
      library.espeak_ng_SetRandSeed(ctypes.c_long(0))
      library.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                       ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                       ctypes.c_void_p, ctypes.c_void_p]
      status = library.espeak_Synth(text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                    None, None)
      library.espeak_Synchronize()
      if status != 0:
        raise RuntimeError(f"espeak_Synth failed with status {status}")
    finally:
      library.espeak_Terminate()
  finally:
    _ctypes.dlclose(library._handle)  # pylint: disable=protected-access
  samples = np.frombuffer(b"".join(recorder.chunks), dtype=np.int16).copy()
  return samples, sample_rate, recorder


def _segments(onsets: list[tuple[str, int]], num_samples: int) -> list[tuple[str, int, int]]:
  """Phoneme onsets -> contiguous (phoneme, start, end) sample segments, pauses merged,
  leading/trailing pauses dropped."""
  onsets = sorted(((name, min(max(sample, 0), num_samples)) for name, sample in onsets),
                  key=lambda onset: onset[1])  # stable: keeps espeak's order at equal samples
  segments = []
  for index, (name, start) in enumerate(onsets):
    end = onsets[index + 1][1] if index + 1 < len(onsets) else num_samples
    if name == PAUSE and segments and segments[-1][0] == PAUSE:
      segments[-1] = (PAUSE, segments[-1][1], end)
    elif name == PAUSE and end == start:
      continue
    else:
      segments.append((name, start, end))
  while segments and segments[0][0] == PAUSE:
    segments.pop(0)
  while segments and segments[-1][0] == PAUSE:
    segments.pop()
  return segments


def speak(text: str, lang: str, voice: str, prosody: Prosody) -> Speech:
  """Speaks ``text`` (language ``lang``) with espeak-ng ``voice`` (one of ``VOICES[lang]``).

  Returns int16 audio trimmed to the spoken phonemes and their IPA timings (see the module
  docstring). Thread safe; deterministic. Raises ConfigError for an unknown language or voice
  or text with nothing to say, MissingExtraError without the [synth] extra.
  """
  _check_voice(lang, voice)
  if not isinstance(prosody, Prosody):
    raise ConfigError(f"prosody must be a Prosody, got {type(prosody).__name__}")
  encoded = " ".join(text.split()).encode("utf-8")
  with _lock:
    samples, sample_rate, recorder = _synthesize(encoded, voice, prosody)
  segments = _segments(recorder.onsets, len(samples))
  if not segments:
    raise ConfigError(f"espeak-ng found nothing to say in the text {text!r}")
  first_sample, last_sample = segments[0][1], segments[-1][2]
  decay = np.flatnonzero(np.abs(samples[last_sample:].astype(np.int32)) > _SILENCE_LEVEL)
  if decay.size:  # The last sound fades out during espeak's final pause: keep the fade.
    last_sample += int(decay[-1]) + 1
    segments[-1] = (segments[-1][0], segments[-1][1], last_sample)
  phonemes = [(name, (start - first_sample) / sample_rate, (end - first_sample) / sample_rate)
              for name, start, end in segments]
  return Speech(samples=samples[first_sample:last_sample].copy(), sample_rate=sample_rate,
                phonemes=phonemes)


__all__ = ["EMOTIONS", "HELD_OUT_VOICES", "PAUSE", "Prosody", "SAMPLE_RATE", "Speech", "VOICES",
           "emotion_prosody", "speak"]
