"""The spoken interaction pipeline with stub stages (order of calls, the reply-emotion mapping,
fallbacks, errors) and once with real micro workdirs (ASR, emotion classifier, QA response)."""

import json

import numpy as np
import pytest
import soundfile as sf

from st_jax import config_lib, interaction
from st_jax import train as train_lib
from st_jax.data import qa_corpus
from st_jax.emotion import Emotion
from st_jax.errors import AudioError, ConfigError
from st_jax.interaction import NOT_UNDERSTOOD, REPLY_EMOTIONS, Interaction
from test_emotion import train_micro_classifier
from test_qa_corpus import MICRO as RESPONSE_MICRO, QUIET
from train_helpers import micro_config

RATE = 16000


class Stubs:
  """Stages that record their calls; the recognised emotion and transcript are set per test."""

  def __init__(self, emotion="neutral", transcript="What is two plus two?",
               response="Two plus two is four."):
    self.calls, self.emotion, self.transcript, self.response = [], emotion, transcript, response

  def transcribe(self, samples):
    self.calls.append(("transcribe", len(samples), samples[0].dtype))
    return [self.transcript]

  def recognise(self, samples):
    self.calls.append(("recognise", len(samples)))
    return [Emotion(self.emotion, {e: float(e == self.emotion) for e in REPLY_EMOTIONS})]

  def respond(self, text, emotion):
    self.calls.append(("respond", text, emotion))
    return self.response

  def speak(self, text, emotion):
    self.calls.append(("speak", text, emotion))
    return np.full(800, 0.1, np.float32), 22050

  def pipeline(self, **kwargs):
    return Interaction(self.transcribe, self.recognise, self.respond, self.speak, **kwargs)


def tone(seconds=0.5):
  t = np.arange(int(seconds * RATE)) / RATE
  return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_stages_run_in_order_with_the_mapped_reply_emotion():
  stubs = Stubs(emotion="sad")
  turn = stubs.pipeline()(tone())
  assert stubs.calls == [("transcribe", 1, np.float32), ("recognise", 1),
                         ("respond", "What is two plus two?", "sad"),
                         ("speak", "Two plus two is four.", "neutral")]
  assert (turn.transcript, turn.emotion, turn.response, turn.reply_emotion) == (
      "What is two plus two?", "sad", "Two plus two is four.", "neutral")
  assert turn.sample_rate == 22050 and turn.audio.shape == (800,)
  assert turn.emotion_probabilities["sad"] == 1.0


@pytest.mark.parametrize("heard,reply", [("neutral", "neutral"), ("happy", "happy"),
                                         ("sad", "neutral"), ("angry", "neutral")])
def test_reply_emotion_mapping(heard, reply):
  stubs = Stubs(emotion=heard)
  assert stubs.pipeline()(tone()).reply_emotion == reply == interaction.reply_emotion(heard)


def test_custom_mapping_and_unknown_emotion():
  stubs = Stubs(emotion="angry")
  turn = stubs.pipeline(reply_emotions={**REPLY_EMOTIONS, "angry": "sad"})(tone())
  assert turn.reply_emotion == "sad" and stubs.calls[-1][2] == "sad"
  with pytest.raises(ConfigError, match="'bored'"):
    Stubs(emotion="bored").pipeline()(tone())
  with pytest.raises(ConfigError, match="calm"):
    stubs.pipeline(reply_emotions={"sad": "calm"})


def test_empty_transcript_or_response_gets_the_fallback_reply():
  stubs = Stubs(transcript="  ")
  turn = stubs.pipeline()(tone())
  assert [c[0] for c in stubs.calls] == ["transcribe", "recognise", "speak"]
  assert turn.response == NOT_UNDERSTOOD and stubs.calls[-1][1] == NOT_UNDERSTOOD
  stubs = Stubs(response="")
  assert stubs.pipeline()(tone()).response == NOT_UNDERSTOOD


