"""Text to speech: a FastSpeech 2-style acoustic model (symbols -> log-mel frames).

  st-jax train --config configs/tts.py:tiny --workdir runs/tts_tiny \\
      --config.data.corpus_dir=corpus [--config.data.src_lang=de]
  st-jax synthesize --workdir runs/tts_tiny --text "Guten Morgen." --out x.wav

Symbol embeddings + speaker/emotion/language embeddings, a transformer encoder over symbols,
a variance adaptor (duration, pitch, energy predictors; pitch and energy embedded back), a
length regulator, a transformer mel decoder over frames, a linear layer to 80 mels and a
5-layer residual conv postnet (st_jax/models/tts.py). Durations come from the corpus'
phoneme timings (``model.tts.durations=corpus``) or from a learned alignment
(``learned``: aligner + forward-sum loss + monotonic alignment search, st_jax/models/aligner.py)
for corpora without timings, e.g. characters of LJ Speech:

  st-jax train --config tts:tiny --workdir runs/tts_lj --config.data.corpus_dir=lj \\
      --config.data.src_lang=en --config.data.tts_symbols=characters \\
      --config.model.tts.durations=learned

Several languages with one model: ``--config.data.tts_langs="('en', 'de')"``.

Variants: tiny < 2M parameters (CPU tests and demos), small ~ 12M.
"""

from __future__ import annotations

import ml_collections

from configs import common

VARIANTS = {
    # d_model, heads, encoder / mel-decoder layers, FFN, predictor filters, postnet channels,
    # aligner dim
    "tiny": dict(d=128, heads=2, enc=2, dec=2, ffn=256, filters=128, postnet=128, aligner=64),
    "small": dict(d=256, heads=2, enc=4, dec=4, ffn=1024, filters=256, postnet=512,
                  aligner=80),
}


def symbol_frontend() -> ml_collections.ConfigDict:
  frontend = ml_collections.ConfigDict()
  frontend.type = "symbols"           # symbol embedding (+ speaker, emotion, language)
  return frontend


def tts_section(size: dict, **overrides) -> ml_collections.ConfigDict:
  tts = ml_collections.ConfigDict()
  tts.num_symbols = 256               # symbol embedding rows (>= the corpus inventory + 2)
  tts.num_speakers = 64               # speaker embedding rows (>= the corpus' speakers)
  tts.durations = "corpus"            # corpus (alignment timings) | learned (aligner + MAS)
  tts.predictor_filters = size["filters"]  # conv channels of the variance predictors
  tts.predictor_kernel = 3            # their conv kernel
  tts.predictor_dropout = 0.5         # their dropout
  tts.variance_kernel = 3             # conv kernel embedding pitch / energy back into D
  tts.postnet_channels = size["postnet"]   # conv channels of the postnet
  tts.postnet_layers = 5              # conv layers of the postnet
  tts.postnet_kernel = 5              # their kernel
  tts.postnet_dropout = 0.5           # their dropout
  tts.aligner_dim = size["aligner"]   # C of the learned aligner's keys and queries
  tts.aligner_temperature = 0.0005    # s = -temperature ||q - k||^2
  tts.aligner_prior = 1.0             # beta-binomial prior scale w (0 = no prior)
  tts.aligner_key_kernel = 1          # conv kernel over symbols of the keys (FastPitch: 3)
  tts.aligner_blank_logit = -1e4      # forward-sum blank logit (FastPitch -1; -1e4 = no blank)
  tts.mel_loss = "l1"                 # l1 | mse, on mel before and after the postnet
  tts.duration_weight = 1.0           # MSE on log(1 + frames) per symbol
  tts.pitch_weight = 0.1              # MSE on normalised log F0 per symbol
  tts.energy_weight = 0.1             # MSE on normalised energy per symbol
  tts.align_weight = 1.0              # forward-sum alignment loss (durations=learned)
  tts.frame_multiple = 64             # synthesis pads frames to a multiple (compiled shapes)
  tts.max_synthesis_frames = 3000     # longest synthesised utterance (30 s at 10 ms)
  tts.update(overrides)
  return tts


def get_config(variant: str = "tiny"):
  size = common.select_variant("tts", VARIANTS, variant)
  dropout = 0.1 if variant == "tiny" else 0.2
  model = common.model_config(
      size["d"], size["heads"], symbol_frontend(),
      common.transformer_stack(size["enc"], size["ffn"], decoder=False, max_length=1024),
      dropout=dropout)
  # the mel decoder: the same transformer stack over frames after the length regulator
  model.mel_decoder = common.transformer_stack(size["dec"], size["ffn"], decoder=False,
                                               max_length=3000)
  model.tts = tts_section(size)
  # German by default: the speech-to-speech direction en speech -> de text -> de speech
  data = dict(task="tts", src_lang="de", max_frames=1000, num_buckets=6,
              max_target_tokens=512, batch_size=16)
  config = common.assemble(f"tts:{variant}", model, data=data,
                           train=dict(learning_rate=1e-3, label_smoothing=0.0,
                                      warmup_steps=100 if variant == "tiny" else 4000,
                                      schedule="cosine" if variant == "tiny" else
                                      "inverse_sqrt", eval_every=500, checkpoint_every=500))
  config.data.tts_symbols = "phonemes"   # phonemes (alignment column, espeak) | characters
  config.data.tts_langs = ()             # languages spoken by the model (() = src_lang)
  return config
