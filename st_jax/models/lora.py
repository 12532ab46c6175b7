"""LoRA adapters (Hu et al. 2021) around any model of the model API, without touching modules.

For every kernel W whose '/'-joined parameter path matches ``model.lora_targets``, with its
input dims flattened to I and output dims to O::

    W' = W + (alpha / r) * A B          A [I, r] ~ N(0, 1/I),  B [r, O] = 0  (W' = W at start)

The parameter tree becomes ``{"base": <the model's params>, "lora": {<path>: {"a", "b"}}}``
(paths with '.' for '/'); every method merges ``W'`` and calls the wrapped model, so training,
evaluation and decoding work unchanged. Train only the adapters with
``--config.train.freeze=^base/``; ``merge`` gives plain parameters for export.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np

from st_jax.errors import ConfigError
from st_jax.optim import path_names

_DELEGATED = ("loss_fn", "encode", "score", "init_cache", "decode_step", "ctc_log_probs",
              "predict")


class LoRAModel:
  """Wraps ``base`` (a Seq2SeqModel/ClassifierModel) with rank-``rank`` adapters."""

  def __init__(self, base, rank: int, alpha: float, targets: str):
    if rank <= 0:
      raise ConfigError(f"model.lora_rank={rank} must be positive to use adapters")
    self.base, self.rank, self.scale = base, rank, alpha / rank
    self.targets = re.compile(targets)
    self.config = base.config

  def _targeted(self, params) -> dict:
    """{path: kernel} of the kernels the adapters attach to."""
    names = path_names(params)
    found = {}
    jax.tree_util.tree_map(lambda n, p: found.__setitem__(n, p)
                           if n.endswith("/kernel") and self.targets.search(n) else None,
                           names, params)
    if not found:
      raise ConfigError(f"model.lora_targets={self.targets.pattern!r} matches no kernel")
    return found

  def init(self, rng, batch):
    base = self.base.init(rng, batch)
    lora = {}
    for i, (name, kernel) in enumerate(sorted(self._targeted(jax.tree_util.tree_map(
        lambda x: getattr(x, "value", x), base,
        is_leaf=lambda x: hasattr(x, "value"))).items())):
      rows = int(np.prod(kernel.shape[:-1])) if kernel.ndim == 2 else _in_size(name, kernel)
      cols = int(np.prod(kernel.shape)) // rows
      key = jax.random.fold_in(rng, i)
      lora[name.replace("/", ".")] = {
          "a": jax.random.normal(key, (rows, self.rank), jnp.float32) / np.sqrt(rows),
          "b": jnp.zeros((self.rank, cols), jnp.float32)}
    return {"base": base, "lora": lora}

  def merge(self, params):
    """Plain model parameters with every adapter folded in: W + scale * A B."""
    lora = params["lora"]

    def fold(name, kernel):
      adapter = lora.get(name.replace("/", "."))
      if adapter is None:
        return kernel
      delta = (adapter["a"] @ adapter["b"]) * self.scale
      return kernel + delta.reshape(kernel.shape).astype(kernel.dtype)
    return jax.tree_util.tree_map(fold, path_names(params["base"]), params["base"])

  def __getattr__(self, name):
    if name in _DELEGATED:
      method = getattr(self.base, name)
      return lambda params, *args, **kwargs: method(self.merge(params), *args, **kwargs)
    raise AttributeError(name)


def _in_size(name: str, kernel) -> int:
  """Input size of a multi-dimensional kernel: attention q/k/v kernels are [D, N, H] (input D),
  output projections [N, H, D] (input N*H)."""
  if name.endswith("out_proj/kernel"):
    return int(np.prod(kernel.shape[:-1]))
  return int(kernel.shape[0])
