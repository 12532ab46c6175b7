"""The TTS half of a synthesize or s2st export at run time (`tts_runtime.py` uses it).

Shape legend: B batch rows (a compiled batch size), U symbols, U* the render stage's symbol
axis, T frames of a frame bucket, D TTS model dim, H hop samples.

`Voice` validates a request on the host (language, emotion, speaker, controls; text -> symbol
ids as `st_jax.synthesis.Synthesizer` makes them: characters lower-cased with whitespace runs
collapsed, `tts_symbols.characters_of`, unknown symbols -> UNK (1); phoneme models through
espeak-ng, imported only for them) and runs the render stage: each row's durations give its
frame count, rows are regrouped into the shortest frame bucket that holds them, padded from
their U to U*, and the outputs are cut to each row's frames x H samples. A row whose durations
exceed the longest frame bucket (or sum to 0) gets its own `InputError`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from serving import runtime
from serving.errors import InputError

CONTROLS = ("rate", "pitch_shift", "energy_scale")
TEXT_CHARS_PER_SYMBOL = 8   # longer texts are refused before they are phonemised


@dataclasses.dataclass
class Speech:
  """One synthesised utterance: audio [frames x H] float32, log_mel [frames, F] (what the
  vocoder read), and for s2st the translation ``text`` and its ``symbols``."""
  audio: np.ndarray
  log_mel: np.ndarray
  text: str | None = None
  symbols: np.ndarray | None = None


@dataclasses.dataclass
class Acoustic:
  """One row's acoustic-stage outputs: h [U, D], durations [U] i32, pitch, energy [U]."""
  h: np.ndarray
  durations: np.ndarray
  pitch: np.ndarray
  energy: np.ndarray
  count: int


def control_values(batch: int, controls: Sequence[tuple]) -> list[np.ndarray]:
  """Rows of (speaker, emotion, lang, rate, pitch_shift, energy_scale) -> the six [batch]
  arrays the stages take (filler rows repeat the last row)."""
  rows = [controls[min(i, len(controls) - 1)] for i in range(batch)]
  columns = list(zip(*rows))
  return ([np.asarray(c, np.int32) for c in columns[:3]]
          + [np.asarray(c, np.float32) for c in columns[3:]])


