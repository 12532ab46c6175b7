"""FastSpeech 2-style acoustic model (Ren et al. 2021, with FastPitch's pitch embedding and
learned alignment): symbols -> normalised log-mel frames; `TTSModel` is its model API.

Shapes: B batch, U symbols, T frames, D model dim, F mel bins.

  e = sqrt(D) E_sym[x];  c = E_spk[speaker+1] + E_emo[emotion+1] + E_lang[lang+1] (0 = unknown)
  h = Encoder(e) + c                                          [B, U, D]  transformer/conformer
  d, p, g: durations (frames), pitch, energy per symbol      teacher forcing: the targets
      training: d from the corpus alignment (durations=corpus) or MAS over the learned
                aligner's log p(u | t) (durations=learned, st_jax/models/aligner.py);
                p = mean of frame pitch over voiced frames of each symbol, g = mean energy
      inference: log(1 + d^) , p^, g^ = VariancePredictors(h); d = round((exp(.) - 1) / rate)
  h' = h + Emb_p(p) + Emb_g(g);  y = LengthRegulate(h', d, T)  [B, T, D] (variance.py)
  mel = Linear(Decoder(y));  mel' = mel + Postnet(mel)          [B, T, F]

Loss per utterance b (frames t and symbols u unpadded; means over them), then averaged over
utterances:
  L_b = |mel - x|_1 + |mel' - x|_1 (or squared, model.tts.mel_loss)
        + w_d mean_u (log(1+d^) - log(1+d))^2 + w_p mean_u (p^ - p)^2 + w_g mean_u (g^ - g)^2
        + w_a forward_sum / U_b                                          (durations=learned)
Metric sums: loss_sum, weight (utterances), mel_sum, postnet_sum, duration_sum, pitch_sum,
energy_sum, align_sum.

Synthesis controls (`Controls`, one value per row): rate (durations / rate: 2 speaks twice as
fast), pitch_shift in semitones (log F0 + ln 2 / 12 * shift), energy_scale (energy * scale);
`TTSModel.stats` (data.tts_features.TTSStats from the workdir assets) maps them into the
model's normalised units and de-normalises the predicted mel.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from st_jax.data import audio as audio_lib
from st_jax.errors import ConfigError
from st_jax.models import aligner as aligner_lib
from st_jax.models import variance
from st_jax.models.layers import constrain, dense, embedding, mask_padded
from st_jax.models.model_api import Encoded, _Model
from st_jax.models.speech_translator import build_encoder, dtypes

BATCH_KEYS = ("symbols", "symbol_paddings", "speaker", "emotion", "lang", "features",
              "feature_paddings", "durations", "pitch", "voiced", "energy")
DURATION_SOURCES = ("corpus", "learned")
MEL_LOSSES = ("l1", "mse")
NUM_EMOTIONS, NUM_LANGS = 4, 3        # manifest.EMOTIONS, manifest.LANGS


class Controls(NamedTuple):
  """Per-row synthesis controls [B] (module doc)."""
  rate: jax.Array
  pitch_shift: jax.Array
  energy_scale: jax.Array

  @classmethod
  def make(cls, batch: int, rate=1.0, pitch_shift=0.0, energy_scale=1.0) -> "Controls":
    values = [np.broadcast_to(np.asarray(v, np.float32), (batch,))
              for v in (rate, pitch_shift, energy_scale)]
    if not (values[0] > 0).all() or not (values[2] >= 0).all():
      raise ConfigError(f"synthesis controls: rate must be > 0 and energy_scale >= 0, got "
                        f"rate={rate}, energy_scale={energy_scale}")
    return cls(*values)


class SymbolFrontend(nn.Module):
  """symbols [B, U] -> (embeddings [B, U, D], condition [B, 1, D]) (module doc)."""
  num_symbols: int
  num_speakers: int
  d_model: int
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, symbols, speaker, emotion, lang):
    proj = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = embedding(self.num_symbols, self.d_model, name="embed_symbols", **proj)(symbols)
    x = x * jnp.sqrt(jnp.asarray(self.d_model, x.dtype))    # unit variance, for the aligner too
    condition = 0.0
    for name, ids, rows in (("speaker", speaker, self.num_speakers),
                            ("emotion", emotion, NUM_EMOTIONS), ("lang", lang, NUM_LANGS)):
      table = embedding(rows + 1, self.d_model, name=f"embed_{name}", **proj)
      condition = condition + table(jnp.clip(ids + 1, 0, rows))
    return constrain(x, ("batch", "length", "embed")), condition[:, None, :]


class VarianceAdaptor(nn.Module):
  """Duration, pitch and energy predictors and the pitch/energy embeddings (variance.py)."""
  tts: ml_collections.FrozenConfigDict
  d_model: int
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  def setup(self):
    tts, proj = self.tts, dict(dtype=self.dtype, param_dtype=self.param_dtype)
    for name in ("duration", "pitch", "energy"):
      setattr(self, f"{name}_predictor", variance.VariancePredictor(
          tts.predictor_filters, tts.predictor_kernel, tts.predictor_dropout, **proj))
    self.pitch_embedding = variance.VarianceEmbedding(self.d_model, tts.variance_kernel, **proj)
    self.energy_embedding = variance.VarianceEmbedding(self.d_model, tts.variance_kernel, **proj)

  def predict(self, h, paddings, deterministic: bool = True):
    """-> (log(1 + durations), pitch, energy) predictions [B, U] float32."""
    return tuple(getattr(self, f"{n}_predictor")(h, paddings, deterministic)
                 for n in ("duration", "pitch", "energy"))

  def embed(self, h, paddings, pitch, energy):
    return h + self.pitch_embedding(pitch, paddings) + self.energy_embedding(energy, paddings)


def _frame_stack(model: ml_collections.FrozenConfigDict) -> ml_collections.FrozenConfigDict:
  """config.model with model.mel_decoder as its encoder (for build_encoder)."""
  view = ml_collections.ConfigDict(model)
  view.encoder = view.mel_decoder
  return ml_collections.FrozenConfigDict(view)


class FastSpeech2(nn.Module):
  """The acoustic model of the module doc; `model` is config.model (FrozenConfigDict)."""
  model: ml_collections.FrozenConfigDict
  n_mels: int = 80

  def setup(self):
    dtype, param_dtype = dtypes(self.model)
    tts, d = self.model.tts, self.model.d_model
    proj = dict(dtype=dtype, param_dtype=param_dtype)
    self.frontend = SymbolFrontend(tts.num_symbols, tts.num_speakers, d, **proj)
    self.encoder = build_encoder(self.model)
    self.variance_adaptor = VarianceAdaptor(tts, d, **proj)
    self.decoder = build_encoder(_frame_stack(self.model), name="decoder")
    self.mel_head = dense(self.n_mels, ("embed", "mel"), **proj)
    self.postnet = variance.Postnet(tts.postnet_channels, tts.postnet_layers, tts.postnet_kernel,
                                    tts.postnet_dropout, **proj)
    if tts.durations == "learned":
      self.aligner = aligner_lib.Aligner(tts.aligner_dim, tts.aligner_temperature,
                                         tts.aligner_prior, tts.aligner_key_kernel, **proj)

  def encode(self, symbols, symbol_paddings, speaker, emotion, lang, deterministic=True):
    """-> (symbol embeddings [B, U, D], h = Encoder(e) + c [B, U, D])."""
    embeddings, condition = self.frontend(symbols, speaker, emotion, lang)
    h, _ = self.encoder(embeddings, symbol_paddings, deterministic=deterministic)
    return embeddings, mask_padded(h + condition.astype(h.dtype), symbol_paddings)

  def predict_variances(self, h, symbol_paddings, deterministic=True):
    return self.variance_adaptor.predict(h, symbol_paddings, deterministic)

  def render(self, h, symbol_paddings, durations, pitch, energy, num_frames: int,
             deterministic=True):
    """-> (mel [B, T, F], mel after the postnet, frame paddings [B, T]); T = num_frames."""
    h = self.variance_adaptor.embed(h, symbol_paddings, pitch, energy)
    frames, frame_paddings = variance.length_regulate(h, durations, num_frames)
    x, _ = self.decoder(frames, frame_paddings, deterministic=deterministic)
    mel = mask_padded(self.mel_head(x).astype(jnp.float32), frame_paddings)
    return mel, self.postnet(mel, frame_paddings, deterministic), frame_paddings

  def __call__(self, symbols, symbol_paddings, speaker, emotion, lang, features,
               feature_paddings, durations, pitch, voiced, energy, deterministic=True):
    """Teacher-forced pass -> dict of predictions and the targets they are compared with."""
    embeddings, h = self.encode(symbols, symbol_paddings, speaker, emotion, lang, deterministic)
    out = {}
    if self.model.tts.durations == "learned":
      log_probs = self.aligner(embeddings, symbol_paddings, features, feature_paddings)
      durations, _ = aligner_lib.mas(jax.lax.stop_gradient(log_probs), symbol_paddings,
                                     feature_paddings)
      out["align"] = aligner_lib.forward_sum_loss(log_probs, symbol_paddings, feature_paddings,
                                                  self.model.tts.aligner_blank_logit)
    durations = (durations * (symbol_paddings < 0.5)).astype(jnp.int32)
    frames = features.shape[1]
    alignment = variance.alignment_matrix(durations, frames)
    valid = 1.0 - feature_paddings
    out["pitch_target"] = variance.symbol_means(pitch, voiced * valid, alignment)
    out["energy_target"] = variance.symbol_means(energy, valid, alignment)
    out["log_durations"], out["pitch"], out["energy"] = self.predict_variances(
        h, symbol_paddings, deterministic)
    out["mel"], out["postnet"], out["frame_paddings"] = self.render(
        h, symbol_paddings, durations, out["pitch_target"], out["energy_target"], frames,
        deterministic)
    out["durations"] = durations
    return out


class TTSModel(_Model):
  """Model API of speech synthesis (data.task 'tts'): init, loss_fn, predict_variances,
  synthesize. `stats` (TTSStats) is needed by the inference methods only."""

  def __init__(self, config: ml_collections.ConfigDict, stats=None):
    tts = config.model.tts
    if tts.durations not in DURATION_SOURCES:
      raise ConfigError(f"model.tts.durations={tts.durations!r} is not one of "
                        f"{DURATION_SOURCES}")
    if tts.mel_loss not in MEL_LOSSES:
      raise ConfigError(f"model.tts.mel_loss={tts.mel_loss!r} is not one of {MEL_LOSSES}")
    if tts.durations == "corpus" and config.data.tts_symbols != "phonemes":
      raise ConfigError(f"data.tts_symbols={config.data.tts_symbols!r} has no corpus timings; "
                        f"use --config.model.tts.durations=learned")
    super().__init__(config, FastSpeech2(ml_collections.FrozenConfigDict(config.model),
                                         config.data.n_mels))
    self.input_keys = ("symbols", "symbol_paddings")
    self.tts, self.stats = tts, stats
    self._variances = jax.jit(self._variances_fn)
    self._render = jax.jit(self._render_fn, static_argnames=("num_frames",))

  def _init_args(self, batch: dict) -> tuple:
    return tuple(batch[k] for k in BATCH_KEYS)

  def encode(self, params, batch: dict) -> Encoded:
    """Encoder states h [B, U, D] (with the speaker/emotion/language condition)."""
    _, h = self._apply(params, *(batch[k] for k in BATCH_KEYS[:5]), method="encode")
    return Encoded(h, batch["symbol_paddings"])

  def loss_fn(self, params, batch: dict, rng, train: bool = True):
    """-> (mean per-utterance loss, metric sums) (module doc)."""
    out = self._apply(params, *self._init_args(batch), deterministic=not train,
                      rng=rng if train else None)
    tts, target = self.tts, batch["features"]
    error = jnp.abs if tts.mel_loss == "l1" else jnp.square
    frames = 1.0 - jnp.maximum(batch["feature_paddings"], out["frame_paddings"])
    per_frame = max(target.shape[-1], 1) * jnp.maximum(frames.sum(1), 1.0)
    symbols = 1.0 - batch["symbol_paddings"]

    def symbol_mse(prediction, goal):
      return (jnp.square(prediction - goal) * symbols).sum(1) / jnp.maximum(symbols.sum(1), 1.0)
    parts = {
        "mel": (error(out["mel"] - target) * frames[..., None]).sum((1, 2)) / per_frame,
        "postnet": (error(out["postnet"] - target) * frames[..., None]).sum((1, 2)) / per_frame,
        "duration": symbol_mse(out["log_durations"],
                               jnp.log1p(out["durations"].astype(jnp.float32))),
        "pitch": symbol_mse(out["pitch"], out["pitch_target"]),
        "energy": symbol_mse(out["energy"], out["energy_target"]),
        "align": out.get("align", jnp.zeros_like(symbols[:, 0])),
    }
    total = (parts["mel"] + parts["postnet"] + tts.duration_weight * parts["duration"]
             + tts.pitch_weight * parts["pitch"] + tts.energy_weight * parts["energy"]
             + tts.align_weight * parts["align"])
    rows = batch["example_mask"]
    metrics = {f"{k}_sum": (v * rows).sum() for k, v in parts.items()}
    metrics.update(loss_sum=(total * rows).sum(), weight=rows.sum())
    return metrics["loss_sum"] / jnp.maximum(metrics["weight"], 1.0), metrics

  # ---- Inference ----------------------------------------------------------------------------

  def _stats(self):
    if self.stats is None:
      raise ConfigError("TTSModel.stats is not set: synthesis needs the workdir's "
                        "assets/tts_stats.json (use st_jax.synthesis.Synthesizer)")
    return self.stats

  def _variances_fn(self, params, symbols, symbol_paddings, speaker, emotion, lang, controls):
    def run(module):
      _, h = module.encode(symbols, symbol_paddings, speaker, emotion, lang)
      return module.predict_variances(h, symbol_paddings)
    log_durations, pitch, energy = self._apply(params, method=run)
    stats, valid = self._stats(), 1.0 - symbol_paddings
    frames = jnp.maximum(jnp.exp(log_durations) - 1.0, 0.0) / controls.rate[:, None]
    durations = (jnp.round(frames) * valid).astype(jnp.int32)
    pitch = pitch + math.log(2.0) / 12.0 * controls.pitch_shift[:, None] / stats.pitch_std
    scale = controls.energy_scale[:, None]
    energy = (scale * (stats.energy_mean + stats.energy_std * energy) - stats.energy_mean) \
        / stats.energy_std
    return durations, pitch * valid, energy * valid

  def predict_variances(self, params, symbols, symbol_paddings, speaker, emotion, lang,
                        controls: Controls | None = None):
    """-> (durations [B, U] int32 frames, pitch, energy [B, U] normalised) with controls."""
    controls = controls or Controls.make(symbols.shape[0])
    self._stats()
    return self._variances(params, symbols, symbol_paddings, speaker, emotion, lang, controls)

  def _render_fn(self, params, symbols, symbol_paddings, speaker, emotion, lang, durations,
                 pitch, energy, num_frames):
    def run(module):
      _, h = module.encode(symbols, symbol_paddings, speaker, emotion, lang)
      return module.render(h, symbol_paddings, durations, pitch, energy, num_frames)
    _, mel, paddings = self._apply(params, method=run)
    return mel, paddings

  def synthesize(self, params, symbols, symbol_paddings, speaker, emotion, lang,
                 controls: Controls | None = None, num_frames: int | None = None):
    """-> (log_mel [B, T, F] de-normalised (ln of mel power, as audio.log_mel), frame
    paddings [B, T]) as numpy. T = the longest predicted total rounded up to
    model.tts.frame_multiple, unless given (two jitted calls: variances, then frames)."""
    durations, pitch, energy = self.predict_variances(params, symbols, symbol_paddings,
                                                      speaker, emotion, lang, controls)
    total = int(np.asarray(durations).sum(1).max(initial=0))
    limit = int(self.tts.max_synthesis_frames)
    if total > limit:
      raise ConfigError(f"the input needs {total} frames, more than "
                        f"model.tts.max_synthesis_frames={limit}; split the text")
    if num_frames is None:
      multiple = int(self.tts.frame_multiple)
      num_frames = max(multiple, -(-total // multiple) * multiple)
    mel, paddings = self._render(params, symbols, symbol_paddings, speaker, emotion, lang,
                                 durations, pitch, energy, num_frames=int(num_frames))
    stats = self._stats().mel
    log_mel = np.asarray(mel) * stats.std.astype(np.float32) + stats.mean.astype(np.float32)
    paddings = np.asarray(paddings)
    log_mel[paddings > 0.5] = np.log(audio_lib.LOG_FLOOR)
    return log_mel.astype(np.float32), paddings


def example_batch(config, batch_size: int = 2, num_frames: int = 64,
                  target_length: int = 8) -> dict:
  """A TTS batch with every key loss_fn reads (durations spread over the frames)."""
  b, u, t = batch_size, target_length, num_frames
  durations = np.full((b, u), t // u, np.int32)
  durations[:, -1] += t - durations.sum(1)
  zeros = lambda *shape: np.zeros(shape, np.float32)
  return {"symbols": np.full((b, u), 2, np.int32), "symbol_paddings": zeros(b, u),
          "durations": durations, "features": zeros(b, t, config.data.n_mels),
          "feature_paddings": zeros(b, t), "pitch": zeros(b, t), "voiced": zeros(b, t),
          "energy": zeros(b, t), "speaker": np.zeros(b, np.int32),
          "emotion": np.zeros(b, np.int32), "lang": np.zeros(b, np.int32),
          "example_mask": np.ones(b, np.float32)}
