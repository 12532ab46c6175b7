"""Shared set-up of test_export.py and test_server.py: one micro ST workdir per test session
(also across pytest-xdist workers), buckets that give the in-process output length, and a
Python bootstrap in which `import st_jax` fails."""

import contextlib
import fcntl
import math
import os
import pathlib
import shutil
import sys

from train_helpers import micro_config

QUIET = ["train.eval_split=", "train.log_every=2", "train.async_checkpointing=False",
         "train.num_steps=4", "train.checkpoint_every=4"]

# Runs before anything else in a subprocess: any import of st_jax (or a submodule) raises.
NO_ST_JAX = """
import importlib.abc, sys
class _NoStJax(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name == "st_jax" or name.startswith("st_jax."):
      raise ImportError(f"{name}: st_jax must not be imported by the serving runtime")
    return None
sys.meta_path.insert(0, _NoStJax())
"""
SERVER_WITHOUT_ST_JAX = (sys.executable, "-c", NO_ST_JAX + (
    "from serving import cli\n"
    "code = cli.main(['serve', *sys.argv[1:]])\n"
    "assert not any(m == 'st_jax' or m.startswith('st_jax.') for m in sys.modules)\n"
    "sys.exit(code)\n"))


def session_root(tmp_path_factory) -> pathlib.Path:
  """A temp directory of this test session shared by all pytest-xdist workers."""
  root = tmp_path_factory.getbasetemp()
  return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


@contextlib.contextmanager
def session_lock(tmp_path_factory, name: str):
  """Exclusive across the session's xdist workers (an flock on a file in `session_root`)."""
  with open(session_root(tmp_path_factory) / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    yield


def shared_st_workdir(tmp_path_factory, corpus: str) -> str:
  """A micro ST model trained 4 steps on ``corpus``, trained once per session (shared by the
  xdist workers)."""
  workdir = session_root(tmp_path_factory) / "serving_st_workdir"
  with session_lock(tmp_path_factory, "serving_st_workdir"):
    if not (workdir / "TRAINED").exists():
      from st_jax import train as train_lib
      shutil.rmtree(workdir, ignore_errors=True)
      train_lib.train_and_evaluate(micro_config(corpus, *QUIET), str(workdir))
      (workdir / "TRAINED").write_text("done\n")
  return str(workdir)


def matching_bucket_seconds(num_samples: int, sample_rate: int = 16000, hop: int = 160) -> float:
  """A bucket holding ``num_samples`` whose output length L equals the one `inference` uses
  for that utterance alone: L = 8 ceil(ceil(T / 2) / 8) with T = 1 + n // hop; the bucket
  has T_b = 2 L frames (the longest T with that L)."""
  frames = 1 + num_samples // hop
  length = 8 * math.ceil(max(math.ceil(frames / 2), 8) / 8)
  return (2 * length * hop - 1) / sample_rate


def subprocess_env(tmp_path_factory) -> dict:
  """The test environment plus an XLA compilation cache shared by the session's subprocesses
  (a server started second, or in another xdist worker, loads its executables from it)."""
  return dict(os.environ, JAX_PLATFORMS="cpu",
              JAX_COMPILATION_CACHE_DIR=str(session_root(tmp_path_factory) / "serving_xla_cache"),
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.5",
              JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
