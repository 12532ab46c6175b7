"""Sharded training on 8 fake CPU devices: same numbers on every mesh, golden specs, one trace."""

import json
import pathlib

import jax
import numpy as np
import pytest

from st_jax import config_lib, sharding
from st_jax.errors import ConfigError
from st_jax.models import build_model
from train_helpers import micro_config, one_step

GOLDEN = pathlib.Path(__file__).parent / "golden" / "st_conformer_tiny_specs.json"


@pytest.fixture(scope="module")
def reference(tone_corpus):
  return one_step(micro_config(tone_corpus), (1, 1, 1))


@pytest.mark.parametrize("mesh", [(8, 1, 1), (2, 4, 1), (1, 4, 2), (2, 2, 2)])
def test_one_step_is_the_same_on_every_mesh(tone_corpus, reference, mesh):
  metrics, params, _, state = one_step(micro_config(tone_corpus), mesh)
  np.testing.assert_allclose(metrics["loss"], reference[0]["loss"], rtol=1e-5)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(params),
                          jax.tree_util.tree_leaves(reference[1])):
    np.testing.assert_allclose(a, b, atol=1e-5, err_msg=jax.tree_util.keystr(path))
  if mesh[1] > 1:   # fsdp really shards the weights
    sharded = [x for x in jax.tree_util.tree_leaves(state.params)
               if len(x.sharding.device_set) > 1 and not x.sharding.is_fully_replicated]
    assert sharded


def test_step_compiles_once_over_three_steps(tone_corpus):
  *_, compiler, state = one_step(micro_config(tone_corpus), (2, 2, 2), steps=3)
  assert compiler.traces == 1 and int(state.step) == 3


def test_golden_partition_specs_of_the_tiny_config(tone_corpus):
  config = config_lib.load_config("st_conformer:tiny", [f"data.corpus_dir={tone_corpus}",
                                                        "data.batch_size=4"])
  model = build_model(config)
  from st_jax.data import pipeline
  batch = pipeline.make_pipeline(config.data, "train", train=True).example_batch()
  abstract = jax.eval_shape(model.init, jax.random.PRNGKey(0), batch)
  specs = sharding.logical_to_mesh_specs(abstract)
  table = {jax.tree_util.keystr(p): str(s) for p, s in jax.tree_util.tree_leaves_with_path(
      specs, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))}
  if not GOLDEN.exists():   # written once, reviewed, then checked in
    GOLDEN.write_text(json.dumps(table, indent=1, sort_keys=True))
  assert table == json.loads(GOLDEN.read_text())


def test_mesh_sizes_fill_and_validate():
  cfg = config_lib.load_config("st_conformer:tiny")
  cfg.mesh.data, cfg.mesh.fsdp, cfg.mesh.tensor = -1, 2, 2
  assert sharding.mesh_shape(cfg.mesh, 8) == (2, 2, 2)
  cfg.mesh.data = 3
  with pytest.raises(ConfigError, match="needs 12 devices but 8 are available"):
    sharding.mesh_shape(cfg.mesh, 8)
  cfg.mesh.data, cfg.mesh.fsdp = -1, -1
  with pytest.raises(ConfigError, match="at most one axis may be -1"):
    sharding.mesh_shape(cfg.mesh, 8)
