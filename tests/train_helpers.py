"""Shared set-up for the training tests: a micro ST config on the tone corpus."""

import subprocess
import sys

import jax
import numpy as np

from st_jax import config_lib, sharding
from st_jax.data import pipeline as pipeline_lib
from st_jax.models import build_model
from st_jax.train_setup import StepCompiler, create_train_state, global_batch

MICRO = ["model.d_model=32", "model.num_heads=4", "model.encoder.num_layers=1",
         "model.encoder.ffn_dim=64", "model.decoder.num_layers=1", "model.decoder.ffn_dim=64",
         "model.frontend.channels=8", "data.vocab_size=128", "data.batch_size=8",
         "data.num_buckets=1", "train.warmup_steps=2", "train.learning_rate=1e-3"]


def micro_config(corpus_dir, *extra):
  """Micro model; plain SGD so equal gradients give equal params (Adam turns the ~0 gradients
  of e.g. key biases into sign noise)."""
  return config_lib.load_config("st_conformer:tiny", MICRO + [f"data.corpus_dir={corpus_dir}",
                                                              "train.optimizer=sgd",
                                                              *extra])


def one_step(config, mesh_sizes, steps=1):
  """Trains ``steps`` steps on a mesh of (data, fsdp, tensor) -> (metrics, params, compiler)."""
  config.mesh.data, config.mesh.fsdp, config.mesh.tensor = mesh_sizes
  devices = jax.devices()[:int(np.prod(mesh_sizes))]
  mesh = sharding.make_mesh(config.mesh, devices)
  model = build_model(config)
  pipe = pipeline_lib.make_pipeline(config.data, "train", train=True,
                                    batch_multiple=sharding.data_parallel_size(mesh))
  rng = jax.random.PRNGKey(0)
  tx, state, shardings = create_train_state(model, config, mesh, pipe.example_batch(), rng)
  compiler = StepCompiler(model, tx, mesh, shardings)
  iterator = pipe.iterator()
  for _ in range(steps):
    state, metrics = compiler(state, global_batch(next(iterator), mesh), rng)
  return jax.device_get(metrics), jax.device_get(state.params), compiler, state


def train_in_subprocess(spec: str, overrides, workdir) -> None:
  """`st-jax train --config spec --config.k=v ...` in a fresh process (the user's command): a
  long test worker's accumulated XLA state stays out of the run. Raises with the log tail."""
  done = subprocess.run([sys.executable, "-m", "st_jax.cli", "train", "--config", spec,
                         "--workdir", str(workdir), *(f"--config.{o}" for o in overrides)],
                        capture_output=True, text=True, timeout=900, check=False)
  assert done.returncode == 0, f"training {spec} failed:\n{(done.stdout + done.stderr)[-3000:]}"
