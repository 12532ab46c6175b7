"""Input-pipeline fields shared by every config family: ``config.data = data_config(...)``."""

from __future__ import annotations

import ml_collections


def data_config(**overrides) -> ml_collections.ConfigDict:
  """The ``config.data`` section; keyword arguments override the defaults below."""
  data = ml_collections.ConfigDict()
  data.corpus_dir = "corpus"        # made by `st-jax data synth` / `st-jax data prepare`
  data.task = "st"                  # st | asr | mt | classify: which arrays a batch carries
  data.src_lang = "en"              # spoken (or source text) language
  data.tgt_lang = "de"              # translation target language (st, mt)
  data.tokenizer = "shared"         # shared | per_language SentencePiece vocabulary
  data.vocab_size = 1000            # must match the corpus tokenizer (checked at start-up)
  # Front end (log-mel, see st_jax/data/audio.py).
  data.sample_rate = 16000          # Hz; audio is resampled to it
  data.n_mels = 80                  # mel bins F
  data.win_ms = 25.0                # analysis window
  data.hop_ms = 10.0                # frame shift
  data.normalization = "global"     # global (train-split mean/std) | utterance | none
  # Batching (see st_jax/data/bucketing.py).
  data.batch_size = 16              # global rows per batch (when max_frames_per_batch == 0)
  data.max_frames_per_batch = 0     # > 0: batch by total padded frames instead of by count
  data.num_buckets = 12             # length buckets (one compiled shape each)
  data.length_multiple = 8          # bucket lengths are multiples of this
  data.max_frames = 3000            # longer utterances are dropped or clipped (30 s)
  data.overlong = "drop"            # drop | clip
  data.max_target_tokens = 128      # target/transcript lengths are clipped to this
  data.num_epochs = 1000            # length of the training iterator (the step budget rules)
  data.workers = 0                  # grain worker processes (0: load in the main process)
  data.seed = 0                     # shuffling and augmentation
  # Augmentation (training only; deterministic given data.seed).
  data.spec_augment = False         # SpecAugment frequency + adaptive time masks
  data.speed_perturb = False        # speed factors 0.9 / 1.0 / 1.1
  data.noise = False                # additive white noise
  data.noise_snr_db = (10.0, 30.0)  # SNR range sampled uniformly
  data.update(overrides)
  return data
