"""load_vocoder: Griffin-Lim and trained HiFi-GAN workdirs behind one call, padded frames ->
zeros, errors naming the problem; a tiny HiFi-GAN trained through train_and_evaluate."""

import json
import os
import pathlib

import flax.linen as nn
import jax
import numpy as np
import pytest
import soundfile as sf

from st_jax import config_lib
from st_jax import train as train_lib
from st_jax.data import audio as audio_lib
from st_jax.data import storage
from st_jax.data.manifest import Utterance
from st_jax.errors import ConfigError
from st_jax.models import build_model
from st_jax.vocoders import load_vocoder

SR = 16000
FLOOR = np.log(1e-5)
TRAIN_STEPS = 200


def two_signals(seconds: float = 0.3) -> list[np.ndarray]:
  """A 180 Hz harmonic tone and a 300 -> 1200 Hz chirp, 0.3 s each (31 frames)."""
  t = np.arange(int(SR * seconds)) / SR
  tone = sum(0.25 / k * np.sin(2 * np.pi * 180 * k * t) for k in range(1, 6))
  chirp = 0.4 * np.sin(2 * np.pi * (300 * t + 1500 * t ** 2))
  return [tone.astype(np.float32), chirp.astype(np.float32)]


def log_mel_l1(audio, log_mel, frames) -> float:
  """Mean |log-mel(audio) - log_mel| over the first ``frames`` frames, both clipped at 1e-5."""
  back = audio_lib.log_mel(np.asarray(audio), SR)[..., :frames, :]
  return float(np.abs(np.maximum(back, FLOOR) - np.maximum(log_mel[..., :frames, :],
                                                             FLOOR)).mean())


@pytest.fixture(scope="module")
def two_signal_corpus(tmp_path_factory):
  """train: 4 copies of each signal (one 32-frame segment each: the utterances are shorter);
  dev and test: one copy each."""
  out = tmp_path_factory.mktemp("two_signals")
  (out / "audio").mkdir()
  splits = {"train": [], "dev": [], "test": []}
  texts = ["a red car", "the blue house"]
  for split, copies in (("train", 4), ("dev", 1), ("test", 1)):
    for j, x in enumerate(two_signals()):
      for c in range(copies):
        path = out / "audio" / f"{split}-{j}-{c}.wav"
        sf.write(path, x, SR, subtype="PCM_16")
        splits[split].append(Utterance(
            id=f"{split}-{j}-{c}", audio=str(path), duration=len(x) / SR, lang="en",
            text=texts[j], speaker="s", emotion="neutral", translation_de=texts[j],
            translation_fr=texts[j]))
  storage.write_corpus(str(out), splits, SR, tokenizer_vocab=40, workers=1)
  return str(out)


