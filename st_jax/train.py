"""train_and_evaluate(config, workdir): one linear main, top to bottom.

    mesh -> model -> input pipeline -> sharded state (or restore) -> compiled step -> loop

The loop logs to a progress bar and TensorBoard (``W/tb``), evaluates on the dev split every
``train.eval_every`` steps, checkpoints every ``train.checkpoint_every`` steps (state + iterator,
see checkpointing.py), saves and exits cleanly on SIGTERM (preemption), skips non-finite steps
and stops after ``train.max_bad_steps`` consecutive ones.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time

import jax
from tqdm import tqdm

from st_jax import checkpointing
from st_jax import sharding
from st_jax import config_lib
from st_jax import inference
from st_jax import optim
from st_jax.data import pipeline as pipeline_lib
from st_jax.errors import UserError
from st_jax.models import build_model
from st_jax.train_setup import (StepCompiler, create_train_state, evaluate_loss, global_batch,
                                open_summary_writer)

log = logging.getLogger(__name__)


class _Preempted:
  """Flag set by SIGTERM; the loop checkpoints and returns."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def restore(self):
    signal.signal(signal.SIGTERM, self._previous)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains ``config`` in ``workdir`` (resuming from its last checkpoint); returns last metrics."""
  os.makedirs(workdir, exist_ok=True)
  train = config.train

  # ---- Mesh, model, data ------------------------------------------------------------------
  mesh = sharding.make_mesh(config.mesh)
  model = build_model(config)
  dp = sharding.data_parallel_size(mesh)
  check_vocabulary(config)
  pipe = pipeline_lib.make_pipeline(config.data, "train", train=True, batch_multiple=dp,
                                    process_index=jax.process_index(),
                                    process_count=jax.process_count())
  iterator = pipe.iterator()
  log.info("train pipeline: %d batches/epoch, %d buckets, %.1f%% padding",
           pipe.plan.batches_per_epoch, len(pipe.shapes), 100 * pipe.padding_fraction)

  # ---- State: fresh, restored, or initialised from a pretrained model ----------------------
  rng = jax.random.PRNGKey(train.seed)
  tx, state, shardings = create_train_state(model, config, mesh, pipe.example_batch(), rng)
  manager = checkpointing.make_manager(workdir, train)
  model_hash = config_lib.model_hash(config)
  if manager.latest_step() is not None:
    checkpointing.check_compatible(manager, manager.latest_step(), model_hash, workdir)
    state, iterator = checkpointing.restore(
        manager, manager.latest_step(), checkpointing.abstract_like(state, shardings), iterator)
    log.info("resumed from step %d", int(state.step))
  elif train.init_from:
    params, taken = checkpointing.init_params_from(train.init_from, state.params,
                                                   train.init_include)
    state = state.replace(params=params)
    print(f"initialised {len(taken)} parameter arrays from {train.init_from}")

  if jax.process_index() == 0:   # only now: a refused run must not overwrite the workdir's
    config_lib.save_config(config, workdir)
    inference.save_assets(config, workdir)   # tokenizers + feature stats: W is self-contained

  # ---- Compiled step (ahead of time, before step 0) ------------------------------------------
  step_fn = StepCompiler(model, tx, mesh, shardings)
  step_fn.compile(state, global_batch(pipe.example_batch(), mesh), rng)
  print(step_fn.describe())
  writer = open_summary_writer(workdir)
  meta = {"model_hash": model_hash, "config_name": config.get("name", "")}

  # ---- Loop -------------------------------------------------------------------------------
  lr_schedule = optim.schedule(train)
  preempted = _Preempted()
  start_step = int(state.step)
  metrics, last_eval, best, since_best = {}, {}, None, 0
  bar = tqdm(total=train.num_steps, initial=start_step, desc="train", unit="step",
             disable=jax.process_index() != 0)
  tick, audio_seconds = time.time(), 0.0
  try:
    for step in range(start_step, train.num_steps):
      local = next(iterator)
      audio_seconds += float((1 - local["feature_paddings"]).sum()) * config.data.hop_ms / 1000 \
          if "feature_paddings" in local else 0.0
      state, metrics = step_fn(state, global_batch(local, mesh), rng)
      done = step + 1
      if done % train.log_every == 0 or done == train.num_steps:
        metrics = jax.device_get(metrics)
        if int(state.bad_streak) >= train.max_bad_steps:
          raise UserError(f"training stopped at step {done}: {train.max_bad_steps} consecutive "
                          f"steps had a NaN/Inf loss or gradient (last finite checkpoint: "
                          f"{manager.latest_step()}); lower train.learning_rate or check the data")
        elapsed = max(time.time() - tick, 1e-9)
        scalars = {"loss": float(metrics["loss"]), "grad_norm": float(metrics["grad_norm"]),
                   "lr": float(lr_schedule(done)), "steps_per_s": train.log_every / elapsed,
                   "audio_s_per_s": audio_seconds / elapsed,
                   "skipped_steps": int(state.skipped_steps)}
        if step_fn.flops and train.peak_flops:
          scalars["mfu"] = step_fn.flops * scalars["steps_per_s"] / train.peak_flops
        for k, v in scalars.items():
          writer.add_scalar(f"train/{k}", v, done)
        bar.set_postfix(loss=f"{scalars['loss']:.3f}", lr=f"{scalars['lr']:.1e}",
                        sps=f"{scalars['steps_per_s']:.2f}",
                        audio=f"{scalars['audio_s_per_s']:.0f}s/s")
        tick, audio_seconds = time.time(), 0.0
      bar.update(1)
      evaluate_now = bool(train.eval_split) and (
          (train.eval_every and done % train.eval_every == 0) or done == train.num_steps)
      if evaluate_now:
        last_eval = evaluate_loss(model, config, mesh, state.params, pipe)
        for k, v in last_eval.items():
          writer.add_scalar(f"dev/{k}", v, done)
        current = last_eval.get(train.best_metric.removeprefix("dev_"))
        improved = best is None or (current < best if train.best_mode == "min" else current > best)
        best, since_best = (current, 0) if improved else (best, since_best + 1)
      if done % train.checkpoint_every == 0 or done == train.num_steps or preempted.requested or (
          evaluate_now and train.early_stopping_patience and
          since_best >= train.early_stopping_patience):
        checkpointing.save(manager, done, state, iterator, meta,
                           metrics={f"dev_{k}": v for k, v in last_eval.items()}
                           if evaluate_now else None, force=True)
      if preempted.requested:
        log.warning("SIGTERM: saved checkpoint at step %d, exiting", done)
        break
      if evaluate_now and train.early_stopping_patience and \
          since_best >= train.early_stopping_patience:
        log.warning("early stopping at step %d: no improvement in %s for %d evaluations", done,
                    train.best_metric, since_best)
        break
  finally:
    manager.wait_until_finished()
    preempted.restore()
    bar.close()
    writer.close()
  summary = {"step": int(state.step), **{f"dev_{k}": v for k, v in last_eval.items()}}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "train_summary.json"), "w") as f:
      json.dump(summary, f, indent=1)
  return summary


def check_vocabulary(config):
  """ConfigError when the corpus tokenizer has more ids than the model's vocabulary."""
  from st_jax.data import tokenizer as tokenizer_lib  # pylint: disable=g-import-not-at-top
  data = config.data
  for lang in {data.src_lang, data.tgt_lang}:
    size = tokenizer_lib.load_tokenizer(data.corpus_dir, data.tokenizer, lang).vocab_size
    if size > data.vocab_size:
      raise UserError(f"the {lang} tokenizer of {data.corpus_dir} has {size} ids but "
                      f"data.vocab_size={data.vocab_size}; pass --config.data.vocab_size={size}")
