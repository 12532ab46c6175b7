"""TTS data: the YIN pitch tracker, frame energy against librosa, durations from alignments,
symbol inventories, text -> symbols, and the data.task=tts batches of the pipeline."""

import json
import os

import numpy as np
import pytest

from st_jax.data import espeak, prosody, tts_features, tts_symbols
from st_jax.data import pipeline as pipeline_lib
from st_jax.errors import ConfigError, ManifestError, MissingExtraError, UserError
from tts_helpers import RATE, _sound, micro_tts_config, write_tts_corpus


@pytest.fixture(scope="module")
def tts_corpus(tmp_path_factory):
  out = tmp_path_factory.mktemp("tts_corpus")
  write_tts_corpus(out, num_sentences=2)
  return str(out)


def test_yin_tracks_f0_of_tones_and_rejects_noise_and_silence():
  rng = np.random.default_rng(0)
  for f0 in (80.0, 140.0, 230.0, 450.0):
    for phoneme in ("a", "i", "m"):
      samples = _sound(phoneme, 0.5, f0, 0.3, rng)
      frames = 1 + len(samples) // 160
      f, voiced = prosody.yin_f0(samples, RATE, 160, frames)
      assert f.shape == voiced.shape == (frames,) and voiced.mean() > 0.85
      np.testing.assert_allclose(np.median(f[voiced]), f0, rtol=0.005)
      assert (f[~voiced] == 0).all()
  assert not prosody.yin_f0(0.3 * rng.standard_normal(8000), RATE, 160, 51)[1].any()
  assert not prosody.yin_f0(np.zeros(8000), RATE, 160, 51)[1].any()


def test_frame_energy_is_the_l2_norm_of_librosas_magnitude_spectrum():
  librosa = pytest.importorskip("librosa")
  samples = np.random.default_rng(1).normal(size=7919).astype(np.float32) * 0.1
  spectrum = np.abs(librosa.stft(samples.astype(np.float64), n_fft=512, hop_length=160,
                                 win_length=400, window="hann", center=True,
                                 pad_mode="reflect"))
  np.testing.assert_allclose(prosody.frame_energy(samples, RATE),
                             np.linalg.norm(spectrum, axis=0), rtol=1e-5)


def test_durations_sum_to_the_frame_count_exactly():
  alignment = [["a", 0.0, 0.0449], ["b", 0.0449, 0.0451], ["c", 0.0451, 0.314]]
  durations = prosody.durations_from_alignment(alignment, 33, RATE, 160)
  np.testing.assert_array_equal(durations, [4, 1, 28])   # ends 4.49 -> 4, 4.51 -> 5, last -> 33
  assert prosody.durations_from_alignment(alignment, 40, RATE, 160).sum() == 40
  with pytest.raises(ManifestError, match="durations=learned"):
    prosody.durations_from_alignment([], 10, RATE, 160, "utterance 'x'")
  with pytest.raises(ManifestError, match="not increasing"):
    prosody.durations_from_alignment([["a", 0, 0.2], ["b", 0.2, 0.1]], 20, RATE, 160)


def test_inventories_are_built_once_from_the_train_split(tts_corpus):
  phonemes = tts_symbols.corpus_inventory(tts_corpus, "phonemes")
  assert set(phonemes.symbols) <= set("aeiousm_") and "_" in phonemes.symbols
  assert os.path.exists(tts_symbols.inventory_path(tts_corpus, "phonemes"))
  ids = phonemes.encode(["m", "a", "ʃ"])
  assert ids[-1] == tts_symbols.UNK_ID and phonemes.decode(ids[:2]) == ["m", "a"]
  again = tts_symbols.SymbolInventory.load(tts_symbols.inventory_path(tts_corpus, "phonemes"))
  assert again.symbols == phonemes.symbols and again.size == len(phonemes.symbols) + 2
  characters = tts_symbols.corpus_inventory(tts_corpus, "characters")
  assert " " in characters.symbols and "_" not in characters.symbols
  assert tts_symbols.characters_of("Ma  SU") == ["m", "a", " ", "s", "u"]
  with pytest.raises(ConfigError, match="tts_symbols='words'"):
    tts_symbols.SymbolInventory("words", [])


