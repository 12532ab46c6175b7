"""Mel cepstral distortion: zero on itself, symmetric, known values on constructed pairs, DTW
against librosa's and against a brute-force search of every monotonic path."""

import itertools
import math

import numpy as np
import pytest

from st_jax import mcd

BINS = 80


def cosine(d: int) -> np.ndarray:
  """cos(pi d (2 f + 1) / (2 F)) over the mel bins f (the module doc's DCT-II kernel)."""
  return np.cos(math.pi * d * (2 * np.arange(BINS) + 1) / (2 * BINS))


def random_mel(frames: int, seed: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  return np.cumsum(rng.normal(size=(frames, BINS)), axis=0) * 0.3 - 5.0


def test_cepstra_are_the_written_dct():
  x = random_mel(7, 0)
  expected = np.stack([(x / 2) @ cosine(d) / BINS for d in range(1, 25)], axis=1)
  np.testing.assert_allclose(mcd.cepstra(x), expected, atol=1e-10)


@pytest.mark.parametrize("align", ["dtw", "none"])
def test_zero_on_itself(align):
  x = random_mel(50, 1)
  assert mcd.mcd(x, x, align=align)["mcd_db"] == pytest.approx(0.0, abs=1e-6)


def test_symmetric():
  x, y = random_mel(40, 2), random_mel(57, 3)
  forward, backward = mcd.mcd(x, y), mcd.mcd(y, x)
  assert forward["mcd_db"] == pytest.approx(backward["mcd_db"], rel=1e-12)
  assert forward["frames"] == backward["frames"]
  same_length = random_mel(40, 4)
  assert mcd.mcd(x, same_length, align="none")["mcd_db"] == pytest.approx(
      mcd.mcd(same_length, x, align="none")["mcd_db"], rel=1e-12)


@pytest.mark.parametrize("align", ["dtw", "none"])
def test_known_value(align):
  """Constant frames, the second offset by 1.2 cos_2 + 1.6 cos_17 (x / 2 over F bins with
  sum_f cos_d^2 = F / 2: c_2 and c_17 move by 0.3 and 0.4): every frame pair is 0.5 apart in
  cepstral space, so MCD = 10 / ln 10 * sqrt(2) * 0.5 whatever the path; offsets along c_0
  (loudness) and c_30 (beyond D = 24) do not count."""
  base = np.tile(random_mel(1, 5), (30, 1))
  other = base + 1.2 * cosine(2) + 1.6 * cosine(17) + 2.0 + 5.0 * cosine(30)
  found = mcd.mcd(base, other, align=align)
  assert found["mcd_db"] == pytest.approx(10 / math.log(10) * math.sqrt(2) * 0.5, rel=1e-9)
  assert found["mcd_db"] == pytest.approx(3.0709, abs=1e-4)


def test_dtw_undoes_a_time_stretch():
  x = random_mel(30, 6)
  slow = np.repeat(x, 2, axis=0)         # every frame twice: the same speech at half speed
  assert mcd.mcd(x, slow)["mcd_db"] == pytest.approx(0.0, abs=1e-6)
  assert mcd.mcd(x, slow)["frames"] == 60
  with pytest.raises(ValueError, match="equal frame counts"):
    mcd.mcd(x, slow, align="none")


def brute_force_cost(cost: np.ndarray) -> float:
  """The cheapest monotonic path by enumerating every sequence of moves."""
  rows, cols = cost.shape
  best = math.inf
  moves = ((1, 0), (0, 1), (1, 1))
  for length in range(max(rows, cols) - 1, rows + cols - 1):
    for path in itertools.product(moves, repeat=length):
      i = j = 0
      total = cost[0, 0]
      for di, dj in path:
        i, j = i + di, j + dj
        if i >= rows or j >= cols:
          break
        total += cost[i, j]
      else:
        if (i, j) == (rows - 1, cols - 1):
          best = min(best, total)
  return best


@pytest.mark.parametrize("shape,seed", [((4, 5), 0), ((5, 3), 1), ((1, 4), 2), ((4, 4), 3)])
def test_dtw_path_is_the_cheapest(shape, seed):
  cost = np.random.default_rng(seed).random(shape)
  path = mcd.dtw_path(cost)
  assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (shape[0] - 1, shape[1] - 1)
  steps = np.diff(path, axis=0)
  assert ((steps >= 0) & (steps <= 1)).all() and (steps.sum(1) >= 1).all()
  assert cost[path[:, 0], path[:, 1]].sum() == pytest.approx(brute_force_cost(cost), rel=1e-12)


def test_dtw_matches_librosa():
  librosa = pytest.importorskip("librosa")
  cost = np.random.default_rng(7).random((60, 45))
  accumulated, _ = librosa.sequence.dtw(C=cost)
  path = mcd.dtw_path(cost)
  assert cost[path[:, 0], path[:, 1]].sum() == pytest.approx(accumulated[-1, -1], rel=1e-10)
