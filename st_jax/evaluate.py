"""`st-jax eval`: decode a corpus split with a trained workdir and score it.

Writes ``W/eval_<split>.json``::

  {"split", "step", "config_name", "config_hash", "task", "num_utterances",
   "metrics": {loss, perplexity, token_accuracy, and bleu/chrf (st, mt) | wer/cer (asr) |
               accuracy/macro_f1 (classify)},
   "signatures": sacrebleu signatures, "normalization": the WER/CER text normalisation,
   "decoding": {beam_size, length_penalty, ctc_weight, max_length rule},
   "timing": {decode_seconds, utterances_per_second, audio_seconds, real_time_factor}}

and ``W/eval_<split>_hypotheses.tsv`` (id, reference, hypothesis; one row per utterance in
corpus order). Utterances are those of ``config.data.src_lang`` in the split, as in training;
they are decoded in batches sorted by length (frames padded to a multiple of 64, so a few
shapes compile), features computed with the workdir's feature statistics.
"""

from __future__ import annotations

import json
import os
import time

import jax
import numpy as np

from st_jax import config_lib, decode, inference, metrics
from st_jax import steps as steps_lib
from st_jax.data import features as features_lib
from st_jax.data import storage
from st_jax.data.manifest import EMOTIONS, LANGS
from st_jax.errors import ConfigError

FRAME_MULTIPLE = 64


def _text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class _Examples:
  """The split's utterances in src_lang as encoded examples (+ id, reference, seconds)."""

  def __init__(self, trained: inference.Trained, split: str, limit: int | None):
    data = trained.config.data
    index = storage.read_index(data.corpus_dir, split)
    chosen = np.flatnonzero(index["lang"] == data.src_lang)
    if limit:
      chosen = chosen[:limit]
    if not len(chosen):
      raise ConfigError(f"split {split!r} of {data.corpus_dir} has no {data.src_lang} utterances")
    source = storage.open_split(data.corpus_dir, split)
    speakers = {s: i for i, s in enumerate(storage.read_metadata(data.corpus_dir)["speakers"])}
    self.rows = []
    for i in chosen:
      example = source[int(i)]
      text = _text(example["text"])
      lang = _text(example["lang"])
      target = text if data.task == "asr" else features_lib.target_text(example, data.tgt_lang)
      encoded = {"transcripts": trained.source_tokenizer.encode(text),
                 "targets": trained.target_tokenizer.encode(target),
                 "emotion": EMOTIONS.index(_text(example["emotion"]))
                            if _text(example["emotion"]) in EMOTIONS else -1,
                 "lang": LANGS.index(lang) if lang in LANGS else -1,
                 "speaker": speakers.get(_text(example["speaker"]), -1)}
      seconds = len(example["audio"]) / data.sample_rate
      if data.task != "mt":
        encoded["features"] = inference.features_of(
            example["audio"].astype(np.float32) / 32768.0, data, trained.stats)
      self.rows.append((_text(example["id"]), target, seconds, encoded))

  def batches(self, batch_size: int, task: str):
    """(row indices, collated batch) in length order; short batches get filler rows."""
    key = "transcripts" if task == "mt" else "features"
    order = np.argsort([len(r[3][key]) for r in self.rows], kind="stable")
    for start in range(0, len(order), batch_size):
      chosen = order[start:start + batch_size]
      encoded = [self.rows[i][3] for i in chosen] + [None] * (batch_size - len(chosen))
      longest = lambda k: max(len(self.rows[i][3][k]) for i in chosen)
      shape = {"frames": _round_up(longest(key), FRAME_MULTIPLE),
               "targets": _round_up(longest("targets") + 1, 8),
               "transcripts": _round_up(longest("transcripts"), 8 if task != "mt" else 16)}
      yield chosen, features_lib.collate(encoded, shape, task)


