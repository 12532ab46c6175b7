"""Input pipeline: padding efficiency of length bucketing and batch throughput.

Corpus: the built-in espeak corpus (`synthesize_corpus(size=300)`: 900 utterances, 240 English
training ones) when the [synth] extra works, else (and always with --quick) a tone corpus made
here with numpy (varied lengths 1-12 s; the idea of tests/conftest.py `write_tone_corpus`).

  padding   = padded / total frames over one training epoch (`Pipeline.padding_fraction`),
              with the s2t_transformer:small data settings (batch 8, 12 buckets, multiples of 8);
              the peer column is the same batches without bucketing (num_buckets=1)
  throughput= batches (and seconds of real audio) per second from `next(pipe.iterator())`:
              decode, log-mel, global normalisation, tokenize, pad (data.workers=0: in-process)
  need      = what the train step consumes: B * 10 s of audio per train_step's step time
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import numpy as np

from bench import common

NAME = "pipeline"
TITLE = "Bucketing pipeline: padding and throughput"
GOAL_PADDING = 0.10
WORDS = ("red blue green small big house car apple station market river garden window "
         "morning evening seven three friend teacher child city bread water light").split()


def tone_corpus(out_dir: str, num_utterances: int, seed: int = 0) -> None:
  """English train/dev utterances (sine tones + noise, 1-12 s) with German/French texts."""
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  from st_jax.data import storage  # pylint: disable=g-import-not-at-top
  from st_jax.data.manifest import Utterance  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  os.makedirs(os.path.join(out_dir, "audio"), exist_ok=True)
  splits = {"train": [], "dev": []}
  for i in range(num_utterances):
    split = "dev" if i % 10 == 9 else "train"
    seconds = float(rng.uniform(1.0, 12.0))
    t = np.arange(int(seconds * 16000)) / 16000
    samples = 0.3 * np.sin(2 * np.pi * (150 + 5 * (i % 80)) * t)
    samples += 0.01 * rng.standard_normal(t.size)
    path = os.path.join(out_dir, "audio", f"{split}-{i:05d}.wav")
    sf.write(path, samples.astype(np.float32), 16000, subtype="PCM_16")
    words = " ".join(rng.choice(WORDS, size=2 + int(seconds))).capitalize() + "."
    splits[split].append(Utterance(id=f"{split}-{i:05d}", audio=path, duration=seconds,
                                   lang="en", text=words, translation_de=f"De {words}",
                                   translation_fr=f"Fr {words}", speaker=f"voice{i % 3}",
                                   emotion="neutral"))
  storage.write_corpus(out_dir, splits, 16000, tokenizer_vocab=120, workers=1)


def build_corpus(out_dir: str, quick: bool) -> tuple[str, int]:
  """-> (description, tokenizer vocabulary) of the corpus written to `out_dir`."""
  if not quick and common.optional_module("espeakng_loader") is not None:
    from st_jax.data import corpus  # pylint: disable=g-import-not-at-top
    try:
      counts = corpus.synthesize_corpus(out_dir, size=300, seed=0, workers=2)
      return f"built-in espeak corpus, size=300 ({counts})", 1000
    except Exception as e:  # pylint: disable=broad-except  (espeak missing at run time)
      common.log(f"pipeline: espeak corpus failed ({e!r}); using the tone corpus")
      shutil.rmtree(out_dir, ignore_errors=True)
  count = 60 if quick else 330
  tone_corpus(out_dir, count)
  return f"numpy tone corpus, {count} English utterances of 1-12 s", 120


def _data_config(corpus_dir: str, vocab: int, **overrides):
  from st_jax import config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.load_config("s2t_transformer:small", [
      f"data.corpus_dir={corpus_dir}", f"data.vocab_size={vocab}", "data.batch_size=8"])
  config.data.update(overrides)
  return config.data


def _train_need(ctx: common.Context):
  """(audio seconds/s the s2t train step consumes, description) from this run's train_step."""
  result = ctx.results.get("train_step")
  if not result or result.get("quick") != ctx.quick:
    return None, "train_step not measured in this mode"
  for spec, m in result["measurements"].items():
    if spec.startswith("s2t_transformer") and "ours_s" in m:
      case = next(c for c in result["settings"]["cases"] if c.startswith(spec))
      fields = dict(part.split("=") for part in case.split()[1:])
      audio = int(fields["B"]) * int(fields["T"]) / 100.0
      return audio / m["ours_s"]["median"], f"{case}: {m['ours_s']['median']:.3f} s/step"
  return None, "no s2t train step in train_step.json"


