"""Speech-to-speech translation: source speech -> target text (end-to-end ST) -> target speech.

    s2st = S2ST.from_workdirs("runs/st_tiny", "runs/tts_de", vocoder="griffin_lim")
    result = s2st("question.wav", emotion="happy")     # a path (any rate) or float samples
    result.text, result.audio, result.sample_rate, result.emotion
    st-jax s2st --workdir runs/st_tiny --tts-workdir runs/tts_de in.wav --out out.wav

Stages, each a callable so either can be replaced or stubbed:

  1. the input is read once (inference.read_input: any rate, mixed to mono, resampled to the
     ST model's rate; missing, empty, undecodable or NaN audio raises AudioError naming it);
  2. ``translate([samples]) -> [text]``: an ``st`` workdir through inference.Transcriber
     (beam search; long audio in windows whose texts are stitched);
  3. optionally ``recognise([samples]) -> [emotion.Emotion]``: an emotion classifier of the
     source language, whose label is the spoken emotion when none is given, so a sad question
     is answered in a sad voice in the other language;
  4. ``speak(text, lang, emotion, speaker, rate) -> samples``: a TTS workdir's
     synthesis.Synthesizer (the ST model's target language) with its vocoder.

The language checks run on the workdirs' config.json files before any weights load: the ST
workdir must hold an ``st`` model, the TTS workdir a ``tts`` model that speaks the ST model's
target language (data.tgt_lang), and an emotion classifier must hear the ST model's source
language.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from st_jax import config_lib, inference
from st_jax.data import tts_features
from st_jax.data.manifest import EMOTIONS
from st_jax.errors import ConfigError, UserError

Translate = Callable[[Sequence[np.ndarray]], Sequence[str]]
Recognise = Callable[[Sequence[np.ndarray]], Sequence[Any]]


@dataclasses.dataclass
class S2STResult:
  """One translated utterance: the target text, the emotion it was spoken with, the audio."""
  text: str
  lang: str
  emotion: str
  audio: np.ndarray         # float32 [N] at sample_rate
  sample_rate: int
  source_seconds: float

  @property
  def seconds(self) -> float:
    return len(self.audio) / self.sample_rate


def check_workdirs(st_workdir: str, tts_workdir: str, emotion_workdir: str | None = None) -> str:
  """Config-level checks of the module doc -> the target language. ConfigError naming the
  workdir, the field and the fix."""
  st = config_lib.load_workdir_config(st_workdir)
  if st.data.get("task") != "st":
    raise ConfigError(f"--workdir {st_workdir} holds a {st.get('name', '?')!r} model "
                      f"(data.task={st.data.get('task')!r}); speech-to-speech translation needs "
                      f"an end-to-end ST workdir (configs/st_conformer.py)")
  tts = config_lib.load_workdir_config(tts_workdir)
  if tts.data.get("task") != "tts":
    raise ConfigError(f"--tts-workdir {tts_workdir} holds a {tts.get('name', '?')!r} model "
                      f"(data.task={tts.data.get('task')!r}), not a TTS model (configs/tts.py)")
  target, spoken = st.data.tgt_lang, tts_features.languages(tts.data)
  if target not in spoken:
    raise ConfigError(f"--workdir {st_workdir} translates into {target!r} (data.tgt_lang) but "
                      f"--tts-workdir {tts_workdir} speaks {', '.join(spoken)}; train the TTS "
                      f"model with --config.data.src_lang={target}")
  if emotion_workdir:
    emo = config_lib.load_workdir_config(emotion_workdir)
    heard = emo.data.get("src_lang")
    if emo.data.get("task") != "classify" or heard != st.data.src_lang:
      raise ConfigError(f"--emotion-workdir {emotion_workdir}: expected an emotion classifier "
                        f"of {st.data.src_lang!r} speech (the ST model's data.src_lang); it "
                        f"holds {emo.get('name', '?')!r} for {heard!r}")
  return target


class S2ST:
  """Source speech -> `S2STResult` (module doc). ``speak`` is a synthesis.Synthesizer (or
  anything with its call signature and a ``sample_rate``)."""

  def __init__(self, translate: Translate, speak, lang: str, sample_rate: int,
               recognise: Recognise | None = None):
    self.translate, self.speak, self.lang = translate, speak, lang
    self.input_rate, self.recognise = int(sample_rate), recognise

  @classmethod
  def from_workdirs(cls, st_workdir: str, tts_workdir: str, vocoder: str = "griffin_lim",
                    emotion_workdir: str | None = None, beam_size: int = 4,
                    step: int | None = None, tts_step: int | None = None) -> "S2ST":
    from st_jax.synthesis import Synthesizer  # pylint: disable=g-import-not-at-top
    lang = check_workdirs(st_workdir, tts_workdir, emotion_workdir)
    trained = inference.load_trained(st_workdir, step)
    recognise = None
    if emotion_workdir:
      from st_jax.emotion import EmotionRecognizer  # pylint: disable=g-import-not-at-top
      recognise = EmotionRecognizer(inference.load_trained(emotion_workdir))
    return cls(inference.Transcriber(trained, beam_size, batch_size=1),
               Synthesizer(tts_workdir, tts_step, vocoder), lang,
               trained.config.data.sample_rate, recognise)

  @property
  def sample_rate(self) -> int:
    return int(self.speak.sample_rate)

  def __call__(self, source, emotion: str | None = None, speaker=None,
               rate: float = 1.0) -> S2STResult:
    """``source``: a path or float samples at the ST model's rate. ``emotion``: spoken
    emotion (default: the recognised one with an emotion classifier, else neutral)."""
    if emotion is not None and emotion not in EMOTIONS:
      raise ConfigError(f"emotion {emotion!r} is unknown; valid emotions: {', '.join(EMOTIONS)}")
    samples = inference.read_input(source, self.input_rate)   # AudioError names the input
    [text] = self.translate([samples])
    if not text.strip():
      raise UserError(f"{source if isinstance(source, str) else 'the input'}: the translation "
                      f"is empty (is it speech in the ST model's source language?); nothing "
                      f"to speak")
    if emotion is None:
      emotion = self.recognise([samples])[0].label if self.recognise else "neutral"
    audio = self.speak(text, self.lang, emotion, speaker, rate)
    return S2STResult(text, self.lang, emotion, np.asarray(audio, np.float32), self.sample_rate,
                      len(samples) / self.input_rate)


def translate_file(st_workdir: str, tts_workdir: str, source: str, out: str, *,
                   vocoder: str = "griffin_lim", emotion: str | None = None,
                   emotion_workdir: str | None = None, speaker=None, rate: float = 1.0,
                   beam_size: int = 4, step: int | None = None) -> S2STResult:
  """`st-jax s2st`: translates ``source`` and writes the target speech to ``out`` (16-bit)."""
  from st_jax.synthesis import write_wav  # pylint: disable=g-import-not-at-top
  if emotion is not None and emotion not in EMOTIONS:   # before any model loads
    raise ConfigError(f"--emotion {emotion!r} is unknown; valid emotions: {', '.join(EMOTIONS)}")
  check_workdirs(st_workdir, tts_workdir, emotion_workdir)
  rate_in = config_lib.load_workdir_config(st_workdir).data.sample_rate
  samples = inference.read_input(source, rate_in)       # bad audio fails before models load
  s2st = S2ST.from_workdirs(st_workdir, tts_workdir, vocoder, emotion_workdir, beam_size, step)
  result = s2st(samples, emotion, speaker, rate)
  write_wav(out, result.audio, result.sample_rate)
  return result
