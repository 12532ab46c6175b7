"""Augmentation: determinism, SpecAugment mask geometry, exact SNR, speed-perturbed audio."""

from __future__ import annotations

import numpy as np
import pytest

from st_jax.data import augment
from st_jax.errors import AudioError


def features(frames: int = 500, bins: int = 80, seed: int = 0) -> np.ndarray:
  """Random [frames, bins] float32 with no zeros, so a 0 can only come from a mask."""
  return np.random.default_rng(seed).uniform(1.0, 2.0, (frames, bins)).astype(np.float32)


def runs(mask: np.ndarray) -> list[int]:
  """Lengths of the runs of True in a 1-D boolean mask."""
  edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
  return list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))


def test_spec_augment_is_deterministic_per_seed():
  x = features()
  a = augment.spec_augment(x, np.random.default_rng(1))
  np.testing.assert_array_equal(a, augment.spec_augment(x, np.random.default_rng(1)))
  assert not np.array_equal(a, augment.spec_augment(x, np.random.default_rng(2)))
  np.testing.assert_array_equal(x, features())  # the input is not modified


@pytest.mark.parametrize("seed", range(20))
def test_spec_augment_masks_whole_bands_within_the_limits(seed):
  x = features()
  out = augment.spec_augment(x, np.random.default_rng(seed))
  masked = out == 0
  masked_frames, masked_bins = masked.all(axis=1), masked.all(axis=0)
  # every zero lies in a fully masked frame or bin; everything else is untouched
  np.testing.assert_array_equal(masked, masked_frames[:, None] | masked_bins[None, :])
  np.testing.assert_array_equal(out[~masked], x[~masked])
  # 2 frequency masks of <= 27 bins; adaptive: min(10, floor(0.04*500)) = 10 time masks of
  # <= floor(0.05 * 500) = 25 frames
  assert len(runs(masked_bins)) <= 2 and masked_bins.sum() <= 2 * 27
  assert len(runs(masked_frames)) <= 10 and masked_frames.sum() <= 10 * 25


def test_spec_augment_mean_widths_match_the_sampling():
  """One mask of width U{0..W} covers W / 2 on average (here over 400 seeds)."""
  x = features(400, 80)
  freq = [(augment.spec_augment(x, np.random.default_rng(s), num_freq_masks=1,
                                num_time_masks=0) == 0).all(0).sum() for s in range(400)]
  time = [(augment.spec_augment(x, np.random.default_rng(s), num_freq_masks=0,
                                num_time_masks=1) == 0).all(1).sum() for s in range(400)]
  assert np.mean(freq) == pytest.approx(27 / 2, abs=1.6)  # std of the mean: 0.40
  assert max(freq) == 27
  assert np.mean(time) == pytest.approx(20 / 2, abs=1.2)  # floor(0.05 * 400) = 20; std 0.30
  assert max(time) == 20


def test_adaptive_time_masks_scale_with_length():
  """N = 100: adaptive gives floor(0.04 * 100) = 4 masks, fixed gives 10, each <= 5 frames."""
  x = features(100, 20)
  adaptive_runs, fixed_runs = [], []
  for seed in range(50):
    for adaptive, found in ((True, adaptive_runs), (False, fixed_runs)):
      out = augment.spec_augment(x, np.random.default_rng(seed), num_freq_masks=0,
                                 adaptive=adaptive)
      frames = (out == 0).all(axis=1)
      assert frames.sum() <= (4 if adaptive else 10) * 5
      found.append(len(runs(frames)))
  assert max(adaptive_runs) <= 4 < max(fixed_runs) <= 10
  short = augment.spec_augment(features(20, 20), np.random.default_rng(0), num_freq_masks=0)
  np.testing.assert_array_equal(short, features(20, 20))  # floor(0.04 * 20) = 0 masks


@pytest.mark.parametrize("frames, bins", [(30, 3), (5, 80), (2, 2), (1, 1)])
def test_spec_augment_never_masks_everything(frames, bins):
  x = features(frames, bins)
  for seed in range(200):
    out = augment.spec_augment(x, np.random.default_rng(seed), num_freq_masks=4,
                               max_freq_width=100, num_time_masks=10, max_time_ratio=1.0,
                               adaptive=False)
    masked = out == 0
    assert masked.all(axis=0).sum() <= bins - 1 and masked.all(axis=1).sum() <= frames - 1
    assert (~masked).any()


