"""A trained workdir as a text producer: load it, turn audio into features, decode, stitch.

    trained = load_trained("runs/st")               # config, model, params, tokenizers, stats
    texts = Transcriber(trained, beam_size=4)(["a.wav", samples_16k])

A workdir is self-contained for inference: `save_assets` (called by training) copies the
tokenizers and the train-split feature statistics into ``W/assets/``, so translating a file
needs neither the corpus nor the data pipeline. Features are computed exactly as the
evaluation pipeline computes them (features.log_mel, then global or per-utterance CMVN).

Long audio (longer than ``chunk_seconds``) is cut into windows of ``chunk_seconds`` that
overlap by ``overlap_seconds``; each window is decoded like a short utterance and the texts are
joined by `stitch` (the words transcribed twice in an overlap are kept once).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from typing import Any, Sequence

import ml_collections
import numpy as np
from flax import linen as nn

from st_jax import checkpointing, config_lib
from st_jax.data import audio as audio_lib
from st_jax.data import features as features_lib
from st_jax.data import tokenizer as tokenizer_lib
from st_jax.errors import AudioError, ConfigError

ASSETS = "assets"
STATS_FILE = "feature_stats.json"
SOURCE_TOKENIZER = "source.model"
TARGET_TOKENIZER = "target.model"


def save_assets(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Copies the tokenizers and feature statistics of ``config.data`` into ``W/assets``."""
  data = config.data
  directory = os.path.join(workdir, ASSETS)
  os.makedirs(directory, exist_ok=True)
  for name, lang in ((SOURCE_TOKENIZER, data.src_lang), (TARGET_TOKENIZER, data.tgt_lang)):
    source = tokenizer_lib.tokenizer_path(data.corpus_dir,
                                          None if data.tokenizer == "shared" else lang)
    shutil.copyfile(source, os.path.join(directory, name))
  if data.task == "tts":   # symbol inventory, TTS statistics, speakers (tts_features.py)
    from st_jax.data import tts_features  # pylint: disable=g-import-not-at-top
    tts_features.save_assets(config, directory)
  elif data.task != "mt" and data.normalization == "global":
    features_lib.feature_stats(data).save(os.path.join(directory, STATS_FILE))
  return directory


def _asset(workdir: str, name: str) -> str | None:
  path = os.path.join(workdir, ASSETS, name)
  return path if os.path.exists(path) else None


@dataclasses.dataclass
class Trained:
  """A restored model: `params` are plain arrays on one device (LoRA: {"base", "lora"})."""
  config: ml_collections.ConfigDict
  model: Any
  params: Any
  step: int
  source_tokenizer: tokenizer_lib.Tokenizer
  target_tokenizer: tokenizer_lib.Tokenizer
  stats: audio_lib.FeatureStats | None

  @property
  def task(self) -> str:
    return self.config.data.task


def load_trained(workdir: str, step: int | None = None) -> Trained:
  """config.json + the checkpoint of ``step`` (default: latest) + assets of ``workdir``.

  Assets missing from older workdirs are taken from ``config.data.corpus_dir``.
  """
  from st_jax.models import build_model  # pylint: disable=g-import-not-at-top
  config = config_lib.load_workdir_config(workdir)
  step, params = checkpointing.load_params(workdir, step)
  data = config.data

  def tokenizer(name, lang):
    path = _asset(workdir, name) or tokenizer_lib.tokenizer_path(
        data.corpus_dir, None if data.tokenizer == "shared" else lang)
    if not os.path.exists(path):
      raise ConfigError(f"{workdir}: no {name} in {ASSETS}/ and no tokenizer at {path}")
    return tokenizer_lib.Tokenizer(path)
  stats = None
  if data.task != "mt" and data.normalization == "global":
    path = _asset(workdir, STATS_FILE)
    stats = audio_lib.FeatureStats.load(path) if path else features_lib.feature_stats(data)
  return Trained(config, build_model(config), nn.unbox(params), step,
                 tokenizer(SOURCE_TOKENIZER, data.src_lang),
                 tokenizer(TARGET_TOKENIZER, data.tgt_lang), stats)


