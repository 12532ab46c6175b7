"""The training loop: exact resume, preemption, kill -9, NaN handling, resharding, fine-tuning."""

import os
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from st_jax import config_lib
from st_jax import train as train_lib
from st_jax.checkpointing import load_params as final_params
from st_jax.data import features as features_lib
from st_jax.errors import ConfigError, UserError
from st_jax.models.model_api import example_batch as model_example_batch
from train_helpers import MICRO, micro_config

QUIET = ["train.eval_split=", "train.log_every=1", "train.async_checkpointing=False"]


def run(corpus, workdir, *extra):
  config = micro_config(corpus, *QUIET, *extra)
  return train_lib.train_and_evaluate(config, str(workdir))


def assert_trees_equal(a, b, atol=0.0):
  for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves(b)):
    if atol:
      np.testing.assert_allclose(x, y, atol=atol, err_msg=jax.tree_util.keystr(path))
    else:
      np.testing.assert_array_equal(x, y, err_msg=jax.tree_util.keystr(path))


@pytest.fixture(scope="module")
def straight(tone_corpus, tmp_path_factory):
  """4 steps without interruption on the (data=8) mesh."""
  workdir = tmp_path_factory.mktemp("straight")
  run(tone_corpus, workdir, "train.num_steps=4", "train.checkpoint_every=2")
  return str(workdir)


def test_resume_is_bitwise_exact(tone_corpus, straight, tmp_path):
  run(tone_corpus, tmp_path, "train.num_steps=2", "train.checkpoint_every=2")
  summary = run(tone_corpus, tmp_path, "train.num_steps=4", "train.checkpoint_every=2")
  assert summary["step"] == 4
  assert_trees_equal(final_params(str(tmp_path))[1], final_params(straight)[1])


def test_restore_onto_a_different_mesh(tone_corpus, straight, tmp_path):
  """A (data=8) checkpoint restored onto (fsdp=4, tensor=2): bitwise the saved values, laid out
  by the new mesh's specs; training on from it ends near the straight run (a different mesh
  reduces gradients in another order: float32 rounding that Adam's normalisation lifts to
  ~1e-5 on near-zero gradients, so the comparison there is 1e-4, not bitwise)."""
  from st_jax import checkpointing, sharding
  from st_jax.data import pipeline as pipeline_lib
  from st_jax.models import build_model
  from st_jax.train_setup import create_train_state
  run(tone_corpus, tmp_path, "train.num_steps=2", "train.checkpoint_every=2")
  config = micro_config(tone_corpus, *QUIET, "mesh.data=1", "mesh.fsdp=4", "mesh.tensor=2")
  mesh = sharding.make_mesh(config.mesh)
  pipe = pipeline_lib.make_pipeline(config.data, "train", train=True, batch_multiple=1)
  _, state, shardings = create_train_state(build_model(config), config, mesh,
                                           pipe.example_batch(), jax.random.PRNGKey(0))
  manager = checkpointing.make_manager(str(tmp_path), config.train)
  restored, _ = checkpointing.restore(manager, 2, checkpointing.abstract_like(state, shardings),
                                      pipe.iterator())
  manager.close()
  assert_trees_equal(jax.device_get(restored.params), final_params(str(tmp_path), 2)[1])
  for array, target in zip(jax.tree_util.tree_leaves(restored),
                           jax.tree_util.tree_leaves(shardings)):
    assert array.sharding.is_equivalent_to(target, array.ndim)
  assert any("tensor" in str(s.spec) for s in jax.tree_util.tree_leaves(shardings))
  run(tone_corpus, tmp_path, "train.num_steps=4", "train.checkpoint_every=2",
      "mesh.data=1", "mesh.fsdp=4", "mesh.tensor=2")
  assert_trees_equal(final_params(str(tmp_path))[1], final_params(straight)[1], atol=1e-4)


def test_workdir_of_another_config_is_refused(tone_corpus, straight):
  before = open(os.path.join(straight, "config.json")).read()
  with pytest.raises(ConfigError, match="different model config"):
    run(tone_corpus, straight, "train.num_steps=6", "model.decoder.ffn_dim=32")
  assert open(os.path.join(straight, "config.json")).read() == before   # nothing overwritten


def test_finetuning_takes_the_encoder_only(tone_corpus, straight, tmp_path):
  run(tone_corpus, tmp_path, "train.num_steps=1", f"train.init_from={straight}",
      "train.init_include=('^encoder/', '^frontend/')", "train.freeze=^(encoder|frontend)/",
      "train.checkpoint_every=1")
  _, source = final_params(straight)
  _, tuned = final_params(str(tmp_path))
  assert_trees_equal(tuned["encoder"], source["encoder"])      # copied and frozen
  changed = [not np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(tuned["decoder"]),
                                                      jax.tree_util.tree_leaves(source["decoder"]))]
  assert any(changed)                                            # the decoder trains


def test_nonfinite_steps_are_skipped_then_training_stops(tone_corpus, tmp_path, monkeypatch):
  monkeypatch.setattr(features_lib.ExampleEncoder, "features",
                      lambda self, example, rng: np.full((100, 80), np.nan, np.float32))
  with pytest.raises(UserError, match="training stopped at step 3: 3 consecutive steps"):
    run(tone_corpus, tmp_path, "train.num_steps=10", "train.max_bad_steps=3",
        "train.checkpoint_every=100")


