"""Speech-synthesis examples (``data.task = "tts"``): symbols in; normalised log-mel, durations,
pitch and energy out.

Shape legend: B batch rows, U symbols (bucket length), T frames (bucket length), F mel bins.

A TTS batch (paddings 1.0 = padded)::

  symbols [B, U] i32 (tts_symbols.py ids), symbol_paddings [B, U] f32
  durations [B, U] i32     frames per phoneme from the alignment (sum = frames; zeros when the
                           symbols have no timings: model.tts.durations=learned aligns itself)
  features [B, T, F] f32   log-mel (audio.py), normalised (x - mean_f) / std_f with train stats
  feature_paddings [B, T]
  pitch [B, T] f32         (log F0 - mean) / std over voiced frames (prosody.yin_f0), 0 unvoiced
  voiced [B, T] f32        1 where F0 was found
  energy [B, T] f32        (e - mean) / std, e = L2 norm of the magnitude spectrum per frame
  speaker, emotion, lang [B] i32 (-1 = unknown), example_mask [B] f32 (0 = filler row)

Pitch and energy stay per frame here: the model averages them per symbol over the durations
it uses (the corpus ones, or those of its learned alignment), so both modes share one path.
Statistics (``TTSStats``) are computed once over the train split in the TTS languages and
cached in ``<corpus>/stats/tts_<hash>.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np

from st_jax.data import audio as audio_lib
from st_jax.data import features as features_lib
from st_jax.data import prosody, storage
from st_jax.data import tts_symbols
from st_jax.data.manifest import EMOTIONS, LANGS, read_manifest, split_path
from st_jax.errors import ConfigError

ASSET_SYMBOLS, ASSET_STATS, ASSET_META = "tts_symbols.json", "tts_stats.json", "tts_meta.json"
STATS_UTTERANCES = 500


def languages(data) -> tuple[str, ...]:
  """The spoken languages TTS trains on: ``data.tts_langs``, or just ``data.src_lang``."""
  langs = tuple(data.get("tts_langs") or ())
  return langs or (data.src_lang,)


def _text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@dataclasses.dataclass(frozen=True)
class TTSStats:
  """Train-split statistics: log-mel mean/std per bin, log-F0 (voiced frames), energy."""
  mel: audio_lib.FeatureStats
  pitch_mean: float
  pitch_std: float
  energy_mean: float
  energy_std: float

  def save(self, path: str) -> None:
    tts_symbols.write_json(path, {
        "mel": {"frame_count": self.mel.frame_count, "sums": self.mel.sums.tolist(),
                "squared_sums": self.mel.squared_sums.tolist()},
        **{k: getattr(self, k) for k in _SCALARS}})

  @classmethod
  def load(cls, path: str) -> "TTSStats":
    def parse(body):
      mel = audio_lib.FeatureStats(int(body["mel"]["frame_count"]),
                                   np.asarray(body["mel"]["sums"], np.float64),
                                   np.asarray(body["mel"]["squared_sums"], np.float64))
      return cls(mel, *(float(body[k]) for k in _SCALARS))
    return tts_symbols.read_json(path, "TTS statistics file", parse)


_SCALARS = ("pitch_mean", "pitch_std", "energy_mean", "energy_std")


def analyse(samples: np.ndarray, data) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
  """float samples [S] -> (log-mel [T, F], log F0 [T] (0 unvoiced), voiced [T], energy [T])."""
  mel = features_lib.log_mel(samples, data)
  hop = int(round(data.sample_rate * data.hop_ms / 1000.0))
  f0, voiced = prosody.yin_f0(samples, data.sample_rate, hop, len(mel))
  log_f0 = np.where(voiced, np.log(np.maximum(f0, 1e-3)), 0.0)
  energy = prosody.frame_energy(samples, data.sample_rate, data.win_ms, data.hop_ms)
  return mel, log_f0, voiced, energy[:len(mel)]


def _stats_path(data) -> str:
  fields = {k: data[k] for k in ("sample_rate", "n_mels", "win_ms", "hop_ms")}
  fields["langs"] = list(languages(data))
  key = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
  return os.path.join(data.corpus_dir, "stats", f"tts_{key}.json")


def tts_stats(data) -> TTSStats:
  """Statistics of (up to 500 utterances of) the train split in the TTS languages; cached."""
  path = _stats_path(data)
  if os.path.exists(path):
    return TTSStats.load(path)
  index = storage.read_index(data.corpus_dir, "train")
  chosen = np.flatnonzero(np.isin(index["lang"], languages(data)))[:STATS_UTTERANCES]
  if not len(chosen):
    raise ConfigError(f"data.tts_langs / data.src_lang {languages(data)}: no training "
                      f"utterances in those languages in {data.corpus_dir}")
  source = storage.open_split(data.corpus_dir, "train")
  mels, pitches, energies = [], [], []
  for i in chosen:
    mel, log_f0, voiced, energy = analyse(source[int(i)]["audio"].astype(np.float32) / 32768.0,
                                          data)
    mels.append(mel)
    pitches.append(log_f0[voiced])
    energies.append(energy)
  pitch, energy = np.concatenate(pitches), np.concatenate(energies)
  if not len(pitch):
    raise ConfigError(f"{data.corpus_dir}: no voiced frames found in the training audio; "
                      f"is it speech?")
  stats = TTSStats(audio_lib.FeatureStats.accumulate(mels), float(pitch.mean()),
                   float(max(pitch.std(), 1e-3)), float(energy.mean()),
                   float(max(energy.std(), 1e-3)))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  stats.save(path)
  return stats


def symbol_counts(data, rows) -> np.ndarray:
  """[N] symbols of each manifest row (the pipeline's bucket shapes)."""
  return np.asarray([len(tts_symbols.utterance_symbols(data.tts_symbols, r.text, r.alignment,
                                                       r.id)) for r in rows])


class TTSExampleEncoder:
  """One stored example -> unpadded TTS arrays; picklable for grain worker processes.

  Synthesis targets are not augmented, so an utterance always gives the same arrays: the
  last ``CACHE_UTTERANCES`` are kept in memory (the analysis costs ~30 ms per second of
  audio; a 10 s utterance takes ~0.3 MB).
  """
  CACHE_UTTERANCES = 4096

  def __init__(self, data, train: bool):
    del train   # no augmentation for synthesis targets
    self.data = data
    self.inventory = tts_symbols.corpus_inventory(data.corpus_dir, data.tts_symbols)
    self.stats = tts_stats(data)
    self.speakers = {s: i for i, s in enumerate(storage.read_metadata(data.corpus_dir)
                                                ["speakers"])}
    self.hop = int(round(data.sample_rate * data.hop_ms / 1000.0))
    self._cache: dict[str, dict] = {}

  def __getstate__(self):
    return {**self.__dict__, "_cache": {}}

  def encode(self, example, rng: np.random.Generator) -> dict:
    del rng
    key = _text(example["id"])
    if key not in self._cache:
      if len(self._cache) >= self.CACHE_UTTERANCES:
        self._cache.pop(next(iter(self._cache)))
      self._cache[key] = self._encode(example)
    return self._cache[key]

  def _encode(self, example) -> dict:
    what = f"utterance {_text(example['id'])!r}"
    alignment = json.loads(_text(example["alignment"]) or "[]")
    symbols = tts_symbols.utterance_symbols(self.data.tts_symbols, _text(example["text"]),
                                            alignment, what)
    samples = example["audio"].astype(np.float32) / 32768.0
    mel, log_f0, voiced, energy = analyse(samples, self.data)
    stats = self.stats
    if self.data.tts_symbols == "phonemes":
      durations = prosody.durations_from_alignment(alignment, len(mel), self.data.sample_rate,
                                                   self.hop, what)
    else:
      durations = np.zeros(len(symbols), np.int32)
    emotion, lang = _text(example["emotion"]), _text(example["lang"])
    return {
        "symbols": self.inventory.encode(symbols), "durations": durations,
        "features": stats.mel.apply(mel).astype(np.float32),
        "pitch": np.where(voiced, (log_f0 - stats.pitch_mean) / stats.pitch_std,
                          0.0).astype(np.float32),
        "voiced": voiced.astype(np.float32),
        "energy": ((energy - stats.energy_mean) / stats.energy_std).astype(np.float32),
        "emotion": EMOTIONS.index(emotion) if emotion in EMOTIONS else -1,
        "lang": LANGS.index(lang) if lang in LANGS else -1,
        "speaker": self.speakers.get(_text(example["speaker"]), -1),
    }


_EMPTY = {"symbols": np.int32, "durations": np.int32, "pitch": np.float32,
          "voiced": np.float32, "energy": np.float32}


def collate(encoded: list, shape: dict) -> dict:
  """Pads encoded examples (``None`` = filler row) to {frames, transcripts (= symbols)}."""
  mask = np.asarray([e is not None for e in encoded], np.float32)
  template = next(e for e in encoded if e is not None)
  empty = {k: np.zeros(0, dtype) for k, dtype in _EMPTY.items()}
  empty.update(features=np.zeros((0,) + template["features"].shape[1:], np.float32),
               emotion=-1, lang=-1, speaker=-1)
  filled = [e if e is not None else empty for e in encoded]
  pad = features_lib.pad_rows
  batch = {}
  batch["symbols"], batch["symbol_paddings"] = pad([e["symbols"] for e in filled],
                                                   shape["transcripts"], np.int32)
  batch["durations"], _ = pad([e["durations"] for e in filled], shape["transcripts"], np.int32)
  batch["features"], batch["feature_paddings"] = pad([e["features"] for e in filled],
                                                     shape["frames"], np.float32)
  for key in ("pitch", "voiced", "energy"):
    batch[key], _ = pad([e[key] for e in filled], shape["frames"], np.float32)
  for key in ("emotion", "lang", "speaker"):
    batch[key] = np.asarray([e[key] for e in filled], np.int32)
  batch["example_mask"] = mask
  return batch


def corpus_meta(data) -> dict:
  """What inference needs to know: speakers (in id order), the speakers of each TTS language
  in the train split, the TTS languages and the sample rate."""
  by_lang: dict[str, set] = {lang: set() for lang in languages(data)}
  for row in read_manifest(split_path(data.corpus_dir, "train")):
    if row.lang in by_lang:
      by_lang[row.lang].add(row.speaker)
  return {"speakers": list(storage.read_metadata(data.corpus_dir)["speakers"]),
          "speakers_by_lang": {k: sorted(v) for k, v in by_lang.items()},
          "langs": list(languages(data)), "sample_rate": int(data.sample_rate)}


def save_assets(config, directory: str) -> None:
  """Writes the symbol inventory, statistics and speakers into a workdir's ``assets/``;
  ConfigError when the corpus has more symbols or speakers than the model has room for."""
  data, tts = config.data, config.model.tts
  inventory = tts_symbols.corpus_inventory(data.corpus_dir, data.tts_symbols)
  meta = corpus_meta(data)
  if inventory.size > tts.num_symbols:
    raise ConfigError(f"{data.corpus_dir} has {inventory.size} {data.tts_symbols} ids but "
                      f"model.tts.num_symbols={tts.num_symbols}; pass "
                      f"--config.model.tts.num_symbols={inventory.size}")
  if len(meta["speakers"]) > tts.num_speakers:
    raise ConfigError(f"{data.corpus_dir} has {len(meta['speakers'])} speakers but "
                      f"model.tts.num_speakers={tts.num_speakers}; pass "
                      f"--config.model.tts.num_speakers={len(meta['speakers'])}")
  inventory.save(os.path.join(directory, ASSET_SYMBOLS))
  tts_stats(data).save(os.path.join(directory, ASSET_STATS))
  tts_symbols.write_json(os.path.join(directory, ASSET_META), meta)