def test_bad_audio_stops_before_any_stage(tmp_path):
  stubs = Stubs()
  with pytest.raises(AudioError, match="NaN"):
    stubs.pipeline()(np.full(1600, np.nan, np.float32))
  with pytest.raises(AudioError, match="zero samples"):
    stubs.pipeline()(np.zeros(0, np.float32))
  junk = tmp_path / "junk.wav"
  junk.write_bytes(b"not audio at all")
  with pytest.raises(AudioError, match="junk.wav"):
    stubs.pipeline()(str(junk))
  assert stubs.calls == []


def test_files_at_any_rate_are_resampled(tmp_path):
  path = tmp_path / "q.wav"
  sf.write(path, tone(1.0)[::2], 8000)
  stubs = Stubs()
  recorded = []
  stubs.transcribe = lambda samples: recorded.append(len(samples[0])) or ["Hi?"]
  stubs.pipeline()(str(path))
  assert recorded == [RATE]


def test_bad_speak_output_is_named():
  for bad in (None, (np.zeros(0, np.float32), RATE), (np.ones(10, np.float32), 0)):
    stubs = Stubs()
    stubs.speak = lambda text, emotion, bad=bad: bad
    with pytest.raises(ConfigError, match="speak"):
      stubs.pipeline()(tone())


def test_missing_workdirs_are_named(tmp_path, capsys):
  with pytest.raises(ConfigError, match="--asr .*no such workdir"):
    Interaction.from_workdirs(str(tmp_path / "nope"), str(tmp_path), str(tmp_path))
  (tmp_path / "empty").mkdir()
  with pytest.raises(ConfigError, match="--asr .*empty.*config.json"):
    Interaction.from_workdirs(str(tmp_path / "empty"), str(tmp_path), str(tmp_path))
  with pytest.raises(ConfigError, match="--tts"):
    interaction.tts_speaker(str(tmp_path / "no_tts"))
  args = ["--asr", str(tmp_path / "nope"), "--emotion", "e", "--response", "r", "--in", "q.wav",
          "--out-dir", str(tmp_path / "out")]
  assert interaction.main(args) == 2
  assert "--asr" in capsys.readouterr().err


def test_write_turn(tmp_path):
  turn = Stubs(emotion="happy").pipeline()(tone())
  record = interaction.write_turn(turn, str(tmp_path), tone(), RATE, "q.wav")
  saved = json.load(open(tmp_path / "round_trip.json"))
  assert saved == record and saved["reply_emotion"] == "happy" and saved["input"] == "q.wav"
  assert saved["reply_seconds"] == pytest.approx(800 / 22050)
  reply, rate = sf.read(tmp_path / "reply.wav")
  assert rate == 22050 and len(reply) == 800
  assert sf.info(str(tmp_path / "input.wav")).samplerate == RATE


@pytest.mark.slow
def test_real_workdirs_with_a_stub_speaker(tone_corpus, tmp_path):
  """ASR, emotion and response micro workdirs (4 training steps each) in one round trip."""
  asr = tmp_path / "asr"
  train_lib.train_and_evaluate(micro_config(tone_corpus, "data.task=asr", *QUIET),
                               str(asr))
  emotion = train_micro_classifier(tone_corpus, str(tmp_path / "emotion"))
  qa_corpus.write_qa_corpus(str(tmp_path / "qa"), size=30, seed=1)
  response = tmp_path / "response"
  train_lib.train_and_evaluate(config_lib.load_config(
      "response:tiny", [f"data.corpus_dir={tmp_path / 'qa'}", *RESPONSE_MICRO]), str(response))
  stubs = Stubs()
  pipeline = Interaction.from_workdirs(str(asr), emotion, str(response), beam_size=1,
                                       speak=stubs.speak)
  turn = pipeline(tone(1.0))
  assert isinstance(turn.transcript, str) and turn.emotion in REPLY_EMOTIONS
  assert turn.response and turn.reply_emotion == REPLY_EMOTIONS[turn.emotion]
  assert stubs.calls == [("speak", turn.response, turn.reply_emotion)]
  with pytest.raises(ConfigError, match="--response .*'asr'"):
    Interaction.from_workdirs(str(asr), emotion, str(asr), speak=stubs.speak)