def features_of(samples: np.ndarray, data, stats: audio_lib.FeatureStats | None) -> np.ndarray:
  """Mono float samples at ``data.sample_rate`` -> normalised log-mel [T, F] float32."""
  samples = audio_lib.check_samples(np.asarray(samples, np.float32), "input audio")
  feats = features_lib.log_mel(samples, data)
  if data.normalization == "global":
    feats = stats.apply(feats)
  elif data.normalization == "utterance":
    feats = audio_lib.utterance_normalize(feats)
  return feats.astype(np.float32)


def read_input(source, sample_rate: int) -> np.ndarray:
  """A path (wav/flac/ogg, any rate, mixed to mono and resampled) or float samples already at
  ``sample_rate`` -> float32 samples."""
  if isinstance(source, (str, os.PathLike)):
    return audio_lib.load_audio(str(source), sample_rate)[0]
  return audio_lib.check_samples(np.asarray(source, np.float32), "input audio")


def split_windows(samples: np.ndarray, sample_rate: int, chunk_seconds: float,
                  overlap_seconds: float) -> list[np.ndarray]:
  """[N] samples -> windows of chunk_seconds starting every (chunk - overlap) seconds; the last
  window ends at the end of the audio. One window when the audio is not longer than a chunk."""
  if chunk_seconds <= 0 or not 0 <= overlap_seconds < chunk_seconds:
    raise ConfigError(f"chunking needs chunk_seconds > 0 and 0 <= overlap_seconds < "
                      f"chunk_seconds; got {chunk_seconds}, {overlap_seconds}")
  window = int(round(chunk_seconds * sample_rate))
  hop = window - int(round(overlap_seconds * sample_rate))
  if len(samples) <= window:
    return [samples]
  starts = list(range(0, len(samples) - window, hop)) + [len(samples) - window]
  return [samples[s:s + window] for s in starts]


def _word_key(word: str) -> str:
  return re.sub(r"[^\w]", "", word.lower())


def stitch(texts: Sequence[str], max_overlap_words: int = 12) -> str:
  """Joins the texts of consecutive overlapping windows.

  For neighbours a, b: the longest run of words (compared lowercased, without punctuation)
  shared by the last `max_overlap_words` words of a and the first of b is the overlap; the
  result keeps a up to the end of that run and b after it. Without a shared word the texts are
  concatenated.
  """
  words: list[str] = []
  for text in texts:
    new = text.split()
    tail = words[-max_overlap_words:]
    offset = len(words) - len(tail)
    a, b = [_word_key(w) for w in tail], [_word_key(w) for w in new[:max_overlap_words]]
    best = (0, 0, 0)   # (run length, end in a, end in b)
    for i in range(len(a)):
      for j in range(len(b)):
        run = 0
        while i + run < len(a) and j + run < len(b) and a[i + run] == b[j + run] and a[i + run]:
          run += 1
        if run > best[0]:
          best = (run, i + run, j + run)
    if best[0]:
      words = words[:offset + best[1]] + new[best[2]:]
    else:
      words = words + new
  return " ".join(words)


def length_ratio(task: str) -> float:
  """Output tokens allowed per input position: 0.5 per 10 ms frame for speech (50 tokens/s),
  2 per source token for text (MT)."""
  return 2.0 if task == "mt" else 0.5


def make_decoder(trained: Trained, beam_size: int = 4, length_penalty: float = 1.0,
                 ctc_weight: float = 0.0):
  """The jitted `decode.Decoder` for ``trained`` with a task-appropriate output length bound
  L = clip(ceil(length_ratio * input length), 8, 256) rounded up to 8."""
  from st_jax import decode  # pylint: disable=g-import-not-at-top
  return decode.Decoder(trained.model, beam_size=beam_size, length_penalty=length_penalty,
                        ctc_weight=ctc_weight, length_ratio=length_ratio(trained.task),
                        min_length=8, max_length_cap=256)


