"""Worker for test_multiprocess.py: trains the micro config as one of N processes.

    python multiprocess_train.py PROCESS_ID NUM_PROCESSES PORT DEVICES CORPUS WORKDIR
"""

import os
import sys

process_id, num_processes, port, devices = (int(a) for a in sys.argv[1:5])
corpus, workdir = sys.argv[5:7]
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")
if num_processes > 1:
  jax.distributed.initialize(f"localhost:{port}", num_processes, process_id)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from st_jax import train  # noqa: E402
from train_helpers import micro_config  # noqa: E402

config = micro_config(corpus, "train.eval_split=", "train.num_steps=3",
                      "train.checkpoint_every=3", "train.async_checkpointing=False",
                      "train.log_every=1")
train.train_and_evaluate(config, workdir)
print(f"process {jax.process_index()} of {jax.process_count()} done, "
      f"{jax.local_device_count()} local devices")
