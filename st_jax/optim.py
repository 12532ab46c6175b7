"""Optimizers and learning-rate schedules from ``config.train``.

Schedules (``train.schedule``), with peak rate ``lr``, warm-up ``w`` steps, total ``n`` steps:
  constant:      lr_t = lr * min(1, t / w)
  cosine:        lr_t = lr * t / w for t < w, then lr * (f + (1 - f) * (1 + cos(pi * p)) / 2)
                 with p = (t - w) / (n - w) and f = ``train.final_lr_fraction``
  inverse_sqrt:  lr_t = lr * min(t / w, sqrt(w / t))      (Noam / Transformer schedule)

Optimizer (``train.optimizer``): adamw | adam | sgd (momentum ``train.momentum``), after global
norm clipping (``train.grad_clip``, 0 = off). Weight decay (decoupled for adamw, L2 added to
the gradient for adam/sgd) skips biases, norms and embeddings by default
(``train.weight_decay_exclude`` regexes over '/'-joined parameter paths). Parameters whose
path matches ``train.freeze`` (regex) get zero updates (``optax.multi_transform``), and
``train.grad_accum_steps`` > 1 accumulates gradients over micro-steps (``optax.MultiSteps``).
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import optax

from st_jax.errors import ConfigError


def schedule(train) -> optax.Schedule:
  """The learning-rate schedule of ``config.train`` (see module docstring)."""
  lr, warmup, total = float(train.learning_rate), max(int(train.warmup_steps), 1), \
      max(int(train.num_steps), 1)
  warm = lambda step: jnp.minimum(1.0, (step + 1) / warmup)
  if train.schedule == "constant":
    return lambda step: lr * warm(step)
  if train.schedule == "inverse_sqrt":
    return lambda step: lr * jnp.minimum((step + 1) / warmup, jnp.sqrt(warmup / (step + 1)))
  if train.schedule == "cosine":
    final = float(train.final_lr_fraction)

    def cosine(step):
      progress = jnp.clip((step - warmup) / max(total - warmup, 1), 0.0, 1.0)
      decay = final + (1.0 - final) * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
      return lr * jnp.where(step < warmup, warm(step), decay)
    return cosine
  raise ConfigError(f"train.schedule={train.schedule!r}: expected constant, cosine or "
                    f"inverse_sqrt")


def path_names(tree) -> "jax.tree":
  """Same structure as ``tree`` with each leaf replaced by its '/'-joined key path."""
  def name(path, _):
    return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
  return jax.tree_util.tree_map_with_path(name, tree)


def _mask(params, patterns, match: bool):
  compiled = [re.compile(p) for p in patterns]
  return jax.tree_util.tree_map(
      lambda n: any(c.search(n) for c in compiled) == match, path_names(params))


def make_optimizer(train, params) -> optax.GradientTransformation:
  """The full update rule: clip -> (L2) -> optimizer -> freeze -> accumulation."""
  lr = schedule(train)
  decay_mask = _mask(params, train.weight_decay_exclude, match=False)
  parts = []
  if train.grad_clip > 0:
    parts.append(optax.clip_by_global_norm(train.grad_clip))
  if train.optimizer == "adamw":
    parts.append(optax.adamw(lr, b1=train.adam_b1, b2=train.adam_b2, eps=train.adam_eps,
                             weight_decay=train.weight_decay, mask=decay_mask))
  elif train.optimizer in ("adam", "sgd"):
    if train.weight_decay > 0:
      parts.append(optax.add_decayed_weights(train.weight_decay, mask=decay_mask))
    parts.append(optax.adam(lr, b1=train.adam_b1, b2=train.adam_b2, eps=train.adam_eps)
                 if train.optimizer == "adam" else
                 optax.sgd(lr, momentum=train.momentum or None))
  else:
    raise ConfigError(f"train.optimizer={train.optimizer!r}: expected adamw, adam or sgd")
  tx = optax.chain(*parts)
  if train.freeze:
    frozen = _mask(params, [train.freeze], match=True)
    if not any(jax.tree_util.tree_leaves(frozen)):
      raise ConfigError(f"train.freeze={train.freeze!r} matches no parameter path")
    labels = jax.tree_util.tree_map(lambda f: "frozen" if f else "trained", frozen)
    tx = optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()}, labels)
  if train.grad_accum_steps > 1:
    tx = optax.MultiSteps(tx, every_k_schedule=train.grad_accum_steps)
  return tx
