"""LoRA adapters: identity at start, only adapters train when the base is frozen."""

import flax.linen as nn
import jax
import numpy as np

from st_jax.data import pipeline as pipeline_lib
from st_jax.models import build_model
from train_helpers import micro_config, one_step

LORA = ["model.lora_rank=2", "train.freeze=^base/", "train.optimizer=adam",
        "train.learning_rate=1e-2"]


def test_adapters_start_as_identity_and_merge(tone_corpus):
  config = micro_config(tone_corpus, *LORA)
  model = build_model(config)
  batch = pipeline_lib.make_pipeline(config.data, "train", train=True).example_batch()
  params = nn.unbox(model.init(jax.random.PRNGKey(0), batch))
  assert any("self_attn" in k for k in params["lora"]) and any("ffn" in k
                                                                for k in params["lora"])
  loss, _ = model.loss_fn(params, batch, None, train=False)
  base_loss, _ = model.base.loss_fn(params["base"], batch, None, train=False)
  np.testing.assert_allclose(loss, base_loss, rtol=1e-6)
  # a non-zero adapter changes exactly the targeted kernels by scale * A B
  name = sorted(params["lora"])[0]
  params["lora"][name]["b"] = params["lora"][name]["b"] + 1.0
  merged = model.merge(params)
  path = name.split(".")
  kernel, base_kernel = merged, params["base"]
  for key in path:
    kernel, base_kernel = kernel[key], base_kernel[key]
  adapter = params["lora"][name]
  expected = (adapter["a"] @ adapter["b"]) * model.scale
  np.testing.assert_allclose(np.asarray(kernel - base_kernel).reshape(expected.shape),
                             expected, atol=1e-6)


def test_only_adapters_train_when_the_base_is_frozen(tone_corpus):
  config = micro_config(tone_corpus, *LORA)
  model = build_model(config)
  batch = pipeline_lib.make_pipeline(config.data, "train", train=True).example_batch()
  initial = nn.unbox(model.init(jax.random.fold_in(jax.random.PRNGKey(0), 0x1417), batch))
  _, params, _, _ = one_step(config, (1, 1, 1), steps=2)
  # (eager and jitted initialisation round differently at 1e-7; Adam at lr 1e-2 moves a
  # trained weight by ~1e-2)
  for a, b in zip(jax.tree_util.tree_leaves(params["base"]),
                  jax.tree_util.tree_leaves(initial["base"])):
    np.testing.assert_allclose(a, b, atol=1e-6)
  moved = [float(np.abs(p["b"]).max()) for p in params["lora"].values()]
  assert min(moved) > 1e-3