def _cli(corpus, workdir, *extra):
  args = [f"--config.{o}" for o in MICRO + list(QUIET) + [f"data.corpus_dir={corpus}",
                                                           "train.optimizer=sgd", *extra]]
  return subprocess.Popen([sys.executable, "-m", "st_jax.cli", "train", "--config",
                           "st_conformer:tiny", "--workdir", str(workdir), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_checkpoint(workdir, process, timeout=300):
  start = time.time()
  while time.time() - start < timeout:
    done = [d for d in os.listdir(os.path.join(workdir, "checkpoints"))
            if d.isdigit()] if os.path.isdir(os.path.join(workdir, "checkpoints")) else []
    if done:
      return
    assert process.poll() is None, process.stdout.read()
    time.sleep(0.2)
  raise TimeoutError("no checkpoint appeared")


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_same_params(tone_corpus, tmp_path):
  reference = tmp_path / "reference"
  run(tone_corpus, reference, "train.num_steps=12", "train.checkpoint_every=12")
  killed = tmp_path / "killed"
  process = _cli(tone_corpus, killed, "train.num_steps=100000", "train.checkpoint_every=3")
  _wait_for_checkpoint(str(killed), process)
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert process.returncode == -signal.SIGKILL
  resumed = _cli(tone_corpus, killed, "train.num_steps=12", "train.checkpoint_every=3")
  output, _ = resumed.communicate(timeout=600)
  assert resumed.returncode == 0, output
  assert "resumed from step" in output
  assert_trees_equal(final_params(str(killed))[1], final_params(str(reference))[1])


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_zero(tone_corpus, tmp_path):
  process = _cli(tone_corpus, tmp_path, "train.num_steps=100000", "train.checkpoint_every=2")
  _wait_for_checkpoint(str(tmp_path), process)
  process.send_signal(signal.SIGTERM)
  output, _ = process.communicate(timeout=300)
  assert process.returncode == 0, output
  saved = re.search(r"SIGTERM: saved checkpoint at step (\d+)", output)
  assert saved, output
  step, _ = final_params(str(tmp_path))
  assert step == int(saved.group(1)) >= 2


def test_tensorboard_events_and_saved_config(straight):
  events = os.listdir(os.path.join(straight, "tb"))
  assert events
  content = b"".join(open(os.path.join(straight, "tb", e), "rb").read() for e in events)
  for tag in (b"train/loss", b"train/lr", b"train/grad_norm", b"train/audio_s_per_s"):
    assert tag in content
  from st_jax import config_lib
  assert config_lib.load_workdir_config(straight).train.num_steps == 4


def test_finetune_config_starts_from_an_asr_workdir(tone_corpus, tmp_path):
  """`st_conformer:finetune`: ASR (asr_conformer) weights -> ST with a frozen encoder."""
  asr = config_lib.load_config("asr_conformer:tiny", [*MICRO, f"data.corpus_dir={tone_corpus}",
                                                      *QUIET, "train.num_steps=2"])
  train_lib.train_and_evaluate(asr, str(tmp_path / "asr"))
  config = config_lib.load_config("st_conformer:finetune", [
      *MICRO, f"data.corpus_dir={tone_corpus}", *QUIET, "train.num_steps=2",
      f"train.init_from={tmp_path / 'asr'}"])
  assert config.train.freeze == "^(frontend|encoder)/"
  train_lib.train_and_evaluate(config, str(tmp_path / "st"))
  _, source = final_params(str(tmp_path / "asr"))
  _, tuned = final_params(str(tmp_path / "st"))
  for name in ("frontend", "encoder"):
    assert_trees_equal(tuned[name], source[name])
  assert not np.array_equal(jax.tree_util.tree_leaves(tuned["ctc_head"])[0],
                            jax.tree_util.tree_leaves(source["ctc_head"])[0])  # taken, trains


def test_init_from_a_hugging_face_directory(tone_corpus, tmp_path):
  """train.init_from=<HF Speech2Text dir>: the converted weights are the starting point."""
  pytest.importorskip("safetensors.numpy", reason="needs the [parity] extra (safetensors)")
  from flax import linen as nn
  from st_jax.models import build_model, convert_hf
  overrides = [*MICRO, f"data.corpus_dir={tone_corpus}", *QUIET, "train.num_steps=1",
               "train.freeze=.*", "train.checkpoint_every=1"]
  config = config_lib.load_config("s2t_transformer:tiny", overrides)
  model = build_model(config)
  params = nn.unbox(model.init(jax.random.key(7), model_example_batch(config)))
  convert_hf.save_hf_checkpoint(str(tmp_path / "hf"), params, config)
  config.train.init_from = str(tmp_path / "hf")
  train_lib.train_and_evaluate(config, str(tmp_path / "work"))
  assert_trees_equal(final_params(str(tmp_path / "work"))[1], params, atol=1e-6)


def test_disk_full_during_save_keeps_the_previous_checkpoint(tone_corpus, tmp_path, monkeypatch):
  import errno
  import orbax.checkpoint as ocp
  real_save = ocp.CheckpointManager.save

  def save(self, step, *args, **kwargs):
    if step == 2:
      raise OSError(errno.ENOSPC, "No space left on device")
    return real_save(self, step, *args, **kwargs)
  monkeypatch.setattr(ocp.CheckpointManager, "save", save)
  with pytest.raises(UserError, match="checkpoint of step 2 .* No space left on device.* "
                                      "previous checkpoint is still valid"):
    run(tone_corpus, tmp_path, "train.num_steps=3", "train.checkpoint_every=1")
  assert final_params(str(tmp_path))[0] == 1
  monkeypatch.setattr(ocp.CheckpointManager, "save", real_save)
  run(tone_corpus, tmp_path, "train.num_steps=3", "train.checkpoint_every=1")   # resumes
  assert final_params(str(tmp_path))[0] == 3
