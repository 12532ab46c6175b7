"""Sections shared by every config family: ``config.data``, ``config.train``, ``config.mesh``.

Each family (st_conformer.py, asr_conformer.py, ...) calls these and overrides what differs.
"""

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
  data.label_fraction = 1.0         # train on a fixed random fraction of the train split
  data.workers = 0                  # grain worker processes (0: load in the main process)
  data.seed = 0                     # shuffling and augmentation
  # Augmentation (training only; deterministic given data.seed).
  data.spec_augment = False         # SpecAugment frequency + adaptive time masks
  data.speed_perturb = False        # speed factors 0.9 / 1.0 / 1.1
  data.noise = False                # additive white noise
  data.noise_snr_db = (10.0, 30.0)  # SNR range sampled uniformly
  data.update(overrides)
  return data


def train_config(**overrides) -> ml_collections.ConfigDict:
  """The ``config.train`` section (optimisation, logging, checkpoints, fine-tuning)."""
  train = ml_collections.ConfigDict()
  train.num_steps = 1000            # optimisation steps
  train.seed = 0                    # parameter init and dropout (fold_in(rng, step))
  # Optimizer and schedule (st_jax/optim.py).
  train.optimizer = "adamw"         # adamw | adam | sgd
  train.learning_rate = 1e-3        # peak learning rate
  train.schedule = "cosine"         # cosine | inverse_sqrt | constant
  train.warmup_steps = 100          # linear warm-up
  train.final_lr_fraction = 0.05    # cosine floor as a fraction of the peak
  train.adam_b1 = 0.9
  train.adam_b2 = 0.98
  train.adam_eps = 1e-9
  train.momentum = 0.9              # sgd only
  train.weight_decay = 1e-2         # decoupled for adamw, L2 for adam/sgd
  train.weight_decay_exclude = ("bias", "scale", "embedding", "pos_")  # path regexes
  train.grad_clip = 1.0             # global-norm clipping (0 = off)
  train.grad_accum_steps = 1        # micro-batches per update
  train.label_smoothing = 0.1       # cross-entropy label smoothing
  train.freeze = ""                 # regex over parameter paths to keep fixed ("" = none)
  train.max_bad_steps = 10          # stop after this many consecutive NaN/Inf steps
  # Logging, evaluation and checkpoints.
  train.log_every = 10              # steps between progress/TensorBoard scalars
  train.eval_every = 200            # steps between dev evaluations (0 = only at the end)
  train.eval_split = "dev"          # split of the periodic evaluation ("" = none)
  train.checkpoint_every = 200      # steps between checkpoints
  train.keep_checkpoints = 2        # most recent checkpoints kept (plus the best)
  train.best_metric = "dev_loss"    # metric that decides the best checkpoint ("" = none)
  train.best_mode = "min"           # min | max
  train.async_checkpointing = True
  train.early_stopping_patience = 0  # dev evaluations without improvement (0 = off)
  train.peak_flops = 0.0            # device peak FLOP/s for the MFU estimate (0 = unknown)
  # Fine-tuning: start from another workdir's checkpoint or converted weights.
  train.init_from = ""              # workdir with checkpoints, or a directory of params
  train.init_include = (".*",)      # regexes of parameter paths to take from init_from
  train.update(overrides)
  return train


def mesh_config(**overrides) -> ml_collections.ConfigDict:
  """The ``config.mesh`` section: device-mesh axis sizes (one may be -1: fill the rest)."""
  mesh = ml_collections.ConfigDict()
  mesh.data = -1                    # data parallelism
  mesh.fsdp = 1                     # fully sharded data parallelism (params + optimizer state)
  mesh.tensor = 1                   # tensor (model) parallelism
  mesh.dcn_data = 1                 # slices (multi-slice / multi-host over DCN) on the data axis
  mesh.update(overrides)
  return mesh
