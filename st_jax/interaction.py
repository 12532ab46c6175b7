"""Spoken interaction: speech in -> transcript + emotion -> response text -> speech out.

    interaction = Interaction.from_workdirs(asr="runs/asr_tiny", emotion="runs/emotion_tiny",
                                            response="runs/response_tiny", tts="runs/tts")
    turn = interaction("question.wav")        # a path, or float samples at 16 kHz
    turn.transcript, turn.emotion, turn.response, turn.reply_emotion, turn.audio, turn.sample_rate

One turn, in this order (each stage a pluggable callable, so any of them can be swapped or
stubbed):

  1. the input is read once (any rate, mixed to mono, resampled to ``sample_rate``) and checked
     (empty, NaN/Inf or undecodable audio raises AudioError before any stage runs);
  2. ``transcribe([samples]) -> [text]``: an ASR (or ST) workdir, inference.Transcriber;
  3. ``recognise([samples]) -> [emotion.Emotion]``: a classify workdir, emotion.EmotionRecognizer;
  4. ``respond(text, emotion) -> text``: by default the QA response model (an mt workdir trained
     on `st-jax data qa`, inference.TextTranslator); an empty transcript or response is replaced
     by ``NOT_UNDERSTOOD`` without calling it / after it;
  5. ``speak(text, reply_emotion) -> (samples [N] float, rate)``: the TTS workdir's
     synthesis.Synthesizer (with a vocoder: Griffin-Lim or a vocoder workdir), or espeak-ng
     (``tts="espeak"``, the [synth] extra), or any callable.

The reply's emotion is chosen from the recognised one by ``REPLY_EMOTIONS``: a happy speaker
gets a happy reply; a sad speaker a calm (neutral) one rather than mirrored sadness; an angry
speaker a neutral one, to de-escalate rather than mirror anger; neutral stays neutral.

Demo (writes DIR/input.wav, DIR/reply.wav and DIR/round_trip.json)::

  python -m st_jax.interaction --asr W --emotion W --response W [--tts W|espeak] \\
      [--vocoder griffin_lim|W] --in question.wav --out-dir DIR
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any, Callable, Sequence

import numpy as np

from st_jax import inference
from st_jax.data.manifest import EMOTIONS
from st_jax.errors import AudioError, ConfigError, UserError

# Recognised emotion of the speaker -> emotion of the spoken reply (see the module docstring).
REPLY_EMOTIONS = {"neutral": "neutral", "happy": "happy", "sad": "neutral", "angry": "neutral"}
NOT_UNDERSTOOD = "Sorry, I did not understand the question."
SAMPLE_RATE = 16000

Transcribe = Callable[[Sequence[np.ndarray]], Sequence[str]]
Recognise = Callable[[Sequence[np.ndarray]], Sequence[Any]]
Respond = Callable[[str, str], str]
Speak = Callable[[str, str], "tuple[np.ndarray, int]"]


@dataclasses.dataclass
class Turn:
  """One round trip: what was heard and recognised, and the reply (text and speech)."""
  transcript: str
  emotion: str
  emotion_probabilities: dict[str, float]
  response: str
  reply_emotion: str
  audio: np.ndarray        # reply samples, float32 [N]
  sample_rate: int

  def summary(self) -> dict:
    """The JSON-able part (everything but the audio samples)."""
    out = dataclasses.asdict(self)
    del out["audio"]
    out["reply_seconds"] = len(self.audio) / self.sample_rate
    return out


def reply_emotion(emotion: str, mapping: dict[str, str] | None = None) -> str:
  """The reply's emotion for a recognised ``emotion`` (ConfigError for an unknown one)."""
  mapping = REPLY_EMOTIONS if mapping is None else mapping
  if emotion not in mapping:
    raise ConfigError(f"no reply emotion for the recognised emotion {emotion!r}; the mapping "
                      f"covers {', '.join(mapping)}")
  return mapping[emotion]


