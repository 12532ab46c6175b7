"""Parameter counts per top-level module (`st-jax info --config F:VARIANT`), without memory:
the model is initialised abstractly with `jax.eval_shape`."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from st_jax import config_lib
from st_jax.models import build_model, example_batch


def parameter_counts(config: ml_collections.ConfigDict) -> dict[str, int]:
  """{top-level module: number of parameters, ..., 'total': sum} for `config`'s model."""
  model = build_model(config)
  abstract = nn.unbox(jax.eval_shape(model.init, jax.random.key(0), example_batch(config)))
  counts = {name: sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))
            for name, tree in abstract.items()}
  counts["total"] = sum(counts.values())
  return counts


def format_parameter_counts(counts: dict[str, int], title: str = "") -> str:
  """A two-column text table of `parameter_counts` output (total last)."""
  rows = [(name, f"{count:,}") for name, count in counts.items() if name != "total"]
  rows.append(("total", f"{counts['total']:,}"))
  width = max(len(name) for name, _ in rows + [("module", "")])
  number_width = max(len(number) for _, number in rows + [("", "parameters")])
  lines = [title] if title else []
  lines.append(f"{'module':<{width}}  {'parameters':>{number_width}}")
  lines.append("-" * (width + 2 + number_width))
  lines += [f"{name:<{width}}  {number:>{number_width}}" for name, number in rows]
  return "\n".join(lines)


def run_info(spec: str, overrides: Sequence[str] = ()) -> str:
  """The `st-jax info` report for a config spec such as "st_conformer:small"."""
  config = config_lib.load_config(spec, overrides)
  return format_parameter_counts(parameter_counts(config), title=f"{config.get('name', spec)}")
