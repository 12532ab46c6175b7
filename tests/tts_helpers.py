"""A synthetic TTS corpus without espeak, and a micro TTS config.

Each "phoneme" is a sound whose spectrum identifies it (vowels: harmonic tones with a formant
per vowel; "m": a low hum; "s": noise; "_": silence). The emotion sets the F0, the phoneme
durations and the loudness exactly as a speaker would (sad: slow, low, soft; happy: fast, high),
so a model that learns the corpus must learn those controls. Transcripts are the phoneme
letters with spaces for pauses, so characters and phonemes align one to one.
"""

import pathlib

import numpy as np
import soundfile as sf

from st_jax import config_lib

RATE = 16000
VOWELS = {"a": 800.0, "e": 500.0, "i": 300.0, "o": 450.0, "u": 350.0}
# emotion -> (F0 Hz, duration factor, amplitude)
EMOTION_STYLE = {"neutral": (140.0, 1.0, 0.25), "happy": (230.0, 0.7, 0.3),
                 "sad": (100.0, 1.6, 0.12), "angry": (170.0, 0.85, 0.45)}
WORDS = ["ma", "su", "mise", "oma", "saum", "ume", "ais", "omi"]

MICRO_TTS = ["model.d_model=32", "model.num_heads=2", "model.encoder.num_layers=1",
             "model.encoder.ffn_dim=64", "model.mel_decoder.num_layers=1",
             "model.mel_decoder.ffn_dim=64", "model.tts.predictor_filters=32",
             "model.tts.postnet_channels=32", "model.tts.aligner_dim=32", "model.dropout=0.0",
             "model.tts.predictor_dropout=0.0", "model.tts.postnet_dropout=0.0",
             "data.vocab_size=120", "data.num_buckets=1", "data.batch_size=8",
             "train.warmup_steps=10", "train.learning_rate=3e-3", "train.weight_decay=0.0",
             "train.async_checkpointing=False", "train.log_every=10"]


def micro_tts_config(corpus_dir, *extra):
  return config_lib.load_config("tts:tiny", MICRO_TTS + [f"data.corpus_dir={corpus_dir}",
                                                         *extra])


def _sound(phoneme: str, seconds: float, f0: float, amplitude: float,
           rng: np.random.Generator) -> np.ndarray:
  t = np.arange(int(round(seconds * RATE))) / RATE
  if phoneme == "_":
    return 0.001 * rng.standard_normal(len(t))
  if phoneme == "s":
    return amplitude * 0.5 * rng.standard_normal(len(t))
  formant = VOWELS.get(phoneme, 250.0)
  harmonics = np.arange(1, int(3000 // f0) + 1)
  weights = np.exp(-0.5 * ((harmonics * f0 - formant) / 150.0) ** 2) + 0.05
  wave = (weights[:, None] * np.sin(2 * np.pi * f0 * harmonics[:, None] * t)).sum(0)
  wave *= amplitude * (0.5 if phoneme == "m" else 1.0) / weights.sum() * 3
  ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.005) if len(t) else t
  return wave * ramp


def utterance(words, emotion: str, speaker: int, rng: np.random.Generator):
  """-> (samples float32, alignment [[phoneme, start, end], ...], text)."""
  f0, stretch, amplitude = EMOTION_STYLE[emotion]
  f0 *= (1.0, 1.25)[speaker]
  phonemes = list("_".join(words))
  pieces, alignment, now = [], [], 0.0
  for p in phonemes:
    base = 0.1 if p in VOWELS else (0.05 if p == "_" else 0.07)
    seconds = round(base * stretch * rng.uniform(0.9, 1.1), 4)
    pieces.append(_sound(p, seconds, f0, amplitude, rng))
    alignment.append([p, round(now, 4), round(now + seconds, 4)])
    now += seconds
  samples = np.concatenate(pieces).astype(np.float32)
  alignment[-1][2] = round(len(samples) / RATE, 4)
  return samples, alignment, " ".join(words)


def random_sentence(rng: np.random.Generator) -> list[str]:
  """2-3 words of 2-4 random phoneme letters."""
  letters = list(VOWELS) + ["m", "s"]
  return ["".join(rng.choice(letters, size=rng.integers(2, 5))) for _ in range(rng.integers(2, 4))]


def write_tts_corpus(out_dir, num_sentences: int = 3, seed: int = 0, lang: str = "de",
                     emotions=tuple(EMOTION_STYLE), speakers: int = 2, random_words=False):
  """train: num_sentences x emotions x speakers; dev/test: 2 more sentences. Sentences are
  combinations of WORDS, or random letter strings (random_words: many contexts per letter,
  as an aligner needs)."""
  from st_jax.data import storage
  from st_jax.data.manifest import Utterance
  rng = np.random.default_rng(seed)
  audio_dir = pathlib.Path(out_dir) / "audio"
  audio_dir.mkdir(parents=True, exist_ok=True)
  sentences = [random_sentence(rng) if random_words else
               [WORDS[(i + j) % len(WORDS)] for j in range(2 + i % 2)]
               for i in range(num_sentences + 2)]
  splits = {"train": [], "dev": [], "test": []}
  plan = [("train", s, e, k) for s in range(num_sentences) for e in emotions
          for k in range(speakers)]
  plan += [("dev", num_sentences, "neutral", 0), ("test", num_sentences + 1, "happy", 1)]
  for n, (split, sentence, emotion, speaker) in enumerate(plan):
    samples, alignment, text = utterance(sentences[sentence], emotion, speaker, rng)
    path = audio_dir / f"{split}-{n:03d}.wav"
    sf.write(path, samples, RATE, subtype="PCM_16")
    splits[split].append(Utterance(
        id=f"{split}-{n:03d}", audio=str(path), duration=len(samples) / RATE, lang=lang,
        text=text, speaker=f"spk{speaker}", emotion=emotion, alignment=alignment))
  storage.write_corpus(str(out_dir), splits, RATE, tokenizer_vocab=60, workers=1)
  return splits