@pytest.fixture(scope="module")
def trained(two_signal_corpus, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("vocoder") / "w"
  config = config_lib.load_config("vocoder:tiny", [
      f"data.corpus_dir={two_signal_corpus}", "data.vocab_size=40",
      f"train.num_steps={TRAIN_STEPS}", f"train.eval_every={TRAIN_STEPS}",
      f"train.checkpoint_every={TRAIN_STEPS}", "train.log_every=50",
      "train.async_checkpointing=False"])
  summary = train_lib.train_and_evaluate(config, str(workdir))
  return config, str(workdir), summary


def test_griffin_lim_vocoder_takes_the_front_end_and_zeroes_padded_frames():
  x = two_signals()[0]
  log_mel = np.stack([audio_lib.log_mel(x, SR)] * 2)       # [2, 31, 80]
  paddings = np.zeros((2, 31), np.float32)
  paddings[1, 20:] = 1.0
  vocoder = load_vocoder("griffin_lim", n_iter=30)
  assert vocoder.sample_rate == 16000 and vocoder.hop_length == 160
  assert vocoder.name == "griffin_lim(n_iter=30)"
  out = vocoder(log_mel, paddings)
  assert out.shape == (2, 31 * 160) and out.dtype == np.float32
  assert np.all(out[1, 20 * 160:] == 0.0) and np.abs(out[1, :20 * 160]).max() > 0.05
  assert log_mel_l1(out[:1], log_mel[:1], 31) < 0.4
  data = config_lib.load_config("vocoder:tiny", ["data.n_mels=40"]).data
  assert load_vocoder("griffin_lim", data=data).n_mels == 40


def test_load_vocoder_errors_name_the_problem(tmp_path):
  with pytest.raises(ConfigError, match="'nonsense'.*griffin_lim"):
    load_vocoder("nonsense")
  with pytest.raises(ConfigError, match="no config.json"):
    load_vocoder(str(tmp_path))
  st_workdir = tmp_path / "st"
  st_workdir.mkdir()
  config_lib.save_config(config_lib.load_config("st_conformer:tiny"), str(st_workdir))
  with pytest.raises(ConfigError, match="st_conformer:tiny.*not a vocoder"):
    load_vocoder(str(st_workdir))
  untrained = tmp_path / "untrained"
  untrained.mkdir()
  config_lib.save_config(config_lib.load_config("vocoder:tiny"), str(untrained))
  with pytest.raises(ConfigError, match="no finished checkpoint"):
    load_vocoder(str(untrained))
  with pytest.raises(ConfigError, match="unknown options.*iterations"):
    load_vocoder("griffin_lim", iterations=3)
  with pytest.raises(ConfigError, match="griffin_lim only"):
    load_vocoder(str(untrained), n_iter=3)
  with pytest.raises(ConfigError, match=r"log-mel \[batch, frames, 80\]"):
    load_vocoder("griffin_lim")(np.zeros((1, 10, 40), np.float32))


@pytest.mark.slow
def test_trained_hifigan_lowers_the_mel_l1_and_loads_as_a_vocoder(trained):
  config, workdir, summary = trained
  signals = two_signals()
  log_mel = np.stack([audio_lib.log_mel(x, SR) for x in signals])    # [2, 31, 80]
  # The untrained generator (same init as training) as a reference point.
  model = build_model(config)
  batch = {"features": log_mel, "feature_paddings": np.zeros((2, 31), np.float32)}
  params = nn.unbox(jax.jit(model.init)(jax.random.fold_in(jax.random.PRNGKey(0), 0x1417),
                                        batch))
  untrained = model.generate(params, log_mel, batch["feature_paddings"])
  vocoder = load_vocoder(workdir, data=config.data)
  assert vocoder.name.startswith("vocoder:tiny:") and vocoder.name.endswith(f"@{TRAIN_STEPS}")
  out = vocoder(log_mel)
  before, after = log_mel_l1(untrained, log_mel, 30), log_mel_l1(out, log_mel, 30)
  print(f"dev mel L1 {summary['dev_loss']:.3f}; vocoder log-mel L1 {before:.3f} -> {after:.3f}")
  # Measured on 2 CPU cores: dev mel L1 1.99 after 200 steps; the vocoder's output log-mel
  # L1 2.60 (untrained generator) -> 1.37.
  assert summary["dev_loss"] < 2.5
  assert after < 0.7 * before
  paddings = np.zeros((2, 31), np.float32)
  paddings[0, 12:] = 1.0
  padded = vocoder(log_mel, paddings)
  assert np.all(padded[0, 12 * 160:] == 0.0)
  np.testing.assert_allclose(padded[1], out[1], atol=1e-5)
  other = config_lib.load_config("vocoder:tiny", ["data.hop_ms=12.5"]).data
  with pytest.raises(ConfigError, match="data.hop_ms: model 12.5 vs vocoder 10.0"):
    load_vocoder(workdir, data=other)
  assert json.load(open(os.path.join(workdir, "config.json")))["data"]["task"] == "vocoder"
  assert pathlib.Path(workdir, "checkpoints", str(TRAIN_STEPS)).exists()
