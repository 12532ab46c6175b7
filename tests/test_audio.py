"""Audio front end: librosa parity on real clips, jax == numpy, resampling, bad input."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf

from st_jax.data import audio
from st_jax.errors import AudioError

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLIPS = ["ljspeech_subset/wavs/LJ001-0001.wav",                  # 22.05 kHz
         "fsdd/recordings/0_jackson_0.wav",                      # 8 kHz
         "speechbrain_asr_samples/wavs"]                         # 16 kHz (first file)


def librosa_log_mel(y, sr=16000, n_mels=80):
  librosa = pytest.importorskip("librosa")
  mel = librosa.feature.melspectrogram(
      y=y.astype(np.float64), sr=sr, n_fft=512, hop_length=160, win_length=400,
      window="hann", center=True, pad_mode="reflect", power=2.0, n_mels=n_mels)
  return np.log(np.maximum(mel, 1e-10)).T


def chirp(seconds=1.3, sr=16000):
  t = np.arange(int(seconds * sr)) / sr
  return (0.5 * np.sin(2 * np.pi * (100 + 3000 * t) * t)).astype(np.float32)


def test_log_mel_matches_librosa_on_a_chirp():
  y = chirp()
  ours = audio.log_mel(y, 16000)
  assert ours.shape == (1 + len(y) // 160, 80) and ours.dtype == np.float32
  np.testing.assert_allclose(ours, librosa_log_mel(y), atol=1e-4)


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data (real speech clips) is absent")
@pytest.mark.parametrize("clip", CLIPS)
def test_log_mel_matches_librosa_on_real_speech(clip):
  path = SHARED / clip
  if path.is_dir():
    path = sorted(path.glob("*.wav"))[0]
  y, rate = audio.load_audio(str(path), 16000)
  assert rate == 16000
  np.testing.assert_allclose(audio.log_mel(y, 16000), librosa_log_mel(y), atol=1e-4)


def test_jax_log_mel_equals_numpy_and_batches():
  y = chirp()
  ours = audio.log_mel(y, 16000)
  fn = jax.jit(lambda x: audio.log_mel(x, 16000, xp=jnp))
  single = np.asarray(fn(y))
  # float32 FFT: equal to 1e-3 where there is energy (log-mel > -15), tiny on average
  loud = ours > -15
  np.testing.assert_allclose(single[loud], ours[loud], atol=1e-3)
  assert np.abs(single - ours).mean() < 1e-3
  batch = np.stack([y, y[::-1].copy()])
  np.testing.assert_allclose(np.asarray(fn(batch))[0], single, atol=1e-5)
  np.testing.assert_allclose(audio.log_mel(batch, 16000)[1], audio.log_mel(y[::-1], 16000),
                             atol=1e-6)


@pytest.mark.parametrize("rate_in", [8000, 22050, 44100, 48000])
def test_resampling_keeps_length_and_frequency(rate_in):
  t = np.arange(rate_in) / rate_in
  y = np.sin(2 * np.pi * 440.0 * t).astype(np.float32)
  out = audio.resample(y, rate_in, 16000)
  assert len(out) == 16000 and out.dtype == np.float32
  spectrum = np.abs(np.fft.rfft(out))
  assert np.argmax(spectrum) == 440   # 1 Hz per bin over one second


def test_feature_stats_equal_numpy_over_the_concatenation(tmp_path):
  rng = np.random.default_rng(0)
  feats = [rng.normal(3.0, 2.0, (n, 5)).astype(np.float32) for n in (10, 37, 4)]
  stats = audio.FeatureStats.accumulate(feats)
  allf = np.concatenate(feats)
  np.testing.assert_allclose(stats.mean, allf.mean(0), rtol=1e-5)
  np.testing.assert_allclose(stats.std, allf.std(0), rtol=1e-5)
  stats.save(str(tmp_path / "s.json"))
  loaded = audio.FeatureStats.load(str(tmp_path / "s.json"))
  np.testing.assert_allclose(loaded.apply(allf).mean(0), 0.0, atol=1e-5)
  normed = audio.utterance_normalize(feats[1])
  np.testing.assert_allclose(normed.std(0), 1.0, rtol=1e-4)


def test_stereo_is_mixed_to_mono(tmp_path):
  left = np.full(800, 0.5, np.float32)
  path = tmp_path / "stereo.wav"
  sf.write(path, np.stack([left, -0.25 * np.ones(800, np.float32)], 1), 16000, subtype="FLOAT")
  y, rate = audio.load_audio(str(path))
  np.testing.assert_allclose(y, 0.125) and rate == 16000


def _write(tmp_path, name, content):
  path = tmp_path / name
  if isinstance(content, bytes):
    path.write_bytes(content)
  else:
    sf.write(path, content, 16000, subtype="FLOAT")
  return str(path)


@pytest.mark.parametrize("name, content, problem", [
    ("empty.wav", b"", "empty (0 bytes)"),
    ("text.wav", b"this is not audio at all" * 20, "not a readable audio file"),
    ("zero.wav", np.zeros(0, np.float32), "zero samples"),
    ("nan.wav", np.array([0.1, np.nan, 0.2] * 100, np.float32), "NaN/Inf"),
])
def test_bad_audio_errors_name_the_file_and_problem(tmp_path, name, content, problem):
  path = _write(tmp_path, name, content)
  with pytest.raises(AudioError) as error:
    audio.load_audio(path)
  assert name in str(error.value) and problem in str(error.value)


def test_truncated_and_missing_files(tmp_path):
  good = _write(tmp_path, "good.wav", np.zeros(16000, np.float32) + 0.1)
  data = pathlib.Path(good).read_bytes()
  truncated = _write(tmp_path, "cut.wav", data[:30])     # header cut mid-way
  with pytest.raises(AudioError, match="cut.wav"):
    audio.load_audio(truncated)
  with pytest.raises(AudioError, match="missing.wav: audio file does not exist"):
    audio.load_audio(str(tmp_path / "missing.wav"))
  with pytest.raises(AudioError, match="request body: empty audio body"):
    audio.decode_audio_bytes(b"", 16000, "request body")
  y, _ = audio.decode_audio_bytes(data, 16000, "request body")
  assert len(y) == 16000