class Voice:
  """The TTS half of a synthesize or s2st export: controls, text -> symbols, the render stage."""

  def __init__(self, manifest: dict, functions: list, executables: runtime.Executables,
               batch_sizes: Sequence[int]):
    tts = manifest["tts"]
    self.tts, self.executables, self.batch_sizes = tts, executables, tuple(batch_sizes)
    self.sample_rate, self.hop = int(tts["sample_rate"]), int(tts["hop_length"])
    self.languages, self.emotions = list(tts["languages"]), list(tts["emotions"])
    self.speakers = list(tts["speakers"])
    self.kind = tts["symbols"]["kind"]
    self._ids = {s: i + 2 for i, s in enumerate(tts["symbols"]["table"])}
    self.render_symbols = int(tts["render_symbols"])
    self.frame_buckets = [int(f) for f in manifest["frame_buckets"]]
    self._render = {int(spec["frames"]): fn for spec, fn in zip(manifest["functions"], functions)
                    if spec["stage"] == "render"}

  # -- requests ----------------------------------------------------------------------------

  def _choice(self, value, choices: list[str], what: str, default: str) -> str:
    value = default if value is None or value == "" else value
    if not isinstance(value, str) or value not in choices:
      raise InputError(f"{what} {value!r} is unknown; valid {what}s: {', '.join(choices)}")
    return value

  def _speaker(self, speaker, lang: str) -> tuple[int, str]:
    """(id, name) from an id, a name or None (the language's first speaker), as Synthesizer."""
    own = self.tts["speakers_by_lang"].get(lang) or self.speakers
    speaker = own[0] if speaker is None or speaker == "" else speaker
    if isinstance(speaker, str) and speaker.lstrip("-").isdigit():
      speaker = int(speaker)
    if isinstance(speaker, bool) or not isinstance(speaker, (int, str)):
      raise InputError(f"speaker {speaker!r}: give a speaker name or an id")
    if isinstance(speaker, int):
      if not 0 <= speaker < len(self.speakers):
        raise InputError(f"speaker {speaker}: this model has speakers 0..{len(self.speakers) - 1}"
                         f" ({', '.join(self.speakers)})")
      return speaker, self.speakers[speaker]
    if speaker not in self.speakers:
      raise InputError(f"speaker {speaker!r} is unknown; speakers of {lang}: {', '.join(own)} "
                       f"(or an id 0..{len(self.speakers) - 1})")
    return self.speakers.index(speaker), speaker

  def controls(self, lang=None, emotion=None, speaker=None, **values) -> tuple[tuple, str, str]:
    """-> ((speaker id, emotion id, lang id, rate, pitch_shift, energy_scale), lang, speaker
    name); ``InputError`` (422) naming a bad value. ``values``: rate, pitch_shift,
    energy_scale (limits in the manifest)."""
    lang = self._choice(lang, self.languages, "language", self.languages[0])
    emotion = self._choice(emotion, self.emotions, "emotion", "neutral")
    speaker_id, name = self._speaker(speaker, lang)
    unknown = sorted(set(values) - set(self.tts["controls"]))
    if unknown:
      raise InputError(f"unknown controls {unknown}; valid: {', '.join(self.tts['controls'])}")
    numbers = []
    for key in CONTROLS:   # the stages' argument order (the manifest's keys are sorted)
      low, high, default = self.tts["controls"][key]
      value = values.get(key)
      value = default if value is None else value
      if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
          math.isfinite(value) and low <= value <= high) or (key == "rate" and value <= 0):
        raise InputError(f"{key}={value!r} is out of range: give a number in [{low:g}, "
                         f"{high:g}]")
      numbers.append(float(value))
    return (speaker_id, self.emotions.index(emotion), int(self.tts["language_ids"][lang]),
            *numbers), lang, name

  def symbols(self, text, lang: str, voice: str) -> np.ndarray:
    """[U] int32 symbol ids of ``text`` (characters, or espeak-ng phonemes of ``voice``)."""
    if not isinstance(text, str) or not text.strip():
      raise InputError("the text to synthesise is empty" if isinstance(text, str) or
                       text is None else f"text must be a string, got {type(text).__name__}")
    if len(text) > TEXT_CHARS_PER_SYMBOL * self.render_symbols:   # before espeak sees it
      raise InputError(f"the text has {len(text)} characters, far more than this model speaks "
                       f"at once ({self.render_symbols} symbols); split it", 413)
    if self.kind == "characters":
      symbols = list(" ".join(text.lower().split()))
    else:
      from st_jax.data import tts_symbols  # pylint: disable=g-import-not-at-top
      from st_jax.errors import UserError  # pylint: disable=g-import-not-at-top
      try:
        symbols = tts_symbols.text_symbols(text, self.kind, lang, voice)
      except UserError as e:
        raise InputError(str(e)) from None
    return np.asarray([self._ids.get(s, 1) for s in symbols], np.int32)

  # -- the render stage --------------------------------------------------------------------

  def _render_batch(self, frames: int, rows: Sequence[Acoustic]) -> list[Speech]:
    batch = next(b for b in self.batch_sizes if b >= len(rows))
    u, depth = self.render_symbols, rows[0].h.shape[-1]
    h = np.zeros((batch, u, depth), rows[0].h.dtype)
    durations = np.zeros((batch, u), np.int32)
    pitch, energy = np.zeros((batch, u), np.float32), np.zeros((batch, u), np.float32)
    counts = np.zeros((batch,), np.int32)
    for i in range(batch):
      row = rows[min(i, len(rows) - 1)]
      n = row.count
      h[i, :n], durations[i, :n], pitch[i, :n], energy[i, :n] = (
          row.h[:n], row.durations[:n], row.pitch[:n], row.energy[:n])
      counts[i] = n
    audio, log_mel, valid = self.executables(("render", frames, batch), self._render[frames], h,
                                             counts, durations, pitch, energy)
    return [Speech(audio[i, :valid[i] * self.hop], log_mel[i, :valid[i]])
            for i in range(len(rows))]

  def render(self, rows: Sequence[Acoustic]) -> list[Speech | InputError]:
    """Acoustic-stage rows -> their speech (or an InputError each), in frame-bucket batches."""
    out: list[Any] = [None] * len(rows)
    groups: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
      total = int(np.sum(row.durations[:row.count]))
      frames = next((f for f in self.frame_buckets if total <= f), None)
      if total == 0:
        out[i] = InputError("the model predicted no frames for this text; is it trained?")
      elif frames is None:
        out[i] = InputError(f"the text needs {total} frames ({total * self.hop / self.sample_rate:.1f}"
                            f" s), more than the longest frame bucket ({self.frame_buckets[-1]}); "
                            f"split the text or speak faster (rate)", 413)
      else:
        groups.setdefault(frames, []).append(i)
    largest = self.batch_sizes[-1]
    for frames, members in sorted(groups.items()):
      for start in range(0, len(members), largest):
        chosen = members[start:start + largest]
        for i, speech in zip(chosen, self._render_batch(frames, [rows[i] for i in chosen])):
          out[i] = speech
    return out

  def warm_up(self) -> None:
    row = Acoustic(np.zeros((1, self._depth), self._dtype), np.ones(1, np.int32),
                   np.zeros(1, np.float32), np.zeros(1, np.float32), 1)
    for frames in self.frame_buckets:
      for batch in self.batch_sizes:
        self._render_batch(frames, [row] * batch)

  def set_shape(self, depth: int, dtype) -> None:
    """The model dim and dtype of h (read from the render functions' inputs)."""
    self._depth, self._dtype = depth, dtype
