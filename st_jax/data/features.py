"""Example -> model arrays: audio front end, augmentation, tokenisation, padding.

Shape legend: B batch rows of this process, T frames (bucket length), S target tokens,
U transcript tokens, F mel bins.

A batch is a dict of numpy arrays (paddings 1.0 = padded)::

  features [B, T, F] f32, feature_paddings [B, T] f32     (not for task 'mt')
  decoder_inputs [B, S] i32 = BOS + y, targets [B, S] i32 = y + EOS, target_paddings [B, S]
  transcripts [B, U] i32 (source-language tokens, CTC), transcript_paddings [B, U]
  source_tokens / source_paddings = transcripts (task 'mt' reads them as its input)
  emotion, lang, speaker [B] i32 (-1 = unknown), example_mask [B] f32 (0 = filler row)

``y`` is the tokenised text in ``data.tgt_lang`` for st/mt, the transcript for asr.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from st_jax.data import audio as audio_lib
from st_jax.data import augment
from st_jax.data import segments
from st_jax.data import storage
from st_jax.data import tokenizer as tokenizer_lib
from st_jax.data.manifest import EMOTIONS, LANGS
from st_jax.errors import ConfigError

TASKS = ("st", "asr", "mt", "classify", "pretrain", "vocoder", "tts")
SOURCE_TEXT_TASKS = ("asr", "pretrain")   # targets = the transcript (pretrain ignores them)


def _text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def num_frames(num_samples: int, data) -> int:
  """Frames of the centred log-mel front end with the config's rate and hop."""
  return audio_lib.num_frames(num_samples, data.sample_rate, data.hop_ms)


def log_mel(samples: np.ndarray, data) -> np.ndarray:
  """[num_samples] f32 -> [T, F] log-mel with the config's front-end settings."""
  return audio_lib.log_mel(samples, data.sample_rate, n_mels=data.n_mels, win_ms=data.win_ms,
                           hop_ms=data.hop_ms)


def _stats_key(data) -> str:
  fields = {k: data[k] for k in ("sample_rate", "n_mels", "win_ms", "hop_ms", "src_lang")}
  return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def feature_stats(data, max_utterances: int = 1000) -> audio_lib.FeatureStats:
  """Global mean/std of log-mels over (up to ``max_utterances`` of) the train split.

  Computed once per front-end setting and cached as ``<corpus>/stats/<hash>.json``.
  """
  path = os.path.join(data.corpus_dir, "stats", f"{_stats_key(data)}.json")
  if os.path.exists(path):
    return audio_lib.FeatureStats.load(path)
  index = storage.read_index(data.corpus_dir, "train")
  chosen = np.flatnonzero(index["lang"] == data.src_lang)[:max_utterances]
  if not len(chosen):
    raise ConfigError(f"data.src_lang={data.src_lang!r}: no training utterances in that "
                      f"language in {data.corpus_dir}")
  source = storage.open_split(data.corpus_dir, "train")
  stats = audio_lib.FeatureStats.accumulate(
      log_mel(source[int(i)]["audio"].astype(np.float32) / 32768.0, data) for i in chosen)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  stats.save(path)
  return stats


def target_text(example, tgt_lang: str) -> str:
  """The text in ``tgt_lang`` of a stored example: its ``translation_<tgt_lang>`` field, or its
  transcript when it is spoken in ``tgt_lang`` and that field is empty (a filled same-language
  field is a response, e.g. the answer of a QA corpus; `Utterance.translation` is the same rule
  for manifest rows)."""
  field = f"translation_{tgt_lang}"
  value = _text(example[field]) if field in example else ""
  if not value and _text(example["lang"]) == tgt_lang:
    return _text(example["text"])
  return value


