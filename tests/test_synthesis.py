"""Synthesis from a trained workdir: a character model with a learned alignment (no espeak),
trained through the real loop on the synthetic emotional corpus; its emotion and rate controls,
`st-jax synthesize` writing a wav, and the errors bad input gets."""

import numpy as np
import pytest
import soundfile as sf

from st_jax import cli
from st_jax import train as train_lib
from st_jax.data.manifest import EMOTIONS
from st_jax.synthesis import Synthesizer
from tts_helpers import micro_tts_config, write_tts_corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """6 random-word sentences x 4 emotions, characters, durations=learned, 200 steps."""
  root = tmp_path_factory.mktemp("synthesis")
  write_tts_corpus(root / "corpus", num_sentences=6, speakers=1, random_words=True)
  config = micro_tts_config(root / "corpus", "data.tts_symbols=characters",
                            "model.tts.durations=learned", "train.num_steps=200",
                            "train.eval_split=", "train.checkpoint_every=1000")
  train_lib.train_and_evaluate(config, str(root / "work"))
  return config, str(root / "work"), Synthesizer(str(root / "work"))


def test_emotion_and_rate_move_durations_and_pitch(trained):
  """Sad speech is slower and lower than happy speech in the corpus (tts_helpers)."""
  _, _, synth = trained
  symbols = synth.symbols("mase ui", "de")[None]
  paddings = np.zeros(symbols.shape, np.float32)
  totals, pitch = {}, {}
  for emotion in ("happy", "neutral", "sad"):
    durations, p, _ = synth.model.predict_variances(
        synth.params, symbols, paddings, np.zeros(1, np.int32),
        np.asarray([EMOTIONS.index(emotion)], np.int32), np.ones(1, np.int32))
    totals[emotion], pitch[emotion] = int(np.sum(durations)), float(np.mean(p))
  print(totals, pitch)
  assert totals["happy"] < totals["neutral"] < totals["sad"]
  assert pitch["happy"] > pitch["neutral"] > pitch["sad"]
  _, normal = synth.log_mel("mase ui", "de", "neutral")
  _, fast = synth.log_mel("mase ui", "de", "neutral", rate=2.0)
  assert abs(fast - normal / 2) <= len(symbols[0])


def test_synthesize_cli_writes_a_16_bit_wav(trained, tmp_path, capsys):
  _, workdir, synth = trained
  out = tmp_path / "sad.wav"
  code = cli.main(["synthesize", "--workdir", workdir, "--text", "mase ui", "--emotion", "sad",
                   "--speaker", "spk0", "--out", str(out)])
  assert code == 0 and "wrote" in capsys.readouterr().out
  info = sf.info(str(out))
  assert info.samplerate == synth.sample_rate == 16000 and info.subtype == "PCM_16"
  samples, _ = sf.read(str(out))
  _, frames = synth.log_mel("mase ui", "de", "sad")
  assert len(samples) == frames * 160 and np.abs(samples).max() > 0.01


@pytest.mark.parametrize("args,message", [
    (["--text", " "], "--text is empty"),
    (["--text", "ma", "--emotion", "joyful"], "emotion 'joyful' is unknown; valid emotions: "
                                              "neutral, happy, sad, angry"),
    (["--text", "ma", "--speaker", "bob"], "speaker 'bob' is unknown"),
    (["--text", "ma", "--speaker", "7"], "speakers 0..1"),
    (["--text", "ma", "--lang", "fr"], "language 'fr': this model speaks de"),
    (["--text", "ma", "--rate", "0"], "rate must be > 0"),
    (["--text", "ma", "--vocoder", "nowhere"], "vocoder 'nowhere'"),
])
def test_bad_input_gets_one_line_naming_the_problem(trained, tmp_path, capsys, args, message):
  _, workdir, _ = trained
  code = cli.main(["synthesize", "--workdir", workdir, "--out", str(tmp_path / "x.wav"), *args])
  err = capsys.readouterr().err
  assert code == 2 and message in err and "Traceback" not in err, err
  assert not (tmp_path / "x.wav").exists()


def test_a_workdir_that_is_not_tts_is_refused(tmp_path, capsys):
  (tmp_path / "config.json").write_text('{"name": "st_conformer:tiny", "data": {"task": "st"}}')
  code = cli.main(["synthesize", "--workdir", str(tmp_path), "--text", "x", "--out",
                   str(tmp_path / "x.wav")])
  assert code == 2 and "not a TTS model" in capsys.readouterr().err
