"""Augmentation: determinism, mask geometry, exact SNR, speed-perturbed lengths."""

import numpy as np
import pytest

from st_jax.data import augment


def test_spec_augment_is_deterministic_and_masks_bands():
  feats = np.random.default_rng(0).normal(size=(500, 80)).astype(np.float32) + 5
  a = augment.spec_augment(feats, np.random.default_rng(1))
  b = augment.spec_augment(feats, np.random.default_rng(1))
  c = augment.spec_augment(feats, np.random.default_rng(2))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  masked = a == 0
  assert 0 < masked.mean() < 0.6
  # masks are whole rows (time) or whole columns (frequency)
  full_rows, full_cols = masked.all(1), masked.all(0)
  assert np.array_equal(masked, full_rows[:, None] | full_cols[None, :])
  assert full_cols.sum() <= 2 * 27
  assert full_rows.sum() <= 10 * int(np.ceil(0.05 * 500))
  np.testing.assert_array_equal(a[~masked], feats[~masked])


def test_adaptive_time_masks_scale_with_length():
  short = np.ones((50, 80), np.float32)
  out = augment.spec_augment(short, np.random.default_rng(0), num_freq_masks=0)
  # ceil(0.04 * 50) = 2 masks of width <= ceil(0.05 * 50) = 3 frames
  assert (out.sum(1) == 0).sum() <= 6


@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
def test_noise_has_the_requested_snr(snr):
  x = np.sin(np.linspace(0, 300, 16000)).astype(np.float32)
  y = augment.add_noise(x, np.random.default_rng(3), snr)
  noise = y.astype(np.float64) - x
  measured = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise ** 2))
  assert measured == pytest.approx(snr, abs=1e-3)
  np.testing.assert_array_equal(y, augment.add_noise(x, np.random.default_rng(3), snr))


@pytest.mark.parametrize("factor", [0.9, 1.0, 1.1])
def test_speed_perturbation_length_and_pitch(factor):
  t = np.arange(16000) / 16000
  x = np.sin(2 * np.pi * 400 * t).astype(np.float32)
  y = augment.speed_perturb(x, factor)
  assert len(y) == round(16000 / factor)
  peak_hz = np.argmax(np.abs(np.fft.rfft(y))) * 16000 / len(y)
  assert peak_hz == pytest.approx(400 * factor, rel=0.01)


def test_choices_come_from_the_generator():
  speeds = [augment.choose_speed(np.random.default_rng(i)) for i in range(30)]
  assert set(speeds) == {0.9, 1.0, 1.1}
  snrs = [augment.sample_snr(np.random.default_rng(i), 10, 30) for i in range(30)]
  assert min(snrs) >= 10 and max(snrs) <= 30
