"""Speech-to-speech translation: a micro ST model (tone corpus, English -> German) and a micro
German character TTS trained here, end to end through `st-jax s2st`; the S2ST stages with
stubs; the language and input checks."""

import json
import os

import numpy as np
import pytest
import soundfile as sf

from st_jax import cli, inference, s2st
from st_jax import train as train_lib
from st_jax.emotion import Emotion
from st_jax.errors import AudioError, ConfigError, UserError
from train_helpers import micro_config
from tts_helpers import micro_tts_config, write_tts_corpus


@pytest.fixture(scope="module")
def workdirs(tone_corpus, tmp_path_factory):
  root = tmp_path_factory.mktemp("s2st")
  train_lib.train_and_evaluate(micro_config(tone_corpus, "train.eval_split=", "train.num_steps=4",
                                            "train.checkpoint_every=4",
                                            "train.async_checkpointing=False"),
                               str(root / "st"))
  write_tts_corpus(root / "corpus", num_sentences=6, speakers=1, random_words=True)
  train_lib.train_and_evaluate(micro_tts_config(
      root / "corpus", "data.tts_symbols=characters", "model.tts.durations=learned",
      "train.num_steps=120", "train.eval_split=", "train.checkpoint_every=1000"),
      str(root / "tts"))
  return str(root / "st"), str(root / "tts")


def test_cli_speaks_the_translation(workdirs, tone_corpus, tmp_path, capsys):
  st, tts = workdirs
  wav = os.path.join(tone_corpus, "audio", "test-0005-en.wav")
  out = tmp_path / "out.wav"
  code = cli.main(["s2st", "--workdir", st, "--tts-workdir", tts, wav, "--out", str(out),
                   "--emotion", "sad", "--beam", "2"])
  captured = capsys.readouterr()
  assert code == 0, captured.err
  [expected] = inference.Transcriber(inference.load_trained(st), 2)([wav])
  assert captured.out.splitlines() == [expected] and expected.strip()
  assert "de speech, emotion sad" in captured.err
  info = sf.info(str(out))
  assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.channels == 1
  samples, _ = sf.read(str(out))
  assert len(samples) % 160 == 0 and len(samples) > 0 and np.isfinite(samples).all()


def test_s2st_class_matches_its_stages(workdirs, tone_corpus):
  st, tts = workdirs
  pipeline = s2st.S2ST.from_workdirs(st, tts, beam_size=2)
  samples, _ = sf.read(os.path.join(tone_corpus, "audio", "test-0005-en.wav"), dtype="float32")
  result = pipeline(samples, emotion="happy")
  assert result.lang == "de" and result.emotion == "happy" and result.sample_rate == 16000
  np.testing.assert_allclose(result.audio, pipeline.speak(result.text, "de", "happy"),
                             atol=1e-6)
  assert result.source_seconds == pytest.approx(len(samples) / 16000)


class StubVoice:
  sample_rate = 16000

  def __init__(self):
    self.calls = []

  def __call__(self, text, lang, emotion, speaker=None, rate=1.0):
    self.calls.append((text, lang, emotion, speaker, rate))
    return np.full(160 * len(text), 0.1, np.float32)


def test_recognised_emotion_is_spoken_and_empty_translations_stop():
  voice = StubVoice()
  recognise = lambda clips: [Emotion("angry", {"angry": 1.0})] * len(clips)
  pipeline = s2st.S2ST(lambda clips: ["Guten Tag."] * len(clips), voice, "de", 16000,
                       recognise)
  result = pipeline(np.zeros(8000, np.float32) + 0.01, speaker="de+f1", rate=1.5)
  assert voice.calls == [("Guten Tag.", "de", "angry", "de+f1", 1.5)]
  assert result.text == "Guten Tag." and result.seconds == pytest.approx(0.1)
  assert pipeline(np.ones(800, np.float32) * 0.01, emotion="sad").emotion == "sad"
  silent = s2st.S2ST(lambda clips: ["  "], voice, "de", 16000)
  with pytest.raises(UserError, match="the translation is empty"):
    silent(np.ones(800, np.float32) * 0.01)
  with pytest.raises(AudioError):
    silent(np.full(800, np.nan, np.float32))
  with pytest.raises(ConfigError, match="emotion 'joyful' is unknown"):
    silent(np.ones(800, np.float32), emotion="joyful")


def _fake(path, name, **data):
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump({"name": name, "data": data}, f)
  return str(path)


def test_language_and_model_checks(tmp_path):
  st = _fake(tmp_path / "st", "st_conformer:tiny", task="st", src_lang="en", tgt_lang="de")
  st_fr = _fake(tmp_path / "st_fr", "st_conformer:tiny", task="st", src_lang="en", tgt_lang="fr")
  asr = _fake(tmp_path / "asr", "asr_conformer:tiny", task="asr", src_lang="en", tgt_lang="en")
  tts = _fake(tmp_path / "tts", "tts:tiny", task="tts", src_lang="de", tts_langs=[])
  emo_de = _fake(tmp_path / "emo", "classifier:tiny", task="classify", src_lang="de")
  assert s2st.check_workdirs(st, tts) == "de"
  with pytest.raises(ConfigError, match=r"translates into 'fr' \(data.tgt_lang\) but "
                                        r"--tts-workdir .* speaks de"):
    s2st.check_workdirs(st_fr, tts)
  with pytest.raises(ConfigError, match="needs an end-to-end ST workdir"):
    s2st.check_workdirs(asr, tts)
  with pytest.raises(ConfigError, match="not a TTS model"):
    s2st.check_workdirs(st, st)
  with pytest.raises(ConfigError, match="emotion classifier of 'en' speech"):
    s2st.check_workdirs(st, tts, emo_de)


def test_cli_errors_are_one_line(workdirs, tmp_path, capsys):
  st, tts = workdirs
  out = tmp_path / "x.wav"
  bad = tmp_path / "bad.wav"
  bad.write_bytes(b"not audio at all")
  for args, message in (([str(tmp_path / "missing.wav")], "does not exist"),
                        ([str(bad)], "bad.wav"),
                        ([str(bad), "--emotion", "joyful"], "'joyful' is unknown"),
                        ([str(bad), "--tts-workdir", st], "not a TTS model")):
    code = cli.main(["s2st", "--workdir", st, "--tts-workdir", tts, "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not out.exists()
