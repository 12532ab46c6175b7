"""Audio front end: decoding and its errors, resampling, log-mel parity, normalisation.

Log-mel reference: ``np.log(np.maximum(librosa.feature.melspectrogram(y=float64 samples,
sr=16000, n_fft=512, hop_length=160, win_length=400, window='hann', center=True,
pad_mode='reflect', power=2.0, n_mels=80), 1e-10)).T`` (librosa 0.10/0.11), compared with an
absolute tolerance of 1e-4 on the log values.
"""

from __future__ import annotations

import io
import math
import pathlib
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf

from st_jax.data import audio
from st_jax.errors import AudioError, ConfigError

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
# One clip per corpus and native rate (8 kHz, 22.05 kHz, 16 kHz, 16 kHz).
NEEDS_SHARED_DATA = (
    pytest.mark.shared_data,
    pytest.mark.skipif(not SHARED_DATA.is_dir(),
                       reason=f"{SHARED_DATA} is absent (fresh clone without ../shared/data)"))
REAL_CLIPS = [pytest.param(clip, marks=NEEDS_SHARED_DATA) for clip in (
    "fsdd/recordings/0_jackson_0.wav", "ljspeech_subset/wavs/LJ001-0002.wav",
    "pocketsphinx_testaudio/goforward/goforward.wav",
    "speechbrain_asr_samples/wavs/spk1_snt1.wav")]


def librosa_log_mel(samples: np.ndarray, sample_rate: int = 16000, n_fft: int = 512,
                    hop: int = 160, window: int = 400, n_mels: int = 80) -> np.ndarray:
  librosa = pytest.importorskip("librosa")
  mel = librosa.feature.melspectrogram(
      y=np.asarray(samples, np.float64), sr=sample_rate, n_fft=n_fft, hop_length=hop,
      win_length=window, window="hann", center=True, pad_mode="reflect", power=2.0,
      n_mels=n_mels)
  return np.log(np.maximum(mel, 1e-10)).T


def chirp(seconds: float = 1.3, sample_rate: int = 16000, top_hz: float = 7000.0):
  """Linear sweep 100 Hz -> top_hz plus a little noise, float32."""
  t = np.arange(int(seconds * sample_rate)) / sample_rate
  sweep = np.sin(2 * np.pi * (100 + (top_hz - 100) / (2 * seconds) * t) * t)
  noise = np.random.default_rng(0).standard_normal(len(t))
  return (0.5 * sweep + 1e-3 * noise).astype(np.float32)


def shared_clip(relative: str) -> str:
  path = SHARED_DATA / relative
  if not path.is_file():
    pytest.skip(f"{path} is missing from ../shared/data")
  return str(path)


# ---------------------------------------------------------------------------------------------
# Log-mel


@pytest.mark.parametrize("sample_rate, n_fft, n_mels, fmin, fmax", [
    (16000, 512, 80, 0.0, None), (8000, 256, 40, 20.0, 3800.0), (22050, 1024, 128, 0.0, 8000.0)])
