"""Tests for st_jax.data.espeak: voices, determinism, phoneme timings, emotions, errors."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest

from st_jax.data import espeak
from st_jax.errors import ConfigError, MissingExtraError, UserError

SENTENCES = {
    "en": ("The quick brown fox jumps over the lazy dog.",
           "I would like a cup of coffee, please.",
           "My sister bought a new bicycle yesterday."),
    "de": ("Der schnelle braune Fuchs springt über den faulen Hund.",
           "Ich hätte gern eine Tasse Kaffee, bitte.",
           "Meine Schwester hat gestern ein neues Fahrrad gekauft."),
    "fr": ("Le renard brun rapide saute par-dessus le chien paresseux.",
           "Je voudrais une tasse de café, s'il vous plaît.",
           "Ma sœur a acheté un nouveau vélo hier."),
}
COMMA_SENTENCES = {"en": "Hello world, this is a test.", "de": "Guten Morgen, wie geht es dir?",
                   "fr": "Bonjour, comment allez-vous?"}


@pytest.fixture
def needs_espeak():
  pytest.importorskip("espeakng_loader")


def _rms(samples: np.ndarray) -> float:
  return float(np.sqrt(np.mean(samples.astype(np.float64)**2)))


def _median_f0(samples: np.ndarray, sample_rate: int) -> float:
  """Median f0 (Hz) of voiced 40 ms frames, by autocorrelation peak picking in 60-400 Hz."""
  signal = samples.astype(np.float64) / 32768
  frame, hop = int(0.04 * sample_rate), int(0.01 * sample_rate)
  shortest_lag, longest_lag = sample_rate // 400, sample_rate // 60
  pitches = []
  for start in range(0, len(signal) - frame, hop):
    window = signal[start:start + frame] - signal[start:start + frame].mean()
    if np.sqrt(np.mean(window**2)) < 0.02:
      continue
    autocorrelation = np.correlate(window, window, "full")[frame - 1:]
    autocorrelation /= autocorrelation[0]
    lag = shortest_lag + int(np.argmax(autocorrelation[shortest_lag:longest_lag]))
    if autocorrelation[lag] > 0.5:
      pitches.append(sample_rate / lag)
  assert len(pitches) > 10, "pitch tracker found almost no voiced frames"
  return float(np.median(pitches))


def test_voice_tables_are_consistent():
  assert set(espeak.VOICES) == {"en", "de", "fr"} == set(espeak.HELD_OUT_VOICES)
  for lang, voices in espeak.VOICES.items():
    assert len(voices) >= 4 and len(set(voices)) == len(voices)
    assert espeak.HELD_OUT_VOICES[lang] in voices


def test_prosody_rejects_out_of_range_values():
  with pytest.raises(ConfigError, match="rate"):
    espeak.Prosody(rate=20)
  with pytest.raises(ConfigError, match="volume"):
    espeak.Prosody(volume=250)
  with pytest.raises(ConfigError, match="pitch"):
    espeak.Prosody(pitch=1.5)


def test_emotion_prosody_is_seeded_varied_and_ordered():
  draws = {emotion: [espeak.emotion_prosody(emotion, np.random.default_rng(seed))
                     for seed in range(50)] for emotion in espeak.EMOTIONS}
  assert draws["happy"][:5] == [espeak.emotion_prosody("happy", np.random.default_rng(seed))
                                for seed in range(5)]
  assert len({prosody.rate for prosody in draws["neutral"]}) > 10  # per-utterance variation
  mean = {emotion: {field: np.mean([getattr(p, field) for p in prosodies])
                    for field in ("rate", "pitch", "pitch_range", "volume")}
          for emotion, prosodies in draws.items()}
  assert mean["happy"]["pitch"] > mean["neutral"]["pitch"] > mean["sad"]["pitch"]
  assert mean["sad"]["rate"] < mean["neutral"]["rate"] < mean["angry"]["rate"]
  assert mean["angry"]["volume"] > mean["happy"]["volume"] > mean["sad"]["volume"]
  assert mean["sad"]["pitch_range"] < mean["neutral"]["pitch_range"] < mean["happy"]["pitch_range"]
  with pytest.raises(ConfigError, match="neutral, happy, sad, angry"):
    espeak.emotion_prosody("bored", np.random.default_rng(0))


def test_unknown_language_or_voice_lists_valid_ones():
  with pytest.raises(UserError, match="en, de, fr"):
    espeak.speak("Hola", "es", "es+m1", espeak.Prosody())
  with pytest.raises(UserError, match=r"de\+m1.*de\+f4"):
    espeak.speak("Hallo", "de", "en-us+m3", espeak.Prosody())


def test_missing_extra_names_synth(monkeypatch):
  monkeypatch.setitem(sys.modules, "espeakng_loader", None)
  monkeypatch.setattr(espeak, "_files", None)
  with pytest.raises(MissingExtraError, match=r"\[synth\]"):
    espeak.speak("Hello.", "en", "en-us+m3", espeak.Prosody())


@pytest.mark.synth
def test_every_voice_speaks_with_plausible_duration_and_pitch(needs_espeak):
  text = SENTENCES["en"][0]
  hashes, f0_by_gender = set(), {"m": [], "f": []}
  for lang, voices in espeak.VOICES.items():
    text = SENTENCES[lang][0]
    for voice in voices:
      speech = espeak.speak(text, lang, voice, espeak.Prosody())
      assert speech.samples.dtype == np.int16 and speech.sample_rate == espeak.SAMPLE_RATE
      assert _rms(speech.samples) > 1000, voice
      seconds_per_word = speech.duration / len(text.split())
      assert 0.2 < seconds_per_word < 0.6, (voice, seconds_per_word)
      hashes.add(hashlib.sha256(speech.samples.tobytes()).hexdigest())
      f0_by_gender[voice.split("+")[1][0]].append(_median_f0(speech.samples, speech.sample_rate))
  assert len(hashes) == sum(len(voices) for voices in espeak.VOICES.values())
  # The +fN variants are really applied: female voices are much higher pitched.
  assert np.mean(f0_by_gender["f"]) > 1.3 * np.mean(f0_by_gender["m"])


@pytest.mark.synth
def test_same_inputs_give_identical_output_whatever_came_before(needs_espeak):
  prosody = espeak.Prosody(rate=190, pitch=60, pitch_range=70, volume=120)
  first = espeak.speak(SENTENCES["fr"][1], "fr", "fr-be+m4", prosody)
  espeak.speak(SENTENCES["de"][0], "de", "de+f1", espeak.Prosody(rate=100, volume=180))
  espeak.speak(SENTENCES["en"][2], "en", "en-us+f2", espeak.Prosody())
  second = espeak.speak(SENTENCES["fr"][1], "fr", "fr-be+m4", prosody)
  assert first.samples.tobytes() == second.samples.tobytes()
  assert first.phonemes == second.phonemes
  other = espeak.speak(SENTENCES["fr"][1], "fr", "fr-be+m4", espeak.Prosody())
  assert other.samples.tobytes() != first.samples.tobytes()


@pytest.mark.synth
@pytest.mark.parametrize("lang", ["en", "de", "fr"])
def test_phoneme_timings_are_contiguous_and_match_the_audio(needs_espeak, lang):
  speech = espeak.speak(COMMA_SENTENCES[lang], lang, espeak.VOICES[lang][1], espeak.Prosody())
  names = [name for name, _, _ in speech.phonemes]
  starts = np.array([start for _, start, _ in speech.phonemes])
  ends = np.array([end for _, _, end in speech.phonemes])
  assert starts[0] == 0 and np.all(ends >= starts) and np.all(starts[1:] == ends[:-1])
  assert ends[-1] <= speech.duration + 1e-9 and ends[-1] > speech.duration - 0.01
  assert names[0] != espeak.PAUSE and names[-1] != espeak.PAUSE
  # The comma is a pause; it is (nearly) silent while the speech around it is not, which also
  # checks the espeak_EVENT struct layout (phoneme sample positions).
  pauses = [(start, end) for name, start, end in speech.phonemes if name == espeak.PAUSE]
  assert len(pauses) == 1 and pauses[0][1] - pauses[0][0] > 0.05
  rate = speech.sample_rate
  pause_audio = speech.samples[int(pauses[0][0] * rate):int(pauses[0][1] * rate)]
  assert _rms(pause_audio) < 0.1 * _rms(speech.samples)
  assert all(name.strip() and "\0" not in name for name in names)


@pytest.mark.synth
def test_phonemes_are_ipa_and_scale_with_text_length(needs_espeak):
  speech = espeak.speak("This is the dog.", "en", "en-us+m3", espeak.Prosody())
  assert "ð" in {name for name, _, _ in speech.phonemes}  # IPA, not espeak's "D"
  for lang, sentences in SENTENCES.items():
    voice = espeak.VOICES[lang][0]
    for text in sentences:
      count = len(espeak.speak(text, lang, voice, espeak.Prosody()).phonemes)
      assert 0.4 < count / len(text) < 1.0, (text, count)
    double = len(espeak.speak(f"{sentences[0]} {sentences[0]}", lang, voice,
                              espeak.Prosody()).phonemes)
    single = len(espeak.speak(sentences[0], lang, voice, espeak.Prosody()).phonemes)
    assert 1.9 < double / single < 2.2


@pytest.mark.synth
def test_emotions_are_measurably_different(needs_espeak):
  rng = np.random.default_rng(0)
  seconds_per_char, loudness, pitch = {}, {}, {}
  for emotion in espeak.EMOTIONS:
    durations, levels, f0s = [], [], []
    for lang, sentences in SENTENCES.items():
      for text, voice in zip(sentences[:2], espeak.VOICES[lang]):
        speech = espeak.speak(text, lang, voice, espeak.emotion_prosody(emotion, rng))
        durations.append(speech.duration / len(text))
        levels.append(_rms(speech.samples))
        f0s.append(_median_f0(speech.samples, speech.sample_rate))
    seconds_per_char[emotion], loudness[emotion] = np.mean(durations), np.mean(levels)
    pitch[emotion] = np.mean(f0s)
  assert seconds_per_char["sad"] > 1.2 * max(seconds_per_char["happy"], seconds_per_char["angry"])
  assert loudness["angry"] > 2 * loudness["sad"] and loudness["angry"] > loudness["neutral"]
  assert pitch["happy"] > 1.3 * pitch["sad"] and pitch["happy"] > pitch["neutral"]


@pytest.mark.synth
def test_text_without_anything_to_say_is_a_user_error(needs_espeak):
  with pytest.raises(ConfigError, match="nothing to say"):
    espeak.speak("   ", "en", "en-us+m3", espeak.Prosody())
