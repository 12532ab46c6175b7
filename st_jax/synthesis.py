"""A trained TTS workdir as a speech producer: text -> symbols -> log-mel -> waveform.

    synth = Synthesizer("runs/tts", vocoder="griffin_lim")        # or a vocoder workdir
    samples = synth("Guten Morgen.", lang="de", emotion="happy", rate=1.2)
    write_wav("x.wav", samples, synth.sample_rate)

The workdir is self-contained: training copies the symbol inventory, the normalisation
statistics and the speaker list into ``W/assets/`` (data/tts_features.py ``save_assets``).
Phoneme models turn text into phonemes with espeak-ng (the [synth] extra), using the
requested speaker's voice when it is an espeak-ng voice of the language; character models need
nothing. Every bad input (empty text, unknown language, emotion or speaker, a bad control) is
a UserError naming the value and the valid choices.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import soundfile as sf
from flax import linen as nn

from st_jax import checkpointing, config_lib, inference
from st_jax.data import tts_features, tts_symbols
from st_jax.data.manifest import EMOTIONS, LANGS
from st_jax.errors import ConfigError

log = logging.getLogger(__name__)


def _asset(workdir: str, name: str) -> str:
  path = os.path.join(workdir, inference.ASSETS, name)
  if not os.path.exists(path):
    raise ConfigError(f"{workdir}: {inference.ASSETS}/{name} is missing; it is written when "
                      f"`st-jax train` starts a TTS model (data.task=tts)")
  return path


class Synthesizer:
  """Loads a TTS workdir (``step``: checkpoint, default latest) and a vocoder
  (``vocoder``: "griffin_lim" or a vocoder workdir, see st_jax/vocoders.py)."""

  def __init__(self, workdir: str, step: int | None = None, vocoder: str = "griffin_lim"):
    from st_jax import vocoders  # pylint: disable=g-import-not-at-top
    from st_jax.models.tts import TTSModel  # pylint: disable=g-import-not-at-top
    config = config_lib.load_workdir_config(workdir)
    if config.data.get("task") != "tts":
      raise ConfigError(f"{workdir} holds a {config.get('name', '?')!r} model "
                        f"(data.task={config.data.get('task')!r}), not a TTS model; train one "
                        f"with `st-jax train --config tts:tiny`")
    self.config, self.workdir = config, workdir
    self.inventory = tts_symbols.SymbolInventory.load(_asset(workdir, tts_features.ASSET_SYMBOLS))
    stats = tts_features.TTSStats.load(_asset(workdir, tts_features.ASSET_STATS))
    self.meta = tts_symbols.read_json(_asset(workdir, tts_features.ASSET_META), "speaker list")
    self.step, params = checkpointing.load_params(workdir, step)
    self.params = nn.unbox(params)
    self.model = TTSModel(config, stats)
    self.vocoder = vocoders.load_vocoder(vocoder, data=config.data)

  @property
  def sample_rate(self) -> int:
    return int(self.vocoder.sample_rate)

  @property
  def languages(self) -> list[str]:
    return list(self.meta["langs"])

  def _language(self, lang: str | None) -> str:
    lang = lang or self.languages[0]
    if lang not in self.languages:
      raise ConfigError(f"language {lang!r}: this model speaks {', '.join(self.languages)}")
    return lang

  def _speaker(self, speaker, lang: str) -> tuple[int, str]:
    """(speaker id, name) from an id, a name or None (the language's first speaker)."""
    names = list(self.meta["speakers"])
    own = self.meta.get("speakers_by_lang", {}).get(lang) or names
    if speaker is None or speaker == "":
      speaker = own[0]
    if isinstance(speaker, str) and speaker.lstrip("-").isdigit():
      speaker = int(speaker)
    if isinstance(speaker, (int, np.integer)):
      if not 0 <= speaker < len(names):
        raise ConfigError(f"speaker {speaker}: this model has speakers 0..{len(names) - 1} "
                          f"({', '.join(names)})")
      return int(speaker), names[speaker]
    if speaker not in names:
      raise ConfigError(f"speaker {speaker!r} is unknown; speakers of {lang}: "
                        f"{', '.join(own)} (or an id 0..{len(names) - 1})")
    return names.index(speaker), speaker

  def symbols(self, text: str, lang: str | None = None, speaker=None) -> np.ndarray:
    """[U] int32 symbol ids of ``text`` (phonemes via espeak-ng, or characters)."""
    lang = self._language(lang)
    voice = self._speaker(speaker, lang)[1]
    ids = self.inventory.encode(tts_symbols.text_symbols(text, self.inventory.kind, lang, voice))
    unknown = float(np.mean(ids == tts_symbols.UNK_ID))
    if unknown > 0.2:
      log.warning("%.0f%% of the symbols of %r are not in the model's inventory", 100 * unknown,
                  text)
    return ids

  def log_mel(self, text: str, lang: str | None = None, emotion: str = "neutral", speaker=None,
              rate: float = 1.0, pitch_shift: float = 0.0, energy_scale: float = 1.0):
    """-> (log_mel [T, F] as audio.log_mel computes it, number of valid frames)."""
    from st_jax.models.tts import Controls  # pylint: disable=g-import-not-at-top
    if emotion not in EMOTIONS:
      raise ConfigError(f"emotion {emotion!r} is unknown; valid emotions: {', '.join(EMOTIONS)}")
    lang = self._language(lang)
    ids = self.symbols(text, lang, speaker)
    speaker_id = self._speaker(speaker, lang)[0]
    row = lambda value: np.asarray([value], np.int32)
    length = -(-len(ids) // 16) * 16            # symbol lengths padded to 16 (compiled shapes)
    symbols = np.zeros((1, length), np.int32)
    symbols[0, :len(ids)] = ids
    paddings = (np.arange(length)[None] >= len(ids)).astype(np.float32)
    mel, frame_paddings = self.model.synthesize(
        self.params, symbols, paddings, row(speaker_id), row(EMOTIONS.index(emotion)),
        row(LANGS.index(lang) if lang in LANGS else -1),
        Controls.make(1, rate, pitch_shift, energy_scale))
    frames = int((frame_paddings[0] < 0.5).sum())
    if frames == 0:
      raise ConfigError(f"the model predicted no frames for {text!r} (rate={rate}); "
                        f"is it trained?")
    return mel[0], frames

  def __call__(self, text: str, lang: str | None = None, emotion: str = "neutral",
               speaker=None, rate: float = 1.0, pitch_shift: float = 0.0,
               energy_scale: float = 1.0) -> np.ndarray:
    """-> float32 waveform at ``sample_rate`` (frames x hop samples)."""
    mel, frames = self.log_mel(text, lang, emotion, speaker, rate, pitch_shift, energy_scale)
    audio = self.vocoder(mel[None, :frames], np.zeros((1, frames), np.float32))
    return np.asarray(audio[0], np.float32)


def write_wav(path: str, samples: np.ndarray, sample_rate: int) -> None:
  """16-bit PCM mono wav (samples clipped to [-1, 1])."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  sf.write(path, np.clip(np.asarray(samples, np.float32), -1.0, 1.0), int(sample_rate),
           subtype="PCM_16")


def synthesize_to_file(workdir: str, text: str, out: str, *, lang: str | None = None,
                       emotion: str = "neutral", speaker=None, rate: float = 1.0,
                       pitch_shift: float = 0.0, energy_scale: float = 1.0,
                       vocoder: str = "griffin_lim", step: int | None = None) -> float:
  """`st-jax synthesize`: writes ``out``; returns its duration in seconds."""
  if not text or not text.strip():
    raise ConfigError("--text is empty: give the text to speak")
  synth = Synthesizer(workdir, step, vocoder)
  samples = synth(text, lang, emotion, speaker, rate, pitch_shift, energy_scale)
  write_wav(out, samples, synth.sample_rate)
  return len(samples) / synth.sample_rate