@pytest.mark.parametrize("factor", [0.9, 1.0, 1.1, 0.95])
@pytest.mark.parametrize("num_samples", [16000, 12345])
def test_speed_perturbation_changes_length_and_pitch(factor, num_samples):
  t = np.arange(num_samples) / 16000
  x = np.sin(2 * np.pi * 500.0 * t).astype(np.float32)
  y = augment.speed_perturb(x, factor)
  assert y.dtype == np.float32 and len(y) == round(num_samples / factor)
  spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
  peak_hz = np.argmax(spectrum) * 16000 / len(y)
  assert peak_hz == pytest.approx(500.0 * factor, abs=16000 / len(y))
  middle = y[len(y) // 8:-len(y) // 8]
  assert np.sqrt(np.mean(middle**2)) == pytest.approx(np.sqrt(0.5), rel=0.01)


def test_speed_perturbation_rejects_bad_factors():
  with pytest.raises(ValueError, match="factor must be positive"):
    augment.speed_perturb(np.zeros(10), 0.0)


def test_choose_speed_and_sample_snr_follow_the_generator():
  speeds = [augment.choose_speed(np.random.default_rng(s)) for s in range(300)]
  counts = {f: speeds.count(f) for f in augment.SPEED_FACTORS}
  assert sum(counts.values()) == 300 and min(counts.values()) > 70  # ~100 each
  assert speeds == [augment.choose_speed(np.random.default_rng(s)) for s in range(300)]
  snrs = np.array([augment.sample_snr(np.random.default_rng(s), 5.0, 15.0) for s in range(300)])
  assert snrs.min() >= 5.0 and snrs.max() < 15.0 and abs(snrs.mean() - 10.0) < 0.6
  assert len(set(snrs.tolist())) == 300


def measured_snr(clean: np.ndarray, noisy: np.ndarray) -> float:
  clean = clean.astype(np.float64)
  return 10 * np.log10(np.mean(clean**2) / np.mean((noisy.astype(np.float64) - clean)**2))


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 12.5, 30.0])
def test_white_noise_has_the_exact_snr(snr_db):
  x = (0.3 * np.sin(np.linspace(0, 900, 16000))).astype(np.float32)
  y = augment.add_noise(x, np.random.default_rng(3), snr_db)
  assert y.dtype == np.float32 and y.shape == x.shape
  assert measured_snr(x, y) == pytest.approx(snr_db, abs=1e-4)
  np.testing.assert_array_equal(y, augment.add_noise(x, np.random.default_rng(3), snr_db))
  assert not np.array_equal(y, augment.add_noise(x, np.random.default_rng(4), snr_db))


def test_given_noise_is_cut_or_repeated_at_the_exact_snr():
  x = (0.3 * np.sin(np.linspace(0, 400, 4000))).astype(np.float32)
  noise = np.random.default_rng(9).uniform(-1, 1, 10000)
  y = augment.add_noise(x, np.random.default_rng(0), 6.0, noise)
  assert measured_snr(x, y) == pytest.approx(6.0, abs=1e-4)
  # a longer noise is cut at offset U{0..10000 - 4000} (one draw), a shorter one repeated
  start = int(np.random.default_rng(0).integers(0, 6001))
  assert_scaled_copy(y.astype(np.float64) - x, noise[start:start + 4000])
  short = noise[:1500]
  y = augment.add_noise(x, np.random.default_rng(0), 20.0, short)
  assert measured_snr(x, y) == pytest.approx(20.0, abs=1e-4)
  assert_scaled_copy(y.astype(np.float64) - x, np.concatenate([short, short, short[:1000]]))


def assert_scaled_copy(added: np.ndarray, noise: np.ndarray) -> None:
  scale = np.dot(added, noise) / np.dot(noise, noise)
  assert scale > 0
  np.testing.assert_allclose(added, scale * noise, atol=1e-6)


def test_add_noise_edge_cases():
  silent = np.zeros(100, np.float32)
  np.testing.assert_array_equal(augment.add_noise(silent, np.random.default_rng(0), 10.0),
                                silent)
  with pytest.raises(AudioError, match="the noise is silent"):
    augment.add_noise(np.ones(100), np.random.default_rng(0), 10.0, np.zeros(50))