class ExampleEncoder:
  """Turns one stored example into unpadded arrays; picklable for grain worker processes."""

  def __init__(self, data, train: bool):
    if data.task not in TASKS:
      raise ConfigError(f"data.task={data.task!r}: expected one of {', '.join(TASKS)}")
    self.data = data
    self.train = train
    self.src_tokenizer = tokenizer_lib.load_tokenizer(data.corpus_dir, data.tokenizer,
                                                      data.src_lang)
    self.tgt_tokenizer = tokenizer_lib.load_tokenizer(data.corpus_dir, data.tokenizer,
                                                      data.tgt_lang)
    self.stats = feature_stats(data) if data.normalization == "global" and \
        data.task not in ("mt", "tts") else None
    self.tts = None
    if data.task == "tts":   # symbols, mel, durations, pitch, energy (tts_features.py)
      from st_jax.data import tts_features  # pylint: disable=g-import-not-at-top
      self.tts = tts_features.TTSExampleEncoder(data, train)
    self.speakers = {s: i for i, s in enumerate(storage.read_metadata(data.corpus_dir)
                                                ["speakers"])}

  def target_text(self, example) -> str:
    if self.data.task in SOURCE_TEXT_TASKS:
      return _text(example["text"])
    return target_text(example, self.data.tgt_lang)

  def features(self, example, rng: np.random.Generator) -> np.ndarray:
    """[T, F] normalised (and, when training, augmented) log-mel of the example's audio."""
    data = self.data
    samples = example["audio"].astype(np.float32) / 32768.0
    if self.train and data.speed_perturb:
      samples = augment.speed_perturb(samples, augment.choose_speed(rng))
    if self.train and data.noise:
      samples = augment.add_noise(samples, rng, augment.sample_snr(rng, *data.noise_snr_db))
    feats = log_mel(samples, data)
    if data.normalization == "global":
      feats = self.stats.apply(feats)
    elif data.normalization == "utterance":
      feats = audio_lib.utterance_normalize(feats)
    elif data.normalization != "none":
      raise ConfigError(f"data.normalization={data.normalization!r}: expected global, "
                        f"utterance or none")
    if self.train and data.spec_augment:
      feats = augment.spec_augment(feats, rng)
    return feats.astype(np.float32)

  def encode(self, example, rng: np.random.Generator) -> dict:
    """Unpadded arrays of one example (features only for speech tasks)."""
    if self.data.task == "vocoder":   # audio segment + raw log-mel (segments.py)
      return segments.encode(example, rng, self.data)
    if self.tts is not None:
      return self.tts.encode(example, rng)
    out = {
        "transcripts": self.src_tokenizer.encode(_text(example["text"])),
        "targets": self.tgt_tokenizer.encode(self.target_text(example)),
        "emotion": EMOTIONS.index(_text(example["emotion"]))
                   if _text(example["emotion"]) in EMOTIONS else -1,
        "lang": LANGS.index(_text(example["lang"])) if _text(example["lang"]) in LANGS else -1,
        "speaker": self.speakers.get(_text(example["speaker"]), -1),
    }
    if self.data.task != "mt":
      out["features"] = self.features(example, rng)
    return out


def pad_rows(rows: list, length: int, dtype) -> tuple[np.ndarray, np.ndarray]:
  """Right-pads/clips 1-D or 2-D rows to ``length`` -> (values [B, length, ...], paddings)."""
  first = np.asarray(rows[0])
  values = np.zeros((len(rows), length) + first.shape[1:], dtype)
  paddings = np.ones((len(rows), length), np.float32)
  for i, row in enumerate(rows):
    n = min(len(row), length)
    values[i, :n] = row[:n]
    paddings[i, :n] = 0.0
  return values, paddings


def collate(encoded: list, shape: dict, task: str) -> dict:
  """Pads encoded examples (``None`` = filler row) to ``shape`` = {frames, targets, transcripts}.

  Targets get EOS appended and decoder inputs BOS prepended before padding to S.
  """
  if task == "vocoder":
    return segments.collate(encoded)
  if task == "tts":
    from st_jax.data import tts_features  # pylint: disable=g-import-not-at-top
    return tts_features.collate(encoded, shape)
  mask = np.asarray([e is not None for e in encoded], np.float32)
  template = next(e for e in encoded if e is not None)
  filled = [e if e is not None else _empty_like(template) for e in encoded]
  tokens = [np.asarray(e["targets"], np.int32) for e in filled]
  batch = {}
  batch["targets"], batch["target_paddings"] = pad_rows(
      [np.append(t, tokenizer_lib.EOS_ID) for t in tokens], shape["targets"], np.int32)
  batch["decoder_inputs"], _ = pad_rows([np.insert(t, 0, tokenizer_lib.BOS_ID) for t in tokens],
                                    shape["targets"], np.int32)
  batch["transcripts"], batch["transcript_paddings"] = pad_rows(
      [e["transcripts"] for e in filled], shape["transcripts"], np.int32)
  if task == "mt":
    batch["source_tokens"] = batch["transcripts"]
    batch["source_paddings"] = batch["transcript_paddings"]
  else:
    batch["features"], batch["feature_paddings"] = pad_rows(
        [e["features"] for e in filled], shape["frames"], np.float32)
  for key in ("emotion", "lang", "speaker"):
    batch[key] = np.asarray([e[key] for e in filled], np.int32)
  for key in ("target_paddings", "transcript_paddings", "feature_paddings", "source_paddings"):
    if key in batch:
      batch[key][mask == 0] = 1.0
  batch["example_mask"] = mask
  return batch


def _empty_like(example: dict) -> dict:
  empty = {"targets": np.zeros(0, np.int32), "transcripts": np.zeros(0, np.int32),
           "emotion": -1, "lang": -1, "speaker": -1}
  if "features" in example:
    empty["features"] = np.zeros((0,) + example["features"].shape[1:], np.float32)
  return empty
