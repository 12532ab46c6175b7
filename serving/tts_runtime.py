"""Runs synthesize and s2st exports (`tts_export.py`) with jax, numpy, sentencepiece, soundfile.

    model = load_artifact("exports/tts")                       # serving.runtime
    [audio] = model.synthesize(["Guten Morgen."], emotion="happy", rate=1.2)
    model = load_artifact("exports/s2st")
    [speech] = model.s2st(["en.wav"])                          # speech.audio, speech.text

A request is validated on the host (`voice.Voice`: text, language, emotion, speaker, controls;
`InputError` naming the problem) and joins the shortest symbol bucket that holds it (s2st: the
audio bucket). A batch runs the acoustic (or s2st) stage, then `Voice.render` regroups its rows
by frame bucket for the render stage; a row that fails there fails alone. Shapes: B batch rows,
U symbols of a bucket, N samples of an audio bucket.
"""

from __future__ import annotations

import importlib
import time
from typing import Any, Sequence

import numpy as np

from serving import runtime
from serving.errors import ArtifactError, InputError
from serving.voice import Acoustic, Speech, Voice, control_values

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
        *control_values(batch, [r[1] for r in rows]))
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
        *control_values(batch, [r[1] for r in rows]))
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
