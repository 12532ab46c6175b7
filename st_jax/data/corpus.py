"""The built-in bilingual (trilingual) speech corpus: `st-jax data synth`.

Sentences come from ``st_jax.data.grammar`` (English with correct German and French
translations); every sentence is spoken in all three languages by espeak-ng (``[synth]``
extra) with a voice, an emotion realised in prosody, and per-utterance rate/pitch/volume
variation. Phoneme timings from espeak are kept as TTS duration targets.

Splits (deterministic from ``seed``):
  * sentences are split 80/10/10 into train/dev/test, so dev and test sentences (their slot
    combinations) never occur in training;
  * ``espeak.HELD_OUT_VOICES`` (one voice per language) never speaks a training utterance;
    it speaks half of the dev and test utterances, seen voices speak the other half.

Every utterance gets its own ``numpy.random.Generator`` seeded by (seed, sentence, language),
so the corpus is identical whatever the number of worker processes.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time

import numpy as np
import soundfile as sf
from tqdm import tqdm

from st_jax.data import audio as audio_lib
from st_jax.data import espeak
from st_jax.data import grammar
from st_jax.data import storage
from st_jax.data.manifest import LANGS, Utterance
from st_jax.errors import UserError

SPLIT_FRACTIONS = (("train", 0.8), ("dev", 0.1), ("test", 0.1))


@dataclasses.dataclass(frozen=True)
class _Job:
  """One utterance to speak."""
  split: str
  index: int           # sentence index in the generated list
  lang: str
  sentence: grammar.Sentence
  seed: int
  out_dir: str
  sample_rate: int


def split_sentences(sentences: list, seed: int) -> dict[str, list[int]]:
  """Sentence indices per split: a seeded permutation cut 80/10/10 (dev/test >= 1 each)."""
  order = np.random.default_rng([seed, 7]).permutation(len(sentences))
  n_dev = max(1, int(round(len(sentences) * SPLIT_FRACTIONS[1][1])))
  n_test = max(1, int(round(len(sentences) * SPLIT_FRACTIONS[2][1])))
  n_train = len(sentences) - n_dev - n_test
  if n_train < 1:
    raise UserError(f"--size {len(sentences)} is too small: need at least 3 sentences")
  return {"train": sorted(order[:n_train].tolist()),
          "dev": sorted(order[n_train:n_train + n_dev].tolist()),
          "test": sorted(order[n_train + n_dev:].tolist())}


def choose_voice(split: str, lang: str, rng: np.random.Generator) -> str:
  """A training voice for train; for dev/test the held-out voice half of the time."""
  held_out = espeak.HELD_OUT_VOICES[lang]
  seen = [v for v in espeak.VOICES[lang] if v != held_out]
  if split != "train" and rng.random() < 0.5:
    return held_out
  return seen[int(rng.integers(len(seen)))]


def _speak(job: _Job) -> Utterance:
  """Worker: speaks one utterance, writes its wav, returns its manifest row."""
  rng = np.random.default_rng([job.seed, job.index, LANGS.index(job.lang)])
  voice = choose_voice(job.split, job.lang, rng)
  emotion = espeak.EMOTIONS[int(rng.integers(len(espeak.EMOTIONS)))]
  speech = espeak.speak(getattr(job.sentence, job.lang), job.lang, voice,
                        espeak.emotion_prosody(emotion, rng))
  samples = speech.samples.astype(np.float32) / 32768.0
  if speech.sample_rate != job.sample_rate:
    samples = audio_lib.resample(samples, speech.sample_rate, job.sample_rate)
  uid = f"{job.split}-{job.index:06d}-{job.lang}"
  path = os.path.join(job.out_dir, "audio", job.split, f"{uid}.wav")
  sf.write(path, samples, job.sample_rate, subtype="PCM_16")
  translations = {f"translation_{l}": getattr(job.sentence, l) for l in LANGS if l != job.lang}
  return Utterance(id=uid, audio=path, duration=len(samples) / job.sample_rate, lang=job.lang,
                   text=getattr(job.sentence, job.lang), speaker=voice, emotion=emotion,
                   alignment=[[p, round(s, 4), round(e, 4)] for p, s, e in speech.phonemes],
                   **translations)


def synthesize_corpus(out_dir: str, size: int = 2000, seed: int = 0, workers: int = 0,
                      sample_rate: int = 16000, tokenizer_vocab: int = 1000) -> dict[str, int]:
  """Generates ``size`` sentences, speaks each in en/de/fr, and writes the corpus layout.

  Returns the number of utterances per split (3 per sentence).
  """
  if size < 3:
    raise UserError(f"--size {size}: need at least 3 sentences (train/dev/test)")
  sentences = grammar.generate(size, seed)
  splits = split_sentences(sentences, seed)
  jobs = []
  for split, indices in splits.items():
    os.makedirs(os.path.join(out_dir, "audio", split), exist_ok=True)
    jobs += [_Job(split, i, lang, sentences[i], seed, out_dir, sample_rate)
             for i in indices for lang in LANGS]
  workers = workers or os.cpu_count() or 1
  start = time.time()
  rows = []
  with tqdm(total=len(jobs), desc="speaking", unit="utt") as bar:
    if workers > 1:
      # espeak-ng leaks a little per call on mixed-language text: recycle workers.
      with multiprocessing.get_context("spawn").Pool(workers, maxtasksperchild=500) as pool:
        for row in pool.imap(_speak, jobs, chunksize=16):
          rows.append(row)
          bar.update()
    else:
      for job in jobs:
        rows.append(_speak(job))
        bar.update()
  seconds = sum(r.duration for r in rows)
  elapsed = time.time() - start
  print(f"spoke {len(rows)} utterances, {seconds / 3600:.2f} h of audio in {elapsed:.0f} s "
        f"({seconds / max(elapsed, 1e-9):.0f}x real time, {workers} processes)")
  by_split = {name: [r for r in rows if r.id.startswith(name + "-")] for name in splits}
  counts = storage.write_corpus(out_dir, by_split, sample_rate, tokenizer_vocab=tokenizer_vocab,
                                workers=workers)
  print("corpus " + ", ".join(f"{k}: {v}" for k, v in counts.items()) + f" -> {out_dir}")
  return counts