def _check_reply(spoken, text: str) -> tuple[np.ndarray, int]:
  """The speak callable's (samples, rate), checked: mono, finite, non-empty, rate > 0."""
  try:
    samples, rate = spoken
  except (TypeError, ValueError):
    raise ConfigError(f"speak({text!r}, ...) must return (samples, sample_rate); got "
                      f"{type(spoken).__name__}") from None
  if not isinstance(rate, (int, np.integer)) or rate <= 0:
    raise ConfigError(f"speak({text!r}, ...) returned sample rate {rate!r}; expected a "
                      f"positive integer")
  try:
    samples = inference.read_input(samples, int(rate))
  except AudioError as e:
    raise ConfigError(f"speak({text!r}, ...) returned unusable audio: {e}") from e
  return samples, int(rate)


class Interaction:
  """The spoken interaction pipeline over pluggable stages (see the module docstring)."""

  def __init__(self, transcribe: Transcribe, recognise: Recognise, respond: Respond,
               speak: Speak, sample_rate: int = SAMPLE_RATE,
               reply_emotions: dict[str, str] | None = None):
    self.transcribe, self.recognise, self.respond, self.speak = (transcribe, recognise, respond,
                                                                 speak)
    self.sample_rate = int(sample_rate)
    self.reply_emotions = dict(REPLY_EMOTIONS if reply_emotions is None else reply_emotions)
    unknown = sorted(set(self.reply_emotions.values()) - set(EMOTIONS))
    if unknown:
      raise ConfigError(f"reply emotions {unknown} cannot be spoken; use {', '.join(EMOTIONS)}")

  def __call__(self, source) -> Turn:
    """One turn for ``source``: a path (any rate) or float samples at ``sample_rate``."""
    samples = inference.read_input(source, self.sample_rate)   # AudioError names the source
    [transcript] = self.transcribe([samples])
    [recognised] = self.recognise([samples])
    transcript = " ".join(str(transcript).split())
    response = " ".join(str(self.respond(transcript, recognised.label)).split()) \
        if transcript else ""
    response = response or NOT_UNDERSTOOD
    emotion = reply_emotion(recognised.label, self.reply_emotions)
    audio, rate = _check_reply(self.speak(response, emotion), response)
    return Turn(transcript, recognised.label, dict(recognised.probabilities), response, emotion,
                audio, rate)

  @classmethod
  def from_workdirs(cls, asr: str, emotion: str, response: str, tts: str = "espeak",
                    beam_size: int = 4, speak: Speak | None = None,
                    vocoder: str = "griffin_lim", **kwargs) -> "Interaction":
    """The pipeline of trained workdirs; ``tts`` is a TTS workdir (with ``vocoder``) or
    ``"espeak"``, unless a ``speak`` callable is given."""
    from st_jax.emotion import EmotionRecognizer  # pylint: disable=g-import-not-at-top
    transcriber = _build("--asr", asr, lambda w: inference.Transcriber(
        inference.load_trained(w), beam_size=beam_size))
    recognizer = _build("--emotion", emotion,
                        lambda w: EmotionRecognizer(inference.load_trained(w)))
    rates = {transcriber.trained.config.data.sample_rate,
             recognizer.trained.config.data.sample_rate}
    if len(rates) > 1:
      raise ConfigError(f"--asr {asr} and --emotion {emotion} expect different sample rates "
                        f"{sorted(rates)}; train them at one rate")
    return cls(transcriber, recognizer, qa_responder(response, beam_size),
               speak or tts_speaker(tts, vocoder), sample_rate=rates.pop(), **kwargs)


def _build(flag: str, workdir: str, make: Callable[[str], Any]):
  """``make(workdir)``; a UserError names the command-line flag and the workdir."""
  if not workdir or not os.path.isdir(workdir):
    raise ConfigError(f"{flag} {workdir!r}: no such workdir; train one with `st-jax train`")
  try:
    return make(workdir)
  except UserError as e:
    raise ConfigError(f"{flag} {workdir}: {e}") from e


def qa_responder(workdir: str, beam_size: int = 4) -> Respond:
  """respond(text, emotion) -> answer with the QA response model of ``workdir``
  (configs/response.py). The answer depends on the text only; the emotion shapes the spoken
  reply (REPLY_EMOTIONS), not its words."""
  translator = _build("--response", workdir, lambda w: inference.TextTranslator(
      inference.load_trained(w), beam_size=beam_size))

  def respond(text: str, emotion: str) -> str:
    del emotion
    return translator([text])[0]
  return respond