def test_text_symbols_errors_name_the_problem(monkeypatch):
  with pytest.raises(ConfigError, match="empty"):
    tts_symbols.text_symbols("  ", "characters", "de")
  with pytest.raises(ConfigError, match="no voice for language 'xx'"):
    tts_symbols.text_symbols("hallo", "phonemes", "xx")

  def missing():
    raise MissingExtraError("synth", "Speaking", "espeakng_loader")
  monkeypatch.setattr(espeak, "_espeak_files", missing)
  with pytest.raises(UserError, match=r"\[synth\].*tts_symbols=characters"):
    tts_symbols.text_symbols("hallo", "phonemes", "de")
  assert tts_symbols.text_symbols("Hallo", "characters", "de") == list("hallo")


@pytest.mark.synth
def test_espeak_phonemes_of_text_are_those_the_corpus_alignment_holds():
  speech = espeak.speak("Guten Morgen, Anna.", "de", "de+m1", espeak.Prosody())
  symbols = tts_symbols.text_symbols("Guten Morgen, Anna.", "phonemes", "de", "de+m1")
  assert symbols == [name for name, _, _ in speech.phonemes] and "_" in symbols


def test_pipeline_batches_hold_symbols_durations_and_prosody(tts_corpus):
  config = micro_tts_config(tts_corpus)
  pipe = pipeline_lib.make_pipeline(config.data, "train", train=False)
  assert pipe.plan.batches_per_epoch * 8 >= 16
  batch = next(pipe.iterator())
  frames = (1 - batch["feature_paddings"]).sum(1)
  symbols = (1 - batch["symbol_paddings"]).sum(1)
  np.testing.assert_array_equal(batch["durations"].sum(1), frames)      # exact totals
  assert (batch["durations"][batch["symbol_paddings"] > 0] == 0).all()
  assert batch["features"].shape[2] == 80 and batch["symbols"].dtype == np.int32
  assert (batch["symbols"][batch["symbol_paddings"] == 0] >= 2).all()  # no PAD/UNK inside
  np.testing.assert_array_equal(symbols, [len(r) for r in _symbol_rows(batch)])
  valid = batch["feature_paddings"] == 0
  assert abs(batch["features"][valid].mean()) < 0.3                    # train-split stats
  assert (batch["pitch"][batch["voiced"] == 0] == 0).all()
  # happy is spoken higher than sad (F0 230 vs 100 Hz in tts_helpers)
  mean_pitch = {}
  for row, emotion in enumerate(batch["emotion"]):
    mean_pitch.setdefault(int(emotion), []).append(
        batch["pitch"][row][batch["voiced"][row] > 0].mean())
  assert np.mean(mean_pitch[1]) > np.mean(mean_pitch[0]) > np.mean(mean_pitch[2])
  stats = tts_features.tts_stats(config.data)
  assert stats.pitch_std > 0 and stats.mel.mean.shape == (80,)


def _symbol_rows(batch):
  return [row[row > 0] for row in batch["symbols"]]


def test_several_languages_and_workdir_assets(tone_corpus, tmp_path):
  config = micro_tts_config(tone_corpus, "data.tts_langs=('en', 'de')", "data.batch_size=8")
  pipe = pipeline_lib.make_pipeline(config.data, "train", train=False)
  langs = {int(l) for i in range(pipe.plan.batches_per_epoch)
           for l, m in zip(pipe.example_batch(i)["lang"], pipe.example_batch(i)["example_mask"])
           if m}
  assert langs == {0, 1}                                      # en, de; no fr
  german = micro_tts_config(tone_corpus)
  assert tts_features.languages(german.data) == ("de",)
  tts_features.save_assets(config, str(tmp_path))
  meta = json.load(open(tmp_path / tts_features.ASSET_META, encoding="utf-8"))
  assert meta["langs"] == ["en", "de"] and set(meta["speakers_by_lang"]) == {"en", "de"}
  assert tts_features.TTSStats.load(str(tmp_path / tts_features.ASSET_STATS)).energy_std > 0
  config.model.tts.num_speakers = 2
  with pytest.raises(ConfigError, match="num_speakers=3"):
    tts_features.save_assets(config, str(tmp_path))