def _round_up(n: int, multiple: int) -> int:
  return max(multiple, -(-n // multiple) * multiple)


def evaluate(workdir: str, split: str = "test", beam_size: int = 4, length_penalty: float = 1.0,
             ctc_weight: float = 0.0, batch_size: int = 8, limit: int | None = None,
             step: int | None = None, vocoder: str | None = None, asr: str | None = None,
             emotion: str | None = None) -> dict:
  """Scores ``split`` with ``workdir``'s checkpoint; writes and returns the eval JSON.

  A TTS workdir is scored by st_jax/tts_eval.py (MCD; with ``asr`` / ``emotion`` workdirs the
  ASR and emotion round trips through ``vocoder``, default griffin_lim)."""
  if config_lib.load_workdir_config(workdir).data.get("task") == "tts":
    from st_jax import tts_eval  # pylint: disable=g-import-not-at-top
    return tts_eval.evaluate_tts(workdir, split, vocoder or "griffin_lim", asr, emotion, limit,
                                 step, beam_size, batch_size)
  if vocoder or asr or emotion:
    raise ConfigError(f"{workdir} is not a TTS workdir: --vocoder, --asr and --emotion apply "
                      f"to the evaluation of speech synthesis only")
  trained = inference.load_trained(workdir, step)
  task = trained.task
  examples = _Examples(trained, split, limit)
  loss_fn = jax.jit(lambda p, b: steps_lib.eval_step(trained.model, p, b))
  decoder = None if task == "classify" else inference.make_decoder(
      trained, beam_size, length_penalty, ctc_weight)
  predict = jax.jit(trained.model.predict) if task == "classify" else None
  hypotheses: list = [None] * len(examples.rows)
  totals: dict[str, float] = {}
  decode_seconds = 0.0
  for chosen, batch in examples.batches(batch_size, task):
    for k, v in jax.device_get(loss_fn(trained.params, batch)).items():
      totals[k] = totals.get(k, 0.0) + float(np.sum(v))
    tick = time.perf_counter()
    if task == "classify":
      outputs = np.asarray(predict(trained.params, batch)).argmax(-1).tolist()
    else:
      outputs = decode.decode_texts(decoder, trained.params, batch,
                                    trained.target_tokenizer.decode)
    decode_seconds += time.perf_counter() - tick
    for i, out in zip(chosen, outputs):
      hypotheses[i] = out
  result = _report(trained, examples, hypotheses, totals, split)
  result["decoding"] = {"beam_size": beam_size, "length_penalty": length_penalty,
                        "ctc_weight": ctc_weight, "batch_size": batch_size,
                        "max_length": f"clip(ceil({inference.length_ratio(task)} * input "
                                      f"length), 8, 256) rounded up to 8"} \
      if decoder else {"batch_size": batch_size}
  audio_seconds = sum(r[2] for r in examples.rows)
  result["timing"] = {"decode_seconds": decode_seconds,
                      "utterances_per_second": len(examples.rows) / max(decode_seconds, 1e-9),
                      "audio_seconds": audio_seconds,
                      "real_time_factor": decode_seconds / max(audio_seconds, 1e-9),
                      "includes_compilation": True}
  _write(workdir, split, result, examples, hypotheses, trained)
  return result


def _report(trained, examples, hypotheses, totals, split) -> dict:
  config, task = trained.config, trained.task
  weight = max(totals.get("weight", 0.0), 1e-9)
  scores = {"loss": totals.get("nll_sum", 0.0) / weight,
            "perplexity": float(np.exp(min(totals.get("nll_sum", 0.0) / weight, 50.0)))}
  if "correct" in totals and task != "classify":
    scores["token_accuracy"] = totals["correct"] / weight
  references = [r[1] for r in examples.rows]
  extra = {}
  if task in ("st", "mt"):
    found = metrics.translation_metrics(hypotheses, references)
    extra["signatures"] = {"bleu": found.pop("bleu_signature"),
                           "chrf": found.pop("chrf_signature")}
    scores.update(found)
  elif task == "asr":
    scores.update(metrics.recognition_metrics(hypotheses, references))
    extra["normalization"] = metrics.__doc__.split("\n\n")[1].replace("\n", " ")
  else:
    label = config.model.classifier.label
    names = {"emotion": EMOTIONS, "lang": LANGS}.get(
        label, storage.read_metadata(config.data.corpus_dir)["speakers"])
    labels = [r[3][label] for r in examples.rows]
    scores.update(metrics.classification_metrics(hypotheses, labels, names))
  return {"split": split, "step": trained.step, "config_name": config.get("name", ""),
          "config_hash": config_lib.model_hash(config), "task": task,
          "num_utterances": len(examples.rows), "metrics": scores, **extra}


def _clean(text) -> str:
  return " ".join(str(text).split())


def _write(workdir, split, result, examples, hypotheses, trained) -> None:
  with open(os.path.join(workdir, f"eval_{split}.json"), "w", encoding="utf-8") as f:
    json.dump(result, f, indent=1, ensure_ascii=False)
  names = None
  if trained.task == "classify":
    label = trained.config.model.classifier.label
    names = {"emotion": EMOTIONS, "lang": LANGS}.get(label)
  with open(os.path.join(workdir, f"eval_{split}_hypotheses.tsv"), "w", encoding="utf-8") as f:
    f.write("id\treference\thypothesis\n")
    for (uid, reference, _, encoded), hyp in zip(examples.rows, hypotheses):
      if names is not None:
        label = encoded[trained.config.model.classifier.label]
        reference, hyp = names[label] if label >= 0 else "", names[hyp]
      f.write(f"{uid}\t{_clean(reference)}\t{_clean(hyp)}\n")