def _decode_in_batches(decoder, trained: Trained, rows: list[np.ndarray], keys: tuple[str, str],
                       batch_size: int, multiple: int) -> list[str]:
  """Rows [T, ...] (features or token ids) -> best texts, decoded in length-sorted batches of
  ``batch_size`` (short batches repeat their last row) padded to a multiple of ``multiple``."""
  from st_jax import decode  # pylint: disable=g-import-not-at-top
  order = np.argsort([len(r) for r in rows], kind="stable")
  out: list[str] = [""] * len(rows)
  for start in range(0, len(order), batch_size):
    chosen = order[start:start + batch_size]
    batch_rows = [rows[i] for i in chosen]
    batch_rows += [batch_rows[-1]] * (batch_size - len(batch_rows))
    length = -(-max(len(r) for r in batch_rows) // multiple) * multiple
    values, paddings = features_lib.pad_rows(batch_rows, length, batch_rows[0].dtype)
    texts = decode.decode_texts(decoder, trained.params, {keys[0]: values, keys[1]: paddings},
                                trained.target_tokenizer.decode)
    for i, text in zip(chosen, texts):
      out[i] = text
  return out


class TextTranslator:
  """Text -> text with an MT workdir (`mt_transformer`): the cascade's second stage."""

  def __init__(self, trained: Trained, beam_size: int = 4, length_penalty: float = 1.0,
               batch_size: int = 8, token_multiple: int = 16):
    if trained.task != "mt":
      raise ConfigError(f"a {trained.task!r} workdir does not translate text; use an mt one")
    self.trained, self.batch_size, self.token_multiple = trained, batch_size, token_multiple
    self.decoder = make_decoder(trained, beam_size, length_penalty)

  def __call__(self, texts: Sequence[str]) -> list[str]:
    rows = [np.asarray(self.trained.source_tokenizer.encode(t), np.int32) for t in texts]
    rows = [r if len(r) else np.asarray([tokenizer_lib.UNK_ID], np.int32) for r in rows]
    return _decode_in_batches(self.decoder, self.trained, rows,
                              ("source_tokens", "source_paddings"), self.batch_size,
                              self.token_multiple)


class Transcriber:
  """Speech (paths or sample arrays) -> text with a seq2seq workdir (ST or ASR; MT takes text).

  Utterances are decoded in batches of ``batch_size`` sorted by length, their frames padded to
  a multiple of ``frame_multiple`` (one compiled decoder per padded length).
  """

  def __init__(self, trained: Trained, beam_size: int = 4, length_penalty: float = 1.0,
               ctc_weight: float = 0.0, batch_size: int = 8, chunk_seconds: float | None = None,
               overlap_seconds: float = 2.0, frame_multiple: int = 64):
    if trained.task in ("classify", "mt"):
      raise ConfigError(f"a {trained.task!r} workdir does not turn speech into text; use "
                        f"`st-jax eval` (or an st/asr workdir)")
    self.trained, self.batch_size, self.frame_multiple = trained, int(batch_size), frame_multiple
    data = trained.config.data
    self.chunk_seconds = chunk_seconds or data.max_frames * data.hop_ms / 1000.0
    self.overlap_seconds = min(overlap_seconds, self.chunk_seconds / 2)
    self.decoder = make_decoder(trained, beam_size, length_penalty, ctc_weight)

  def decode_features(self, feats: list[np.ndarray]) -> list[str]:
    """Normalised features [T, F] per utterance -> best hypothesis text per utterance."""
    return _decode_in_batches(self.decoder, self.trained, feats,
                              ("features", "feature_paddings"), self.batch_size,
                              self.frame_multiple)

  def __call__(self, sources: Sequence[Any]) -> list[str]:
    data = self.trained.config.data
    windows, owner = [], []
    for n, source in enumerate(sources):
      try:
        samples = read_input(source, data.sample_rate)
      except AudioError as e:
        raise AudioError(f"{source if isinstance(source, str) else f'input {n}'}: {e}") from e
      for window in split_windows(samples, data.sample_rate, self.chunk_seconds,
                                  self.overlap_seconds):
        windows.append(features_of(window, data, self.trained.stats))
        owner.append(n)
    texts = self.decode_features(windows)
    return [stitch([t for t, o in zip(texts, owner) if o == n]) for n in range(len(sources))]
