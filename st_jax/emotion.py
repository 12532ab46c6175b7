"""A trained emotion classifier (`configs/classifier.py`) as a labeller of speech.

    recognise = EmotionRecognizer(load_trained("runs/emotion_tiny"))
    [result] = recognise(["question.wav"])       # or float samples at 16 kHz
    result.label, result.probabilities            # "sad", {"neutral": 0.01, "sad": 0.97, ...}

Shapes: B utterances per batch, T frames, F mel bins, C classes.

Features are computed as the evaluation computes them (inference.features_of: log-mel, then the
workdir's CMVN). Audio longer than the model's ``data.max_frames`` is cut into windows
(inference.split_windows) whose class probabilities are averaged:
p(c | x) = 1/W sum_w softmax(z_w)_c.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import numpy as np

from st_jax import inference
from st_jax.data import features as features_lib
from st_jax.data.manifest import EMOTIONS
from st_jax.errors import AudioError, ConfigError


class Emotion(NamedTuple):
  """The recognised emotion of one utterance and the probability of every label."""
  label: str
  probabilities: dict[str, float]


class EmotionRecognizer:
  """Speech (paths or float sample arrays) -> `Emotion` per utterance with a classify workdir
  whose ``model.classifier.label`` is ``emotion``.

  Utterances (or windows of long ones) are classified in batches of ``batch_size`` sorted by
  length, frames padded to a multiple of ``frame_multiple`` (one compiled shape per length).
  """

  def __init__(self, trained: inference.Trained, batch_size: int = 8, frame_multiple: int = 64):
    if trained.task != "classify" or trained.config.model.classifier.label != "emotion":
      what = trained.config.model.classifier.label if trained.task == "classify" else \
          trained.task
      raise ConfigError(f"an emotion recogniser needs a classify workdir with "
                        f"model.classifier.label='emotion' (configs/classifier.py); this one "
                        f"is {what!r}")
    self.trained, self.batch_size, self.frame_multiple = trained, int(batch_size), frame_multiple
    self.labels = EMOTIONS[:trained.config.model.classifier.num_classes]
    self._predict = jax.jit(trained.model.predict)

  def probabilities(self, feats: Sequence[np.ndarray]) -> np.ndarray:
    """Normalised features [T, F] per utterance -> class probabilities [N, C]."""
    order = np.argsort([len(f) for f in feats], kind="stable")
    out = np.zeros((len(feats), len(self.labels)), np.float32)
    for start in range(0, len(order), self.batch_size):
      chosen = order[start:start + self.batch_size]
      rows = [feats[i] for i in chosen]
      rows += [rows[-1]] * (self.batch_size - len(rows))
      length = -(-max(len(r) for r in rows) // self.frame_multiple) * self.frame_multiple
      values, paddings = features_lib.pad_rows(rows, length, np.float32)
      log_probs = self._predict(self.trained.params,
                                {"features": values, "feature_paddings": paddings})
      out[chosen] = np.exp(np.asarray(log_probs))[:len(chosen)]
    return out

  def __call__(self, sources: Sequence[Any]) -> list[Emotion]:
    data = self.trained.config.data
    seconds = data.max_frames * data.hop_ms / 1000.0
    windows, owner = [], []
    for n, source in enumerate(sources):
      try:
        samples = inference.read_input(source, data.sample_rate)
      except AudioError as e:
        raise AudioError(f"{source if isinstance(source, str) else f'input {n}'}: {e}") from e
      for window in inference.split_windows(samples, data.sample_rate, seconds, 0.0):
        windows.append(inference.features_of(window, data, self.trained.stats))
        owner.append(n)
    probs = self.probabilities(windows) if windows else np.zeros((0, len(self.labels)))
    owner = np.asarray(owner)
    results = []
    for n in range(len(sources)):
      p = probs[owner == n].mean(axis=0)
      results.append(Emotion(self.labels[int(np.argmax(p))],
                             {label: float(v) for label, v in zip(self.labels, p)}))
    return results
