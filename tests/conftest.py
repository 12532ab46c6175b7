"""Test setup: 8 fake CPU devices (before jax is imported) and small shared fixtures."""

import os
import pathlib

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"

SENTENCES = [
    ("Hello.", "Hallo.", "Bonjour."),
    ("The red car is here.", "Das rote Auto ist hier.", "La voiture rouge est ici."),
    ("Anna buys three apples.", "Anna kauft drei Äpfel.", "Anna achète trois pommes."),
    ("Where is the station?", "Wo ist der Bahnhof?", "Où est la gare ?"),
    ("We are going to the market tomorrow.", "Wir gehen morgen auf den Markt.",
     "Nous allons au marché demain."),
    ("It is seven o'clock.", "Es ist sieben Uhr.", "Il est sept heures."),
    ("Thank you very much.", "Vielen Dank.", "Merci beaucoup."),
    ("The blue house is small.", "Das blaue Haus ist klein.", "La maison bleue est petite."),
]


def write_tone_corpus(out_dir, num_sentences=24, sample_rate=16000, seed=0):
  """A corpus made without espeak: tones whose length grows with the sentence, all 3 languages.

  Returns the split -> rows dict given to ``storage.write_corpus``.
  """
  from st_jax.data import storage
  from st_jax.data.manifest import Utterance
  rng = np.random.default_rng(seed)
  langs = ("en", "de", "fr")
  splits = {"train": [], "dev": [], "test": []}
  audio_dir = pathlib.Path(out_dir) / "audio"
  audio_dir.mkdir(parents=True, exist_ok=True)
  for i in range(num_sentences):
    split = "train" if i % 6 < 4 else ("dev" if i % 6 == 4 else "test")
    triple = SENTENCES[i % len(SENTENCES)]
    for li, lang in enumerate(langs):
      seconds = 0.3 + 0.06 * len(triple[li]) + 0.4 * rng.random()
      t = np.arange(int(seconds * sample_rate)) / sample_rate
      samples = 0.3 * np.sin(2 * np.pi * (200 + 40 * i + 100 * li) * t)
      samples += 0.01 * rng.standard_normal(len(t))
      path = audio_dir / f"{split}-{i:04d}-{lang}.wav"
      sf.write(path, samples.astype(np.float32), sample_rate, subtype="PCM_16")
      others = {f"translation_{l}": triple[j] for j, l in enumerate(langs) if l != lang}
      splits[split].append(Utterance(
          id=f"{split}-{i:04d}-{lang}", audio=str(path), duration=seconds, lang=lang,
          text=triple[li], speaker=f"voice{i % 3}", emotion=("neutral", "happy", "sad",
                                                                "angry")[i % 4],
          alignment=[["a", 0.0, seconds / 2], ["b", seconds / 2, seconds]], **others))
  storage.write_corpus(str(out_dir), splits, sample_rate, tokenizer_vocab=120, workers=1)
  return splits


@pytest.fixture(scope="session")
def tone_corpus(tmp_path_factory):
  """Path of a small tone corpus (24 sentences x 3 languages), built once per session."""
  out = tmp_path_factory.mktemp("tone_corpus")
  write_tone_corpus(out)
  return str(out)


@pytest.fixture
def data_config(tone_corpus):
  """config.data for the tone corpus with small batches."""
  from configs.base import data_config as make
  return make(corpus_dir=tone_corpus, batch_size=4, num_buckets=3, max_frames=400,
              vocab_size=120)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
  """Under `--dist loadgroup` (make test), the tests of a module that share a module-scoped
  fixture (a trained micro model) run on one xdist worker, so that fixture is built once; all
  other tests are spread over the workers one by one."""
  for item in items:
    fixtures = getattr(item, "_fixtureinfo", None)
    if fixtures is None:
      continue
    if any(d.scope == "module" for defs in fixtures.name2fixturedefs.values() for d in defs):
      item.add_marker(pytest.mark.xdist_group(name=item.module.__name__))