def test_mel_filterbank_equals_librosa(sample_rate, n_fft, n_mels, fmin, fmax):
  librosa = pytest.importorskip("librosa")
  ours = audio.mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)
  theirs = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                               fmax=fmax, dtype=np.float64)
  assert ours.shape == (n_fft // 2 + 1, n_mels)
  np.testing.assert_allclose(ours, theirs.T, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("sample_rate", [8000, 16000, 22050])
def test_log_mel_matches_librosa_on_a_chirp(sample_rate):
  samples = chirp(sample_rate=sample_rate, top_hz=0.45 * sample_rate)
  window, hop, n_fft = audio.stft_sizes(sample_rate)
  ours = audio.log_mel(samples, sample_rate)
  assert ours.dtype == np.float32
  assert ours.shape == (audio.num_frames(len(samples), sample_rate), 80)
  np.testing.assert_allclose(ours, librosa_log_mel(samples, sample_rate, n_fft, hop, window),
                             atol=1e-4, rtol=0)


@pytest.mark.filterwarnings("ignore:n_fft=512 is too large")
@pytest.mark.parametrize("num_samples", [2, 159, 160, 161, 257, 4000, 4321])
def test_frame_count_is_one_plus_samples_over_hop(num_samples):
  samples = np.random.default_rng(num_samples).uniform(-0.5, 0.5, num_samples)
  assert audio.log_mel(samples, 16000).shape == (1 + num_samples // 160, 80)
  assert audio.num_frames(num_samples, 16000) == 1 + num_samples // 160
  np.testing.assert_allclose(audio.log_mel(samples, 16000), librosa_log_mel(samples),
                             atol=1e-4, rtol=0)


def test_bad_front_end_settings_are_config_errors():
  with pytest.raises(ConfigError, match="n_fft=256 must be even and >= the window"):
    audio.stft_sizes(16000, win_ms=25.0, n_fft=256)
  with pytest.raises(ConfigError, match="fmax=9000"):
    audio.mel_filterbank(16000, 512, 80, fmax=9000.0)
  assert audio.stft_sizes(22050) == (551, 220, 1024)


@pytest.mark.parametrize("clip", REAL_CLIPS)
def test_log_mel_matches_librosa_on_real_speech_at_16k(clip):
  samples, rate = audio.load_audio(shared_clip(clip), 16000)
  assert rate == 16000
  ours = audio.log_mel(samples, 16000)
  assert ours.shape == (1 + len(samples) // 160, 80)
  np.testing.assert_allclose(ours, librosa_log_mel(samples), atol=1e-4, rtol=0)


def within_db_of_frame_peak(log_mel: np.ndarray, decibels: float) -> np.ndarray:
  """Mask of mel bins at most ``decibels`` below the loudest bin of their frame."""
  return log_mel >= log_mel.max(axis=-1, keepdims=True) - decibels * math.log(10) / 10


def check_jax_equals_numpy(samples: np.ndarray, min_loud_fraction: float) -> None:
  """float32 jit vs float64 numpy: 1e-4 on bins within 60 dB of the frame's peak (float32
  FFT roundoff is ~1e-7 of the frame's amplitude, so quieter bins drift); x64 jit: 1e-6.

  ``min_loud_fraction``: share of bins the 60 dB criterion must cover for this signal."""
  expected = audio.log_mel(samples, 16000)
  jitted = jax.jit(lambda x: audio.log_mel(x, 16000, xp=jnp))
  # the mel matmul asks for full float32 precision (no TF32/bf16 passes on GPUs and TPUs)
  assert "Precision.HIGHEST" in str(jax.make_jaxpr(jitted)(samples))
  got = np.asarray(jitted(samples))
  assert got.shape == expected.shape and got.dtype == np.float32
  loud = within_db_of_frame_peak(expected, 60.0)
  assert loud.mean() > min_loud_fraction
  np.testing.assert_allclose(got[loud], expected[loud], atol=1e-4, rtol=0)
  assert np.abs(got - expected).mean() < 1e-4
  with jax.enable_x64(True):
    exact = np.asarray(jax.jit(lambda x: audio.log_mel(x, 16000, xp=jnp))(
        np.asarray(samples, np.float64)))
  np.testing.assert_allclose(exact, expected, atol=1e-6, rtol=0)


def test_jitted_jax_log_mel_equals_numpy_on_a_chirp():
  check_jax_equals_numpy(chirp(), min_loud_fraction=0.1)  # a narrow-band sweep


@pytest.mark.parametrize("clip", REAL_CLIPS[:2])
def test_jitted_jax_log_mel_equals_numpy_on_real_speech(clip):
  samples, _ = audio.load_audio(shared_clip(clip), 16000)
  check_jax_equals_numpy(samples[:16000], min_loud_fraction=0.7)


@pytest.mark.parametrize("xp", [np, jnp], ids=["numpy", "jax"])
def test_batched_log_mel_equals_each_utterance(xp):
  front_end = lambda x: audio.log_mel(x, 16000, xp=xp)
  front_end = front_end if xp is np else jax.jit(front_end)
  rows = np.stack([chirp(0.5), chirp(0.5, top_hz=3000.0)[::-1], np.zeros(8000, np.float32)])
  batched = np.asarray(front_end(rows))
  assert batched.shape == (3, 51, 80)
  for row, features in zip(rows, batched):
    np.testing.assert_allclose(features, np.asarray(front_end(row)), atol=1e-5, rtol=0)
  np.testing.assert_array_equal(batched[2], np.float32(np.log(1e-10)))  # silence -> floor


def test_frame_paddings():
  np.testing.assert_array_equal(audio.frame_paddings([3, 0, 5], 4),
                                [[0, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 0]])


# ---------------------------------------------------------------------------------------------
# Resampling


@pytest.mark.parametrize("rate_in", [8000, 22050, 44100, 48000])
@pytest.mark.parametrize("tone_hz", [440.0, 3000.0])
def test_resampling_keeps_length_and_frequency(rate_in, tone_hz):
  seconds = 1.25
  t = np.arange(int(seconds * rate_in)) / rate_in
  out = audio.resample(np.sin(2 * np.pi * tone_hz * t), rate_in, 16000)
  assert out.dtype == np.float32
  assert len(out) == math.ceil(len(t) * 16000 / rate_in) == 20000
  spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
  assert np.argmax(spectrum) * 16000 / len(out) == pytest.approx(tone_hz, abs=16000 / len(out))
  middle = out[2000:-2000]  # away from the filter's edge transients
  assert np.sqrt(np.mean(middle**2)) == pytest.approx(np.sqrt(0.5), rel=0.01)


def test_downsampling_removes_tones_above_the_new_nyquist():
  t = np.arange(16000) / 16000
  out = audio.resample(np.sin(2 * np.pi * 6000.0 * t), 16000, 8000)
  assert len(out) == 8000 and np.sqrt(np.mean(out[500:-500] ** 2)) < 0.01


# ---------------------------------------------------------------------------------------------
# Normalisation


def test_feature_stats_equal_numpy_over_the_concatenation(tmp_path):
  rng = np.random.default_rng(0)
  utterances = [rng.normal(rng.uniform(-20, 5, 6), 3.0, (n, 6)).astype(np.float32)
                for n in (10, 37, 4, 120)]
  utterances[1][:, 5] = utterances[0][:, 5] = 2.0  # bins 5 of two utterances: constant
  stats = audio.FeatureStats.accumulate(u for u in utterances)  # a generator: streamed
  joined = np.concatenate(utterances).astype(np.float64)
  assert stats.frame_count == len(joined)
  np.testing.assert_allclose(stats.mean, joined.mean(0), rtol=1e-12)
  np.testing.assert_allclose(stats.std, joined.std(0), rtol=1e-9)
  normalized = stats.apply(joined)
  np.testing.assert_allclose(normalized.mean(0), 0.0, atol=1e-5)
  np.testing.assert_allclose(normalized.std(0), 1.0, atol=1e-5)
  constant = audio.FeatureStats.accumulate([np.full((5, 2), 3.0)])
  np.testing.assert_array_equal(constant.std, [1e-5, 1e-5])
  path = str(tmp_path / "stats.json")
  stats.save(path)
  loaded = audio.FeatureStats.load(path)
  np.testing.assert_array_equal(loaded.sums, stats.sums)
  np.testing.assert_array_equal(loaded.squared_sums, stats.squared_sums)
  np.testing.assert_array_equal(loaded.apply(joined), stats.apply(joined))


def test_feature_stats_load_errors_name_the_file(tmp_path):
  path = tmp_path / "stats.json"
  path.write_text('{"frame_count": 3, "sums": [1.0]}')
  with pytest.raises(ConfigError, match=r"stats\.json: not a readable feature-statistics"):
    audio.FeatureStats.load(str(path))
  with pytest.raises(ValueError, match="no frames"):
    audio.FeatureStats.accumulate([])


def test_utterance_normalize_per_bin_over_time():
  features = np.random.default_rng(1).normal(4.0, 2.5, (50, 8))
  features[:, 3] = -7.0
  normalized = audio.utterance_normalize(features)
  assert normalized.dtype == np.float32
  np.testing.assert_allclose(normalized.mean(0), 0.0, atol=1e-6)
  np.testing.assert_allclose(np.delete(normalized.std(0), 3), 1.0, atol=1e-5)
  np.testing.assert_array_equal(normalized[:, 3], 0.0)  # constant bin: 0, not NaN


# ---------------------------------------------------------------------------------------------
# Decoding and bad input


def wav_bytes(samples: np.ndarray, subtype: str = "PCM_16", rate: int = 16000) -> bytes:
  buffer = io.BytesIO()
  sf.write(buffer, samples, rate, format="WAV", subtype=subtype)
  return buffer.getvalue()


def test_decoding_scales_mixes_and_resamples(tmp_path):
  stereo = np.stack([np.full(800, 0.5), np.full(800, -0.25)], axis=1)
  path = tmp_path / "stereo.flac"
  sf.write(path, stereo, 16000, subtype="PCM_16")
  samples, rate = audio.load_audio(str(path))
  assert rate == 16000 and samples.shape == (800,) and samples.dtype == np.float32
  np.testing.assert_allclose(samples, 0.125, atol=1 / 32768)
  resampled, rate = audio.load_audio(str(path), 8000)
  assert rate == 8000 and resampled.shape == (400,)
  pcm = wav_bytes(np.array([-32768, 0, 16384, 32767], np.int16))
  decoded, rate = audio.decode_audio_bytes(pcm, None, "request body")
  np.testing.assert_array_equal(decoded, [-1.0, 0.0, 0.5, 32767 / 32768])
  ogg = tmp_path / "tone.ogg"
  sf.write(ogg, 0.3 * np.sin(np.arange(4000) / 5.0), 16000, format="OGG", subtype="VORBIS")
  assert audio.load_audio(str(ogg))[0].shape == (4000,)


BAD_FILES = {
    "empty.wav": (b"", "the file is empty (0 bytes)"),
    "no_samples.wav": (wav_bytes(np.zeros(0, np.int16)), "holds zero samples"),
    "notes.wav": (b"these are meeting notes, not audio\n" * 20, "not a readable audio file"),
    "cut.wav": (wav_bytes(np.zeros(16000, np.int16))[:44 + 1000],
                "truncated WAV: its header declares 31000 more bytes"),
    "nan.wav": (wav_bytes(np.array([0.1, np.nan, 0.2] * 100, np.float32), "FLOAT"),
                "100 of 300 samples are NaN or Inf (first at sample 1)"),
    "inf.wav": (wav_bytes(np.array([0.1, 0.2, np.inf], np.float32), "FLOAT"),
                "1 of 3 samples are NaN or Inf (first at sample 2)"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_audio_errors_name_the_file_and_the_problem(tmp_path, name):
  content, problem = BAD_FILES[name]
  path = tmp_path / name
  path.write_bytes(content)
  with pytest.raises(AudioError) as error:
    audio.load_audio(str(path))
  assert str(error.value).startswith(f"{path}: ") and problem in str(error.value)
  with pytest.raises(AudioError) as error:
    audio.decode_audio_bytes(content, 16000, "upload 'clip'")
  assert str(error.value).startswith("upload 'clip': ") and problem in str(error.value)


def test_missing_file_and_directory(tmp_path):
  with pytest.raises(AudioError, match=r"missing\.wav: audio file does not exist"):
    audio.load_audio(str(tmp_path / "missing.wav"))
  with pytest.raises(AudioError, match="is not a file"):
    audio.load_audio(str(tmp_path))


def test_wav_with_streaming_size_placeholder_is_not_truncated():
  """libsndfile reads a data chunk of size 0xFFFFFFFF (unknown length) to the end of file."""
  good = wav_bytes(np.full(1000, 8192, np.int16))
  assert good[36:40] == b"data"
  streamed = good[:40] + struct.pack("<I", 0xFFFFFFFF) + good[44:]
  samples, _ = audio.decode_audio_bytes(streamed, None, "stream")
  np.testing.assert_array_equal(samples, np.full(1000, 0.25, np.float32))


def test_check_samples_rejects_wrong_shapes():
  with pytest.raises(AudioError, match=r"buffer: expected mono audio .* got shape \(2, 3\)"):
    audio.check_samples(np.zeros((2, 3)), "buffer")
  assert audio.check_samples(np.ones(3, np.float64), "buffer").dtype == np.float32
