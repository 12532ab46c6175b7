"""Runs synthesize and s2st exports (`tts_export.py`) with jax, numpy, sentencepiece, soundfile.

    model = load_artifact("exports/tts")                       # serving.runtime
    [audio] = model.synthesize(["Guten Morgen."], emotion="happy", rate=1.2)
    model = load_artifact("exports/s2st")
    [speech] = model.s2st(["en.wav"])                          # speech.audio, speech.text

Shape legend: B batch rows (a compiled batch size), U symbols of a bucket, U* the render
stage's symbol axis, T frames of a frame bucket, D TTS model dim, H hop samples.

A request is validated on the host (text, language, emotion, speaker, controls -> symbol ids;
`InputError` naming the problem) and joins the shortest symbol bucket that holds it (s2st: the
audio bucket). A batch runs the acoustic (or s2st) stage; each row's durations give its frame
count, and rows are regrouped into the shortest frame bucket that holds them for the render
stage, whose outputs are cut to each row's frames x H samples. A row whose durations exceed the
longest frame bucket (or sum to 0) gets its own `InputError`; the others in its batch are not
affected. Text -> symbols mirrors `st_jax.synthesis.Synthesizer`: characters lower-cased with
whitespace runs collapsed (`tts_symbols.characters_of`), unknown symbols -> UNK (1); phoneme
models phonemise with espeak-ng, which the runtime imports (st_jax.data.tts_symbols and the
[synth] extra) only for them.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import time
from typing import Any, Sequence

import numpy as np

from serving import runtime
from serving.errors import ArtifactError, InputError

CONTROLS = ("rate", "pitch_shift", "energy_scale")


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


def _control_values(batch: int, controls: Sequence[tuple]) -> list[np.ndarray]:
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


def _first_error(results: Sequence) -> list:
  for result in results:
    if isinstance(result, InputError):
      raise result
  return list(results)


class SynthesisArtifact:
  """A synthesize export: text (+ language, emotion, speaker, controls) -> speech."""

  def __init__(self, directory: str, manifest: dict, functions: list,
               executables: runtime.Executables, batch_sizes: Sequence[int]):
    self.directory, self.manifest, self.task = directory, manifest, "synthesize"
    self.batch_sizes = tuple(sorted(set(int(b) for b in batch_sizes)))
    self.executables = executables
    self.voice = Voice(manifest, functions, executables, self.batch_sizes)
    self.sample_rate = self.voice.sample_rate
    self.symbol_buckets = [int(u) for u in manifest["symbol_buckets"]]
    self._acoustic = {int(spec["symbols"]): fn for spec, fn in zip(manifest["functions"],
                                                                   functions)
                      if spec["stage"] == "acoustic"}

  @property
  def compile_count(self) -> int:
    return self.executables.count

  def health(self) -> dict:
    return {"symbol_buckets": self.symbol_buckets, "frame_buckets": self.voice.frame_buckets,
            "batch_sizes": list(self.batch_sizes), "languages": self.voice.languages,
            "speakers": self.voice.speakers, "emotions": self.voice.emotions}

  def check_task(self, task: str) -> None:
    if task != self.task:
      raise InputError(f"this model does {self.task!r}, not {task!r}; use /v1/{self.task}", 404)

  def prepare_text(self, text, lang=None, emotion=None, speaker=None, **values):
    """A request -> (symbol bucket, (symbols, controls)); ``InputError`` naming a problem."""
    controls, lang, name = self.voice.controls(lang, emotion, speaker, **values)
    symbols = self.voice.symbols(text, lang, name)
    bucket = next((i for i, u in enumerate(self.symbol_buckets) if len(symbols) <= u), None)
    if bucket is None:
      raise InputError(f"the text has {len(symbols)} {self.voice.kind}, more than the longest "
                       f"symbol bucket ({self.symbol_buckets[-1]}); split it into shorter "
                       f"texts", 413)
    return bucket, (symbols, controls)

  def run_batch(self, bucket: int, rows: Sequence[tuple]) -> list[Speech | InputError]:
    """Prepared rows of one symbol bucket (at most max(batch_sizes)) -> speech or an error."""
    u = self.symbol_buckets[bucket]
    batch = next(b for b in self.batch_sizes if b >= len(rows))
    symbols = np.zeros((batch, u), np.int32)
    counts = np.zeros((batch,), np.int32)
    for i in range(batch):
      row = rows[min(i, len(rows) - 1)][0]
      symbols[i, :len(row)], counts[i] = row, len(row)
    h, durations, pitch, energy = self.executables(
        ("acoustic", u, batch), self._acoustic[u], symbols, counts,
        *_control_values(batch, [r[1] for r in rows]))
    return self.voice.render([Acoustic(h[i], durations[i], pitch[i], energy[i], int(counts[i]))
                              for i in range(len(rows))])

  def speak(self, requests: Sequence[dict]) -> list[Speech]:
    """Requests {"text", "lang"?, "emotion"?, "speaker"?, "rate"?, "pitch_shift"?,
    "energy_scale"?} -> Speech, batched per symbol bucket as the server does (rows with
    different controls share a batch); the first bad request raises its InputError."""
    prepared = [self.prepare_text(**request) for request in requests]
    out: list[Any] = [None] * len(prepared)
    largest = self.batch_sizes[-1]
    for bucket in sorted({b for b, _ in prepared}):
      members = [i for i, (b, _) in enumerate(prepared) if b == bucket]
      for start in range(0, len(members), largest):
        chosen = members[start:start + largest]
        for i, speech in zip(chosen, self.run_batch(bucket, [prepared[i][1] for i in chosen])):
          out[i] = speech
    return _first_error(out)

  def synthesize(self, texts: Sequence[str], **request) -> list[np.ndarray]:
    """Texts spoken with the same ``request`` (lang, emotion, speaker, rate, pitch_shift,
    energy_scale) -> float32 waveforms at ``sample_rate``."""
    return [s.audio for s in self.speak([dict(request, text=t) for t in texts])]

  def warm_up(self, batch_sizes=None) -> float:
    """Compiles and runs every (bucket, batch size) of both stages -> seconds taken."""
    del batch_sizes
    start = time.perf_counter()
    for bucket in range(len(self.symbol_buckets)):
      for batch in self.batch_sizes:
        self.run_batch(bucket, [(np.full(1, 2, np.int32), (0, 0, 0, 1.0, 0.0, 1.0))] * batch)
    self.voice.warm_up()
    return time.perf_counter() - start


class S2STArtifact(runtime.Artifact):
  """An s2st export: speech -> translated speech (`Speech` with the translation as text)."""

  def __init__(self, directory: str, manifest: dict, functions: list,
               executables: runtime.Executables, tokenizer, batch_sizes: Sequence[int]):
    speech = [fn for spec, fn in zip(manifest["functions"], functions) if spec["stage"] == "s2st"]
    super().__init__(directory, manifest, speech, executables, tokenizer, batch_sizes)
    self.voice = Voice(manifest, functions, executables, self.batch_sizes)
    self.output_sample_rate = self.voice.sample_rate
    self.capacity = [int(f["symbols"]) for f in manifest["functions"] if f["stage"] == "s2st"]

  def health(self) -> dict:
    return {**super().health(), "frame_buckets": self.voice.frame_buckets,
            "output_sample_rate": self.output_sample_rate}

  def run_batch(self, bucket: int, rows: Sequence) -> list[Speech | InputError]:
    """Rows (samples, or (samples, controls)) of one audio bucket -> Speech with ``text``."""
    rows = [r if isinstance(r, tuple) else (r, self.voice.controls()[0]) for r in rows]
    batch = self.batch_size_for(len(rows))
    samples, counts = self.pad_rows(bucket, [r[0] for r in rows], batch)
    tokens, symbols, totals, h, durations, pitch, energy = self.executables(
        ("s2st", bucket, batch), self._functions[bucket], samples, counts,
        *_control_values(batch, [r[1] for r in rows]))
    out: list[Any] = [None] * len(rows)
    speaking = []
    for i in range(len(rows)):
      text, total = self.detokenize(tokens[i]), int(totals[i])
      if total > self.capacity[bucket]:
        out[i] = InputError(f"the translation has {total} characters, more than this export "
                            f"speaks at once ({self.capacity[bucket]}); send shorter audio", 413)
      elif total == 0:
        out[i] = Speech(np.zeros(0, np.float32), np.zeros((0, 0), np.float32), text,
                        symbols[i, :0])
      else:
        speaking.append((i, Acoustic(h[i], durations[i], pitch[i], energy[i], total)))
    for (i, _), speech in zip(speaking, self.voice.render([a for _, a in speaking])):
      if isinstance(speech, Speech):
        speech.text, speech.symbols = self.detokenize(tokens[i]), symbols[i, :int(totals[i])]
      out[i] = speech
    return out

  def s2st(self, sources: Sequence[Any], **request) -> list[Speech]:
    """Audio (float arrays at `sample_rate`, or file paths) -> translated Speech; ``request``:
    emotion, speaker, rate, pitch_shift, energy_scale of the spoken translation."""
    controls = self.voice.controls(**request)[0]
    rows = [self.prepare(s, s if isinstance(s, str) else f"input {i}")
            for i, s in enumerate(sources)]
    buckets = [self.bucket_for(len(r), f"input {i}") for i, r in enumerate(rows)]
    out: list[Any] = [None] * len(rows)
    largest = self.batch_sizes[-1]
    for bucket in sorted(set(buckets)):
      members = [i for i, b in enumerate(buckets) if b == bucket]
      for start in range(0, len(members), largest):
        chosen = members[start:start + largest]
        results = self.run_batch(bucket, [(rows[i], controls) for i in chosen])
        for i, speech in zip(chosen, results):
          out[i] = speech
    return _first_error(out)

  def warm_up(self, batch_sizes=None) -> float:
    start = time.perf_counter()
    for bucket in range(len(self.max_samples)):
      for batch in batch_sizes or self.batch_sizes:
        self.run_batch(bucket, [np.zeros(self.max_samples[bucket], np.float32)] * batch)
    self.voice.warm_up()
    return time.perf_counter() - start


def _check_phonemiser(directory: str, manifest: dict) -> None:
  """A phoneme export needs st_jax's espeak wrapper and the espeak-ng library (the [synth]
  extra) on this host; ArtifactError saying so before anything is served."""
  if manifest["tts"]["symbols"]["kind"] == "characters":
    return
  for module in ("st_jax.data.tts_symbols", "espeakng_loader"):
    try:
      importlib.import_module(module)
    except ImportError as e:
      raise ArtifactError(f"{directory}: this export reads phonemes, and turning text into "
                          f"phonemes needs espeak-ng on this host ({module} cannot be imported: "
                          f"{e}); install it with pip install 'st-jax[synth]', or export a "
                          f"character model (--config.data.tts_symbols=characters)") from None


def build(directory: str, manifest: dict, functions: list, weights: list,
          batch_sizes: Sequence[int]):
  """The loaded artifact of a synthesize or s2st export (called by `runtime.load_artifact`)."""
  _check_phonemiser(directory, manifest)
  executables = runtime.Executables(weights)
  count = len(manifest["weights"]["names"])
  render = next(fn for spec, fn in zip(manifest["functions"], functions)
                if spec["stage"] == "render")
  h = render.in_avals[count]
  if manifest["task"] == "s2st":
    model = S2STArtifact(directory, manifest, functions, executables,
                         runtime.load_tokenizer(directory, manifest), batch_sizes)
  else:
    model = SynthesisArtifact(directory, manifest, functions, executables, batch_sizes)
  model.voice.set_shape(int(h.shape[-1]), np.dtype(h.dtype))
  return model
