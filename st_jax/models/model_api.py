"""The model API shared by training, evaluation and serving, built by `build_model(config)`.

Shapes: B batch, T frames, U source/transcript tokens, S target length, T' encoder frames,
D model dim, V vocab, C classes, L cache length.

Batch keys (padded arrays from st_jax/data, paddings 1.0 = pad; token ids pad=0 bos=1 eos=2
unk=3; CTC blank = 0):
  speech input  features f32 [B, T, F], feature_paddings f32 [B, T]
  text input    source_tokens i32 [B, U], source_paddings f32 [B, U]      (data.task 'mt')
  decoder       decoder_inputs i32 [B, S] (BOS + y), targets i32 [B, S] (y + EOS),
                target_paddings f32 [B, S]
  CTC           transcripts i32 [B, U], transcript_paddings f32 [B, U]   (model.ctc_weight > 0)
  classifier    emotion | lang | speaker i32 [B] (model.classifier.label; -1 = unknown, ignored)

Seq2SeqModel loss (mean per target token):
  L = (1 - w) * sum_s CE_ls(y_s) / #tokens + w * sum_b CTC_b / #transcript tokens,  w = ctc_weight
Metrics are sums so they can be added across batches/devices: loss_sum (label-smoothed CE),
nll_sum (plain CE, for perplexity), correct (argmax hits), weight (token count) and, with CTC,
ctc_loss_sum and ctc_weight (transcript token count).
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from st_jax.errors import ConfigError
from st_jax.models import heads
from st_jax.models.speech_translator import SpeechClassifier, SpeechTranslator

CLASSIFIER_LABELS = ("emotion", "lang", "speaker")


class Encoded(NamedTuple):
  """Encoder output: memory [B, T', D] and its paddings [B, T']."""
  memory: jax.Array
  paddings: jax.Array


def _ratio(total, count):
  return total / jnp.maximum(count, 1.0)


class _Model:
  """Parts shared by the task families: input keys, init, logical axes, encode."""

  def __init__(self, config: ml_collections.ConfigDict, module: nn.Module):
    self.config = config
    self.module = module
    self.text_input = config.data.task == "mt"
    self.input_keys = ("source_tokens", "source_paddings") if self.text_input else (
        "features", "feature_paddings")
    self.label_smoothing = float(config.train.get("label_smoothing", 0.0))

  def _inputs(self, batch: dict):
    return tuple(batch[key] for key in self.input_keys)

  def _init_args(self, batch: dict) -> tuple:
    return self._inputs(batch)

  def init(self, rng: jax.Array, batch: dict):
    """Parameters, each boxed in `nn.Partitioned` with its logical axis names
    (`nn.unbox(params)` gives plain arrays; every method here accepts either)."""
    return self.module.init({"params": rng}, *self._init_args(batch))["params"]

  def logical_axes(self, batch: dict):
    """PartitionSpec tree of logical axis names for the parameters (no memory used)."""
    abstract = jax.eval_shape(self.init, jax.random.key(0), batch)
    return nn.get_partition_spec(abstract)

  def _apply(self, params, *args, method=None, rng=None, **kwargs):
    rngs = {"dropout": rng} if rng is not None else {}
    return self.module.apply({"params": params}, *args, method=method, rngs=rngs, **kwargs)

  def encode(self, params, batch: dict) -> Encoded:
    """Inputs -> Encoded(memory [B, T', D], paddings [B, T']) without dropout."""
    return Encoded(*self._apply(params, *self._inputs(batch), method="encode"))


class Seq2SeqModel(_Model):
  """Speech/text -> tokens: ST, ASR (+CTC), MT, S2T and Whisper shapes."""

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config, SpeechTranslator(ml_collections.FrozenConfigDict(config.model),
                                              config.data.vocab_size))
    self.ctc_weight = float(config.model.ctc_weight)
    if not 0.0 <= self.ctc_weight <= 1.0:
      raise ConfigError(f"model.ctc_weight={self.ctc_weight} must be in [0, 1]")

  def _init_args(self, batch):
    return self._inputs(batch) + (batch["decoder_inputs"],)

  def loss_fn(self, params, batch: dict, rng: jax.Array | None, train: bool = True):
    """-> (joint loss, metric sums); dropout (train=True) draws from `rng`."""
    logits, ctc_logits, memory_paddings = self._apply(
        params, *self._init_args(batch), deterministic=not train, rng=rng if train else None)
    metrics = heads.cross_entropy_sums(logits, batch["targets"], batch["target_paddings"],
                                       self.label_smoothing)
    loss = _ratio(metrics["loss_sum"], metrics["weight"])
    if ctc_logits is not None:
      ctc_sum, ctc_count = heads.ctc_loss_sums(ctc_logits, memory_paddings, batch["transcripts"],
                                               batch["transcript_paddings"])
      loss = (1.0 - self.ctc_weight) * loss + self.ctc_weight * _ratio(ctc_sum, ctc_count)
      metrics.update(ctc_loss_sum=ctc_sum, ctc_weight=ctc_count)
    return loss, metrics

  def score(self, params, batch: dict) -> jax.Array:
    """Per-utterance log-likelihood sum_s log p(targets_s | ...) over unpadded targets: [B]."""
    logits, _, _ = self._apply(params, *self._init_args(batch))
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    token_scores = jnp.take_along_axis(log_probs, batch["targets"][..., None], axis=-1)[..., 0]
    return (token_scores * (1.0 - batch["target_paddings"])).sum(axis=-1)

  def ctc_log_probs(self, params, encoded: Encoded) -> jax.Array:
    """CTC log-probabilities [B, T', V] of an encoder output (for CTC decoding/rescoring)."""
    logits = self._apply(params, encoded.memory, method="ctc_logits")
    return jax.nn.log_softmax(logits, axis=-1)

  def init_cache(self, params, encoded: Encoded, max_length: int) -> dict:
    """Decode cache for `encoded` (layout in transformer.py; every leaf has a leading B)."""
    return self._apply(params, encoded.memory, encoded.paddings, max_length, method="init_cache")

  def decode_step(self, params, cache: dict, tokens: jax.Array, position):
    """tokens [B] at `position` (scalar or [B]) -> (logits [B, V] float32, new cache)."""
    return self._apply(params, tokens, cache, position, method="decode_step")


class ClassifierModel(_Model):
  """Utterance classification (emotion, language ID, speaker) from speech."""

  def __init__(self, config: ml_collections.ConfigDict):
    super().__init__(config, SpeechClassifier(ml_collections.FrozenConfigDict(config.model)))
    self.label_key = config.model.classifier.label
    if self.label_key not in CLASSIFIER_LABELS:
      raise ConfigError(f"model.classifier.label={self.label_key!r} is not one of "
                        f"{CLASSIFIER_LABELS}")

  def predict(self, params, batch: dict) -> jax.Array:
    """Class log-probabilities [B, C]."""
    return jax.nn.log_softmax(self._apply(params, *self._inputs(batch)), axis=-1)

  def loss_fn(self, params, batch: dict, rng: jax.Array | None, train: bool = True):
    """-> (mean label-smoothed CE per labelled utterance, metric sums)."""
    logits = self._apply(params, *self._inputs(batch), deterministic=not train,
                         rng=rng if train else None)
    labels = batch[self.label_key]
    metrics = heads.cross_entropy_sums(logits, jnp.maximum(labels, 0),
                                       (labels < 0).astype(jnp.float32), self.label_smoothing)
    return _ratio(metrics["loss_sum"], metrics["weight"]), metrics

  def score(self, params, batch: dict) -> jax.Array:
    """log p(label | utterance) [B] (0 for unknown labels)."""
    labels = batch[self.label_key]
    scores = jnp.take_along_axis(self.predict(params, batch), jnp.maximum(labels, 0)[:, None],
                                 axis=-1)[:, 0]
    return jnp.where(labels >= 0, scores, 0.0)


def build_model(config: ml_collections.ConfigDict) -> Seq2SeqModel | ClassifierModel:
  """The model API object for `config` (data.task 'classify' -> ClassifierModel, 'pretrain' ->
  bestrq.PretrainModel, 'vocoder' -> hifigan.VocoderModel, 'tts' -> tts.TTSModel, else
  seq2seq)."""
  if config.data.task not in ("st", "asr", "mt", "classify", "pretrain", "vocoder", "tts"):
    raise ConfigError(f"data.task={config.data.task!r} is not one of 'st', 'asr', 'mt', "
                      f"'classify', 'pretrain', 'vocoder', 'tts'")
  if config.data.task == "tts":
    from st_jax.models.tts import TTSModel  # pylint: disable=g-import-not-at-top
    return TTSModel(config)
  if config.data.task == "vocoder":
    from st_jax.models.hifigan import VocoderModel  # pylint: disable=g-import-not-at-top
    return VocoderModel(config)
  if config.data.task == "pretrain":
    from st_jax.models.bestrq import PretrainModel  # pylint: disable=g-import-not-at-top
    model = PretrainModel(config)
  elif config.data.task == "classify":
    model = ClassifierModel(config)
  else:
    model = Seq2SeqModel(config)
  if config.model.get("lora_rank", 0):
    from st_jax.models.lora import LoRAModel  # pylint: disable=g-import-not-at-top
    return LoRAModel(model, config.model.lora_rank, config.model.lora_alpha,
                     config.model.lora_targets)
  return model


def example_batch(config: ml_collections.ConfigDict, batch_size: int = 2, num_frames: int = 64,
                  target_length: int = 8) -> dict:
  """A zero batch with every key the model of `config` reads (for init / eval_shape / tests)."""
  if config.data.task == "tts":
    from st_jax.models import tts  # pylint: disable=g-import-not-at-top
    return tts.example_batch(config, batch_size, num_frames, target_length)
  b, u, s = batch_size, target_length, target_length
  batch = {"decoder_inputs": np.ones((b, s), np.int32), "targets": np.full((b, s), 2, np.int32),
           "target_paddings": np.zeros((b, s), np.float32),
           "transcripts": np.full((b, u), 4, np.int32),
           "transcript_paddings": np.zeros((b, u), np.float32),
           "emotion": np.zeros((b,), np.int32), "lang": np.zeros((b,), np.int32),
           "speaker": np.zeros((b,), np.int32)}
  if config.data.task == "mt":
    batch.update(source_tokens=np.full((b, u), 4, np.int32),
                 source_paddings=np.zeros((b, u), np.float32))
  else:
    batch.update(features=np.zeros((b, num_frames, config.data.n_mels), np.float32),
                 feature_paddings=np.zeros((b, num_frames), np.float32))
  return batch