def run(ctx: common.Context) -> dict:
  from st_jax.data import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  workdir = tempfile.mkdtemp(prefix="bench_corpus_")
  try:
    start = time.perf_counter()
    description, vocab = build_corpus(os.path.join(workdir, "corpus"), ctx.quick)
    corpus_s = time.perf_counter() - start
    corpus_dir = os.path.join(workdir, "corpus")
    common.log(f"pipeline: {description} built in {corpus_s:.0f} s")
    data = _data_config(corpus_dir, vocab, **({"num_buckets": 4} if ctx.quick else {}))
    start = time.perf_counter()
    pipe = pipeline_lib.make_pipeline(data, "train", train=True)
    build_s = time.perf_counter() - start
    flat = pipeline_lib.make_pipeline(_data_config(corpus_dir, vocab, num_buckets=1), "train",
                                      train=True)
    batches = min(ctx.repeats(40, 6), pipe.plan.batches_per_epoch)
    iterator = pipe.iterator()
    first_s = common.time_call(lambda: next(iterator))
    frames, start = 0.0, time.perf_counter()
    for _ in range(batches):
      batch = next(iterator)
      frames += float((1.0 - batch["feature_paddings"]).sum())
    elapsed = time.perf_counter() - start
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  batches_per_s = batches / elapsed
  audio_per_s = frames / 100.0 / elapsed
  need, need_text = _train_need(ctx)
  ratio = audio_per_s / need if need else None
  rows = [
      common.row(f"padded frames, batch 8, {len(pipe.plan.boundaries)} buckets", "%",
                 pipe.padding_fraction, flat.padding_fraction,
                 goal=f"< {GOAL_PADDING:.0%}", met=pipe.padding_fraction < GOAL_PADDING,
                 limit="few utterances per bucket in this small corpus"),
      common.row("throughput vs train-step need (audio-s/s)", "audio-s/s", audio_per_s, need,
                 ratio=ratio, goal="ratio >= 1 (keeps the step fed)",
                 met=None if ratio is None else ratio >= 1.0,
                 peer_note="" if need else need_text,
                 limit="one in-process loader thread (data.workers=0); raise data.workers")]
  details = [f"corpus: {description}; built in {corpus_s:.0f} s",
             f"peer column of the padding row: the same batches without bucketing "
             f"(num_buckets=1): {flat.padding_fraction:.1%} padded",
             f"bucket bounds (frames): {pipe.plan.boundaries.tolist()}; "
             f"{pipe.plan.batches_per_epoch} batches/epoch; {pipe.dropped} dropped",
             f"pipeline: {batches_per_s:.2f} batches/s, {audio_per_s:.0f} s of audio per second "
             f"over {batches} batches (make_pipeline {build_s:.1f} s incl. feature statistics, "
             f"first batch {first_s:.2f} s)",
             f"train-step need (peer column of the throughput row): " + (
                 f"{need:.1f} audio-s/s ({need_text})" if need else need_text)]
  settings = dict(corpus=description, config="s2t_transformer:small data section",
                  batch_size=8, num_buckets=int(data.num_buckets),
                  length_multiple=int(data.length_multiple), workers=int(data.workers),
                  timed_batches=batches)
  return dict(title=TITLE, settings=settings, peer="none (unbucketed batches; train-step need)",
              rows=rows, measurements=dict(padding_fraction=round(pipe.padding_fraction, 4),
                                           unbucketed_padding_fraction=round(
                                               flat.padding_fraction, 4),
                                           batches_per_s=round(batches_per_s, 3),
                                           audio_seconds_per_s=round(audio_per_s, 1),
                                           first_batch_s=round(first_s, 3),
                                           make_pipeline_s=round(build_s, 2),
                                           corpus_build_s=round(corpus_s, 1)),
              details=details)
