"""Train-step runners shared by the train_step, mfu and scaling benchmarks.

Shapes: B batch, T input frames, F mel bins, S target tokens, V vocab.

`OurStep`: the st_jax step exactly as train.py runs it (create_train_state -> StepCompiler,
AdamW + grad clipping from config.train, label-smoothed CE, dropout in train mode) on a
one-device mesh. `PeerStep`: Hugging Face Speech2Text / Whisper of the same shape
(`convert_hf.config_to_hf`) with torch AdamW (same b1, b2, eps, weight decay), global-norm
clipping and `F.cross_entropy(label_smoothing=...)`; one call = forward + backward + step.
Both train on the same random batch every call (features ~ N(0, 1), tokens uniform in
[4, V), no padding).
"""

from __future__ import annotations

import time

import numpy as np

from bench import common

_CACHE: dict = {}


def load(spec: str, *overrides: str, batch_size: int = 8, frames: int = 1000,
         targets: int = 40):
  """config with a one-device mesh and vocab/dropout overrides applied."""
  from st_jax import config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.load_config(spec, list(overrides))
  config.mesh.data, config.mesh.fsdp, config.mesh.tensor = 1, 1, 1
  config.data.batch_size = batch_size
  return config, dict(batch_size=batch_size, frames=frames, targets=targets)


def random_batch(config, batch_size: int, frames: int, targets: int, seed: int = 0) -> dict:
  """Every key `example_batch` has, filled: features [B, T, F] N(0,1), tokens [B, S] in
  [4, V), paddings 0 (all valid)."""
  from st_jax.models import model_api  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  batch = model_api.example_batch(config, batch_size, frames, targets)
  vocab = config.data.vocab_size
  for key, value in batch.items():
    if key == "features":
      batch[key] = rng.standard_normal(value.shape).astype(np.float32)
    elif key in ("decoder_inputs", "targets", "transcripts", "source_tokens"):
      batch[key] = rng.integers(4, vocab, value.shape).astype(np.int32)
  return batch


class OurStep:
  """Compiled st_jax train step on one device; ``step()`` runs one and blocks.

  compile_s: lower + compile seconds; flops: XLA's count per step; memory_mb: compiled
  argument + output + temp buffers (MiB).
  """

  def __init__(self, config, batch_size: int, frames: int, targets: int, devices=None):
    import jax  # pylint: disable=g-import-not-at-top
    from st_jax import sharding  # pylint: disable=g-import-not-at-top
    from st_jax.models import build_model  # pylint: disable=g-import-not-at-top
    from st_jax.train_setup import (StepCompiler, create_train_state,  # pylint: disable=g-import-not-at-top
                                    global_batch)
    devices = devices or jax.devices()[:1]
    self.mesh = sharding.make_mesh(config.mesh, devices)
    model = build_model(config)
    batch = random_batch(config, batch_size, frames, targets)
    self.rng = jax.random.PRNGKey(0)
    tx, self.state, shardings = create_train_state(model, config, self.mesh, batch, self.rng)
    self.params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(self.state.params))
    self.compiler = StepCompiler(model, tx, self.mesh, shardings)
    self.batch = global_batch(batch, self.mesh)
    start = time.perf_counter()
    compiled = self.compiler.compile(self.state, self.batch, self.rng)
    self.compile_s = time.perf_counter() - start
    self.flops = self.compiler.flops
    memory = compiled.memory_analysis()
    self.memory_mb = None if memory is None else round(sum(
        getattr(memory, f"{k}_size_in_bytes", 0) or 0
        for k in ("argument", "output", "temp")) / 2**20, 1)
    self.metrics = None
    self.model, self._forward = model, None

  def step(self) -> None:
    self.state, self.metrics = self.compiler(self.state, self.batch, self.rng)
    common.block((self.state, self.metrics))

  def forward(self) -> None:
    """The step's loss alone (train mode, dropout on; compiled on the first call)."""
    import jax  # pylint: disable=g-import-not-at-top
    if self._forward is None:
      self._forward = jax.jit(lambda p, b, r: self.model.loss_fn(p, b, r, train=True)[0])
    with jax.set_mesh(self.mesh):
      common.block(self._forward(self.state.params, self.batch, self.rng))


def our_step(spec: str, *overrides: str, batch_size: int = 8, frames: int = 1000,
             targets: int = 40) -> OurStep:
  """Cached `OurStep` (mfu and scaling reuse the train_step benchmark's compiled steps)."""
  key = (spec, overrides, batch_size, frames, targets)
  if key not in _CACHE:
    config, shape = load(spec, *overrides, batch_size=batch_size, frames=frames,
                         targets=targets)
    _CACHE[key] = OurStep(config, **shape)
  return _CACHE[key]


def clear_cache() -> None:
  _CACHE.clear()


class PeerStep:
  """HF model of `config`'s shape training on the same batch; ``step()`` runs one.

  warmup_s: seconds of the first step (allocations; torch has no compile step here).
  """

  def __init__(self, config, batch_size: int, frames: int, targets: int):
    torch, transformers = common.peer_modules()
    from st_jax.models import convert_hf  # pylint: disable=g-import-not-at-top
    self.torch = torch
    hf = dict(convert_hf.config_to_hf(config))
    family = hf.pop("model_type")
    hf.pop("architectures", None)
    torch.manual_seed(0)
    if family == "whisper":
      hf_config = transformers.WhisperConfig(**hf)
      self.model = transformers.WhisperForConditionalGeneration(hf_config)
    else:
      hf_config = transformers.Speech2TextConfig(**hf)
      self.model = transformers.Speech2TextForConditionalGeneration(hf_config)
    self.model.train()
    self.params = sum(p.numel() for p in self.model.parameters())
    batch = random_batch(config, batch_size, frames, targets)
    features = torch.from_numpy(batch["features"])
    if family == "whisper":    # Whisper takes [B, F, T] and no attention mask
      self.inputs = {"input_features": features.transpose(1, 2).contiguous()}
    else:
      self.inputs = {"input_features": features,
                     "attention_mask": torch.ones(features.shape[:2], dtype=torch.long)}
    self.inputs["decoder_input_ids"] = torch.from_numpy(batch["decoder_inputs"]).long()
    self.labels = torch.from_numpy(batch["targets"]).long().reshape(-1)
    self.smoothing = float(config.train.label_smoothing)
    self.clip = float(config.train.grad_clip)
    train = config.train
    kwargs = dict(lr=float(train.learning_rate), betas=(train.adam_b1, train.adam_b2),
                  eps=train.adam_eps, weight_decay=train.weight_decay)
    try:   # the fastest CPU AdamW torch offers
      self.optimizer = torch.optim.AdamW(self.model.parameters(), fused=True, **kwargs)
      self.optimizer_kind = "AdamW(fused=True)"
    except (RuntimeError, TypeError):
      self.optimizer = torch.optim.AdamW(self.model.parameters(), **kwargs)
      self.optimizer_kind = "AdamW"
    self.warmup_s = common.time_call(self.step)

  def loss(self):
    logits = self.model(**self.inputs).logits
    return self.torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), self.labels, label_smoothing=self.smoothing)

  def forward(self) -> None:
    """The loss alone (train mode, autograd recording as in a step, no backward)."""
    self.loss()

  def step(self) -> None:
    torch = self.torch
    self.optimizer.zero_grad(set_to_none=True)
    self.loss().backward()
    if self.clip > 0:
      torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
    self.optimizer.step()
