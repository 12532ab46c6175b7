"""Two processes (jax.distributed on localhost, 4 CPU devices each) train like one with 8."""

import os
import pathlib
import socket
import subprocess
import sys

import pytest

from test_train import assert_trees_equal, final_params

WORKER = pathlib.Path(__file__).parent / "multiprocess_train.py"


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def launch(process_id, num_processes, port, devices, corpus, workdir):
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  return subprocess.Popen([sys.executable, str(WORKER), str(process_id), str(num_processes),
                           str(port), str(devices), corpus, str(workdir)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_processes_train_to_the_same_params_as_one(tone_corpus, tmp_path):
  single = launch(0, 1, 0, 8, tone_corpus, tmp_path / "single")
  out, _ = single.communicate(timeout=600)
  assert single.returncode == 0, out
  port = free_port()
  workers = [launch(i, 2, port, 4, tone_corpus, tmp_path / "multi") for i in range(2)]
  outputs = [w.communicate(timeout=600)[0] for w in workers]
  for w, out in zip(workers, outputs):
    assert w.returncode == 0, out
  assert "process 1 of 2 done, 4 local devices" in "".join(outputs)
  step, multi = final_params(str(tmp_path / "multi"))
  assert step == 3
  assert_trees_equal(multi, final_params(str(tmp_path / "single"))[1], atol=1e-5)
