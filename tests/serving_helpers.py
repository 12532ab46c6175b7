"""Shared set-up of test_export.py and test_server.py: one micro ST workdir per test session
(also across pytest-xdist workers), buckets that give the in-process output length, and a
Python bootstrap in which `import st_jax` fails."""

import contextlib
import fcntl
import math
import os
import pathlib
import shutil
import subprocess
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


ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_python(script: str, tmp_path_factory, timeout: float = 600) -> subprocess.CompletedProcess:
  """``python -c script`` in the repository root with `subprocess_env` (output captured)."""
  return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                        text=True, timeout=timeout, check=False,
                        env=subprocess_env(tmp_path_factory))


def run_without_st_jax(script: str, tmp_path_factory) -> str:
  """Runs ``script`` where importing st_jax fails; it must exit 0 -> its last stdout line."""
  done = run_python(NO_ST_JAX + script, tmp_path_factory)
  assert done.returncode == 0, done.stderr[-3000:]
  return done.stdout.strip().splitlines()[-1]


def start_server(model_dir: str, tmp_path_factory, *args: str):
  """`st-jax serve` of ``model_dir`` where st_jax cannot be imported, ready (its log in the
  error when it is not)."""
  from serving.loadtest import ServerProcess
  log = tmp_path_factory.mktemp("server_log") / "server.log"
  with session_lock(tmp_path_factory, "server_warm_up"):   # the second warm-up hits the cache
    server = ServerProcess(model_dir, *args, command=SERVER_WITHOUT_ST_JAX,
                           env=subprocess_env(tmp_path_factory), log_path=str(log))
    try:
      server.wait_ready(timeout=600)
    except RuntimeError as e:
      server.stop()
      raise RuntimeError(f"{e}; server log:\n{log.read_text()[-3000:]}") from None
  return server


def subprocess_env(tmp_path_factory) -> dict:
  """The test environment plus an XLA compilation cache shared by the session's subprocesses
  (a server started second, or in another xdist worker, loads its executables from it)."""
  return dict(os.environ, JAX_PLATFORMS="cpu",
              JAX_COMPILATION_CACHE_DIR=str(session_root(tmp_path_factory) / "serving_xla_cache"),
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.5",
              JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")


TTS_STEPS = 60


def shared_tts_workdir(tmp_path_factory) -> str:
  """A micro character TTS (German, learned durations, 2 speakers x 4 emotions) trained
  TTS_STEPS steps on the synthetic TTS corpus, once per session."""
  workdir = session_root(tmp_path_factory) / "serving_tts_workdir"
  with session_lock(tmp_path_factory, "serving_tts_workdir"):
    if not (workdir / "TRAINED").exists():
      from st_jax import train as train_lib
      from tts_helpers import micro_tts_config, write_tts_corpus
      shutil.rmtree(workdir, ignore_errors=True)
      write_tts_corpus(workdir / "corpus", num_sentences=6, random_words=True)
      config = micro_tts_config(workdir / "corpus", "data.tts_symbols=characters",
                                "model.tts.durations=learned", f"train.num_steps={TTS_STEPS}",
                                "train.eval_split=", "train.checkpoint_every=1000")
      train_lib.train_and_evaluate(config, str(workdir / "work"))
      (workdir / "TRAINED").write_text("done\n")
  return str(workdir / "work")


def shared_vocoder_workdir(tmp_path_factory) -> str:
  """A HiFi-GAN (vocoder:tiny) workdir with random weights, saved as training saves a
  checkpoint, its output layer scaled so the waveform peaks near 0.5 (an untrained generator
  whispers at 1e-7): a vocoder whose audio follows its input smoothly, unlike Griffin-Lim."""
  workdir = session_root(tmp_path_factory) / "serving_vocoder_workdir"
  with session_lock(tmp_path_factory, "serving_vocoder_workdir"):
    if not (workdir / "checkpoints").exists():
      import flax.linen as nn
      import jax
      import numpy as np
      import orbax.checkpoint as ocp
      from st_jax import config_lib
      from st_jax.models import build_model
      config = config_lib.load_config("vocoder:tiny")
      workdir.mkdir(parents=True, exist_ok=True)
      config_lib.save_config(config, str(workdir))
      model = build_model(config)
      mel = np.log(np.abs(np.random.default_rng(0).standard_normal((1, 32, 80))) + 1e-3)
      batch = {"features": mel.astype(np.float32), "feature_paddings": np.zeros((1, 32),
                                                                                np.float32)}
      params = nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(0), batch))
      peak = float(np.abs(model.generate(params, batch["features"],
                                         batch["feature_paddings"])).max())
      post = params["generator"]["conv_post"]
      post["kernel"], post["bias"] = post["kernel"] * (0.5 / peak), post["bias"] * (0.5 / peak)
      with ocp.CheckpointManager(str(workdir / "checkpoints"),
                                 item_names=("state", "meta")) as manager:
        manager.save(0, args=ocp.args.Composite(state=ocp.args.StandardSave({"params": params}),
                                                meta=ocp.args.JsonSave({})))
        manager.wait_until_finished()
  return str(workdir)