def espeak_speaker(lang: str = "en", voice: str | None = None, seed: int = 0) -> Speak:
  """speak(text, emotion) with espeak-ng (the built-in corpus' synthesiser, [synth] extra): the
  emotion's prosody of `espeak.emotion_prosody`, with a fixed ``seed`` for its variation."""
  from st_jax.data import espeak  # pylint: disable=g-import-not-at-top
  voice = voice or espeak.VOICES[lang][0]

  def speak(text: str, emotion: str):
    prosody = espeak.emotion_prosody(emotion, np.random.default_rng(seed))
    speech = espeak.speak(text, lang, voice, prosody)
    return speech.samples.astype(np.float32) / 32768.0, speech.sample_rate
  return speak


def tts_speaker(tts: str, vocoder: str = "griffin_lim", lang: str = "en") -> Speak:
  """speak(text, emotion) in ``lang`` with a TTS workdir (synthesis.Synthesizer and
  ``vocoder``: griffin_lim or a vocoder workdir), or with espeak-ng for ``tts="espeak"``."""
  if tts == "espeak":
    return espeak_speaker(lang)
  from st_jax import synthesis  # pylint: disable=g-import-not-at-top
  synthesizer = _build("--tts", tts, lambda w: synthesis.Synthesizer(w, vocoder=vocoder))

  def speak(text: str, emotion: str):
    return synthesizer(text, lang=lang, emotion=emotion), synthesizer.sample_rate
  return speak


def write_turn(turn: Turn, out_dir: str, input_samples: np.ndarray, input_rate: int,
               source: str = "") -> dict:
  """DIR/input.wav, DIR/reply.wav (16-bit) and DIR/round_trip.json; returns the JSON dict."""
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  os.makedirs(out_dir, exist_ok=True)
  sf.write(os.path.join(out_dir, "input.wav"), input_samples, input_rate, subtype="PCM_16")
  sf.write(os.path.join(out_dir, "reply.wav"), np.clip(turn.audio, -1.0, 1.0), turn.sample_rate,
           subtype="PCM_16")
  record = {"input": source, "input_wav": "input.wav", "reply_wav": "reply.wav",
            **turn.summary()}
  with open(os.path.join(out_dir, "round_trip.json"), "w", encoding="utf-8") as f:
    json.dump(record, f, indent=1, ensure_ascii=False)
  return record


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m st_jax.interaction",
                                   description=__doc__.splitlines()[0])
  parser.add_argument("--asr", required=True, help="ASR workdir (asr_conformer)")
  parser.add_argument("--emotion", required=True, help="emotion classifier workdir (classifier)")
  parser.add_argument("--response", required=True, help="QA response workdir (response)")
  parser.add_argument("--tts", default="espeak", help="TTS workdir, or 'espeak' (default)")
  parser.add_argument("--vocoder", default="griffin_lim", help="with a TTS workdir: "
                      "griffin_lim or a vocoder workdir")
  parser.add_argument("--in", dest="input", required=True, help="the spoken question (wav/flac)")
  parser.add_argument("--out-dir", required=True, help="input.wav, reply.wav, round_trip.json")
  parser.add_argument("--beam", type=int, default=4, help="beam size of ASR and response")
  args = parser.parse_args(argv)
  try:
    interaction = Interaction.from_workdirs(args.asr, args.emotion, args.response, args.tts,
                                            beam_size=args.beam, vocoder=args.vocoder)
    samples = inference.read_input(args.input, interaction.sample_rate)
    turn = interaction(samples)
    record = write_turn(turn, args.out_dir, samples, interaction.sample_rate, args.input)
  except UserError as e:
    print(f"interaction: error: {e}", file=sys.stderr)
    return 2
  print(json.dumps(record, indent=1, ensure_ascii=False))
  return 0


if __name__ == "__main__":
  sys.exit(main())
