"""`st-jax eval` of a TTS workdir: mel cepstral distortion, ASR and emotion round trips, plots.

    st-jax eval --workdir runs/tts_de --split test [--vocoder griffin_lim|W] [--asr ASR_W]
        [--emotion EMO_W] [--limit N]

Utterances: the split's rows in the model's languages (corpus order, ``limit`` first). Each
test sentence is synthesised with its own speaker (or, for a voice the model never heard in
training, the language's first training speaker) and emotion, and compared with the held-out
recording of it. Writes ``W/eval_<split>.json``::

  {"split", "step", "config_name", "config_hash", "task": "tts", "num_utterances", "vocoder",
   "metrics": {mcd_db, mcd_reference_durations_db, mcd_mean_spectrum_db, [cer, wer,
               cer_real, wer_real, cer_vocoded_real, wer_vocoded_real],
               [emotion_accuracy, emotion_accuracy_real]},
   "mcd": {how it is computed, per-measure mean/median, frames},
   "intelligibility": {asr workdir + step, synthesised / real / vocoded_real {wer, cer},
                       normalization},
   "emotion_round_trip": {classifier workdir + step, labels, synthesised {accuracy,
                          per_emotion, confusion}, real {accuracy, confusion}},
   "plots": [paths], "timing": {...}}

and ``W/eval_<split>_hypotheses.tsv`` (id, reference text, ASR of the synthesised speech, ASR
of the real speech, MCD per utterance, emotion recognised in the synthesised speech).

- MCD (st_jax/mcd.py): the acoustic model's log-mel (before the vocoder) against the
  reference's, aligned by DTW; and again with the reference's durations (the corpus timings,
  or the learned aligner's monotonic alignment of the reference mel), so both are on one time
  axis and no DTW is needed; pitch and energy are predicted in both. For scale, the MCD of a
  "model" that outputs the train-split mean log-mel frame everywhere (``mcd_mean_spectrum_db``).
- Intelligibility: an ASR workdir of the same language transcribes the synthesised speech
  (through the vocoder), the real test audio (the ceiling) and the real audio's log-mel put
  through the same vocoder (``vocoded_real``: what the vocoder alone costs); WER/CER with
  st_jax/metrics.py's normalisation.
- Emotion round trip: each test sentence synthesised with every emotion of
  ``manifest.EMOTIONS`` and labelled by the classifier; confusion[requested][recognised];
  the same classifier's accuracy on the real test audio for comparison.
- Plots (st_jax/tts_plots.py): ``W/plots/mel_<id>.png`` (reference vs synthesised) for the
  first ``num_plots`` utterances; ``W/plots/pitch_by_emotion.png`` (predicted F0 of the first
  sentence with each emotion).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from st_jax import config_lib, inference, mcd, metrics, tts_plots
from st_jax.data import features as features_lib
from st_jax.data import storage, tts_features
from st_jax.data.manifest import EMOTIONS, LANGS
from st_jax.errors import ConfigError
from st_jax.synthesis import Synthesizer


def _text(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@dataclasses.dataclass
class Row:
  """One test utterance: its stored example and the speaker the model speaks it with."""
  id: str
  text: str
  lang: str
  emotion: str
  speaker: str
  example: dict

  @property
  def samples(self) -> np.ndarray:
    return self.example["audio"].astype(np.float32) / 32768.0


def test_rows(synth: Synthesizer, split: str, limit: int | None) -> list[Row]:
  """The split's utterances in the model's languages (first ``limit``)."""
  data = synth.config.data
  index = storage.read_index(data.corpus_dir, split)
  chosen = np.flatnonzero(np.isin(index["lang"], synth.languages))
  chosen = chosen[:limit] if limit else chosen
  if not len(chosen):
    raise ConfigError(f"split {split!r} of {data.corpus_dir} has no utterances in "
                      f"{', '.join(synth.languages)} (the TTS model's languages)")
  source = storage.open_split(data.corpus_dir, split)
  trained_voices = synth.meta.get("speakers_by_lang", {})
  rows = []
  for i in chosen:
    example = source[int(i)]
    lang, speaker = _text(example["lang"]), _text(example["speaker"])
    if speaker not in trained_voices.get(lang, [speaker]):
      speaker = trained_voices[lang][0]      # a held-out voice: its embedding never trained
    emotion = _text(example["emotion"])
    rows.append(Row(_text(example["id"]), _text(example["text"]), lang,
                    emotion if emotion in EMOTIONS else "neutral", speaker, example))
  return rows


class ReferenceDurations:
  """Synthesis on the reference's time axis: durations from the corpus timings or the
  aligner's MAS over the reference mel; pitch and energy predicted. -> log-mel [T, F]."""

  def __init__(self, synth: Synthesizer):
    from st_jax.models import aligner as aligner_lib  # pylint: disable=g-import-not-at-top
    self.synth = synth
    self.encoder = tts_features.TTSExampleEncoder(synth.config.data, train=False)
    learned = synth.config.model.tts.durations == "learned"

    def run(module, batch):
      paddings = batch["symbol_paddings"]
      embeddings, h = module.encode(batch["symbols"], paddings, batch["speaker"],
                                    batch["emotion"], batch["lang"])
      durations = batch["durations"]
      if learned:
        log_probs = module.aligner(embeddings, paddings, batch["features"],
                                   batch["feature_paddings"])
        durations, _ = aligner_lib.mas(log_probs, paddings, batch["feature_paddings"])
      durations = (durations * (paddings < 0.5)).astype(jnp.int32)
      _, pitch, energy = module.predict_variances(h, paddings)
      _, mel, _ = module.render(h, paddings, durations, pitch, energy,
                                batch["features"].shape[1])
      return mel
    model = synth.model
    self._render = jax.jit(lambda params, batch: model._apply(params, batch, method=run))  # pylint: disable=protected-access

  def __call__(self, row: Row) -> np.ndarray:
    encoded = dict(self.encoder.encode(row.example, None))
    encoded["speaker"] = self.synth.meta["speakers"].index(row.speaker)
    frames = len(encoded["features"])
    shape = {"frames": -(-frames // 64) * 64, "transcripts": -(-len(encoded["symbols"]) // 16) * 16}
    batch = tts_features.collate([encoded], shape)
    mel = np.asarray(self._render(self.synth.params, batch))[0, :frames]
    stats = self.synth.model.stats.mel
    return mel * stats.std.astype(np.float32) + stats.mean.astype(np.float32)


def _summary(values) -> dict:
  values = np.asarray(values, np.float64)
  return {"mean": float(values.mean()), "median": float(np.median(values)),
          "min": float(values.min()), "max": float(values.max())}


def _check_language(what: str, workdir: str, data, synth: Synthesizer) -> None:
  """The listening model must hear the TTS model's language at its sample rate."""
  langs = synth.languages
  if data.src_lang not in langs:
    raise ConfigError(f"--{what} {workdir}: that model hears {data.src_lang!r} speech but the "
                      f"TTS model speaks {', '.join(langs)}; give a {what} model trained with "
                      f"data.src_lang={langs[0]}")
  if data.sample_rate != synth.sample_rate:
    raise ConfigError(f"--{what} {workdir}: that model hears {data.sample_rate} Hz audio but "
                      f"the vocoder writes {synth.sample_rate} Hz")


def _asr(workdir: str, synth: Synthesizer, beam_size: int, batch_size: int):
  data = config_lib.load_workdir_config(workdir).data
  if data.get("task") != "asr":
    raise ConfigError(f"--asr {workdir} holds a {data.get('task')!r} model; give an ASR "
                      f"workdir (configs/asr_conformer.py)")
  _check_language("asr", workdir, data, synth)
  trained = inference.load_trained(workdir)
  return trained, inference.Transcriber(trained, beam_size, batch_size=batch_size)


def _recognizer(workdir: str, synth: Synthesizer):
  from st_jax.emotion import EmotionRecognizer  # pylint: disable=g-import-not-at-top
  _check_language("emotion", workdir, config_lib.load_workdir_config(workdir).data, synth)
  trained = inference.load_trained(workdir)
  return trained, EmotionRecognizer(trained)


def _confusion(requested, recognised) -> list[list[int]]:
  matrix = np.zeros((len(EMOTIONS), len(EMOTIONS)), np.int64)
  for r, p in zip(requested, recognised):
    matrix[EMOTIONS.index(r), EMOTIONS.index(p)] += 1
  return matrix.tolist()


def _emotion_scores(requested, recognised) -> dict:
  requested, recognised = np.asarray(requested), np.asarray(recognised)
  per = {e: float((recognised[requested == e] == e).mean()) for e in EMOTIONS
         if (requested == e).any()}
  return {"accuracy": float((requested == recognised).mean()), "per_emotion": per,
          "confusion": _confusion(requested, recognised), "utterances": int(len(requested))}


def evaluate_tts(workdir: str, split: str = "test", vocoder: str = "griffin_lim",
                 asr: str | None = None, emotion: str | None = None, limit: int | None = None,
                 step: int | None = None, beam_size: int = 4, batch_size: int = 8,
                 num_plots: int = 3) -> dict:
  """Scores ``split`` with the TTS ``workdir`` (module doc); writes and returns the JSON."""
  tick = time.perf_counter()
  synth = Synthesizer(workdir, step, vocoder)
  langs = synth.languages
  recogniser = asr and _asr(asr, synth, beam_size, batch_size)
  classifier = emotion and _recognizer(emotion, synth)
  rows = test_rows(synth, split, limit)
  reference_durations = ReferenceDurations(synth)
  data = synth.config.data
  scores: dict[str, list] = {"dtw": [], "reference_durations": [], "mean_spectrum": []}
  mean_frame = synth.model.stats.mel.mean.astype(np.float32)[None]
  audio: dict[str, list] = {"synthesised": [], "vocoded_real": []}
  frames = {"reference": 0, "synthesised": 0}
  plots = []
  synth_seconds = 0.0
  for n, row in enumerate(rows):
    reference = features_lib.log_mel(row.samples, data)
    start = time.perf_counter()
    mel, count = synth.log_mel(row.text, row.lang, row.emotion, row.speaker)
    mel = mel[:count]
    synth_seconds += time.perf_counter() - start
    scores["dtw"].append(mcd.mcd(reference, mel)["mcd_db"])
    scores["reference_durations"].append(
        mcd.mcd(reference, reference_durations(row), align="none")["mcd_db"])
    scores["mean_spectrum"].append(mcd.mcd(reference, np.repeat(mean_frame, len(reference), 0),
                                           align="none")["mcd_db"])
    frames["reference"] += len(reference)
    frames["synthesised"] += count
    if recogniser or classifier:
      audio["synthesised"].append(synth.vocoder(mel[None])[0])
    if recogniser:
      audio["vocoded_real"].append(synth.vocoder(reference[None])[0])
    if n < num_plots:
      plots.append(tts_plots.plot_mels(os.path.join(workdir, "plots", f"mel_{row.id}.png"),
                                       reference, mel, f"{row.id}: {row.text}"))
  plots.append(pitch_plot(synth, rows[0], os.path.join(workdir, "plots",
                                                       "pitch_by_emotion.png")))
  result = {"split": split, "step": synth.step, "config_name": synth.config.get("name", ""),
            "config_hash": config_lib.model_hash(synth.config), "task": "tts",
            "num_utterances": len(rows), "vocoder": synth.vocoder.name, "languages": langs,
            "metrics": {"mcd_db": float(np.mean(scores["dtw"])),
                        "mcd_reference_durations_db":
                            float(np.mean(scores["reference_durations"])),
                        "mcd_mean_spectrum_db": float(np.mean(scores["mean_spectrum"]))},
            "mcd": {"definition": mcd.__doc__.split("\n\n")[1].strip(),
                    "num_cepstra": mcd.NUM_CEPSTRA,
                    "dtw": _summary(scores["dtw"]),
                    "reference_durations": _summary(scores["reference_durations"]),
                    "mean_spectrum": _summary(scores["mean_spectrum"]),
                    "mean_spectrum_is": "the baseline of every frame being the train-split "
                                        "mean log-mel (no model)",
                    "frames": frames}}
  columns = {"mcd_db": [f"{v:.3f}" for v in scores["dtw"]]}
  if recogniser:
    result["intelligibility"] = _intelligibility(recogniser, rows, audio, result["metrics"],
                                                 columns)
  if classifier:
    result["emotion_round_trip"] = _emotion_round_trip(classifier, synth, rows,
                                                       audio["synthesised"],
                                                       result["metrics"], columns)
  result["plots"] = [os.path.relpath(p, workdir) for p in plots]
  seconds = frames["synthesised"] * data.hop_ms / 1000.0
  result["timing"] = {"seconds": time.perf_counter() - tick,
                      "acoustic_model_seconds": synth_seconds,
                      "synthesised_audio_seconds": seconds,
                      "acoustic_real_time_factor": synth_seconds / max(seconds, 1e-9),
                      "includes_compilation": True}
  _write(workdir, split, result, rows, columns)
  return result


def _intelligibility(recogniser, rows, audio, summary, columns) -> dict:
  trained, transcribe = recogniser
  references = [r.text for r in rows]
  hyps = {"synthesised": transcribe(audio["synthesised"]),
          "real": transcribe([r.samples for r in rows]),
          "vocoded_real": transcribe(audio["vocoded_real"])}
  found = {k: metrics.recognition_metrics(v, references) for k, v in hyps.items()}
  for key, suffix in (("synthesised", ""), ("real", "_real"), ("vocoded_real", "_vocoded_real")):
    summary[f"cer{suffix}"], summary[f"wer{suffix}"] = found[key]["cer"], found[key]["wer"]
  columns["asr_synthesised"], columns["asr_real"] = hyps["synthesised"], hyps["real"]
  return {"asr_workdir": trained.config.get("name", ""), "asr_step": trained.step,
          **{k: {"wer": v["wer"], "cer": v["cer"]} for k, v in found.items()},
          "normalization": metrics.__doc__.split("\n\n")[1].replace("\n", " ")}


def _emotion_round_trip(classifier, synth, rows, own_audio, summary, columns) -> dict:
  trained, recognise = classifier
  requested, recognised = [], []
  for emotion in EMOTIONS:
    clips = [own if row.emotion == emotion else synth(row.text, row.lang, emotion, row.speaker)
             for row, own in zip(rows, own_audio)]
    labels = [e.label for e in recognise(clips)]
    requested += [emotion] * len(rows)
    recognised += labels
  real = [e.label for e in recognise([r.samples for r in rows])]
  synthesised = _emotion_scores(requested, recognised)
  summary["emotion_accuracy"] = synthesised["accuracy"]
  summary["emotion_accuracy_real"] = float(np.mean([r.emotion == p for r, p in zip(rows, real)]))
  columns["emotion_synthesised"] = [";".join(recognised[k * len(rows) + n]
                                             for k in range(len(EMOTIONS)))
                                    for n in range(len(rows))]
  return {"classifier_workdir": trained.config.get("name", ""), "classifier_step": trained.step,
          "labels": list(EMOTIONS), "confusion_rows": "requested emotion",
          "confusion_columns": "recognised emotion", "synthesised": synthesised,
          "real": _emotion_scores([r.emotion for r in rows], real)}


def pitch_plot(synth: Synthesizer, row: Row, path: str) -> str:
  """Predicted F0 (Hz) of ``row``'s sentence with each emotion -> ``path`` (PNG)."""
  ids = synth.symbols(row.text, row.lang, row.speaker)
  length = -(-len(ids) // 16) * 16
  symbols = np.zeros((1, length), np.int32)
  symbols[0, :len(ids)] = ids
  paddings = (np.arange(length)[None] >= len(ids)).astype(np.float32)
  stats, hop = synth.model.stats, synth.config.data.hop_ms / 1000.0
  speaker = np.asarray([synth.meta["speakers"].index(row.speaker)], np.int32)
  lang = np.asarray([LANGS.index(row.lang) if row.lang in LANGS else -1], np.int32)
  contours = {}
  for emotion in EMOTIONS:
    durations, pitch, _ = synth.model.predict_variances(
        synth.params, symbols, paddings, speaker,
        np.asarray([EMOTIONS.index(emotion)], np.int32), lang)
    durations, pitch = np.asarray(durations)[0, :len(ids)], np.asarray(pitch)[0, :len(ids)]
    hz = np.exp(stats.pitch_mean + stats.pitch_std * np.repeat(pitch, durations))
    contours[emotion] = (np.arange(len(hz)) * hop, hz)
  return tts_plots.plot_pitch(path, contours, f"predicted F0: {row.text}")


def _clean(text) -> str:
  return " ".join(str(text).split())


def _write(workdir, split, result, rows, columns) -> None:
  with open(os.path.join(workdir, f"eval_{split}.json"), "w", encoding="utf-8") as f:
    json.dump(result, f, indent=1, ensure_ascii=False)
  names = ["asr_synthesised", "asr_real", "mcd_db", "emotion_synthesised"]
  names = [k for k in names if k in columns]
  with open(os.path.join(workdir, f"eval_{split}_hypotheses.tsv"), "w", encoding="utf-8") as f:
    f.write("\t".join(["id", "reference", *names]) + "\n")
    for n, row in enumerate(rows):
      f.write("\t".join([row.id, _clean(row.text), *(_clean(columns[k][n]) for k in names)])
              + "\n")
