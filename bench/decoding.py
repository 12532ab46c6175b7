"""Decoding: our jitted batched beam search (and greedy) vs HF `generate` on the same shape.

Shapes: B utterances, T input frames, K beams, N output tokens.

Both sides have random weights (s2t_transformer:small shape, seed 0, eval mode) and decode the
same random features [B, T, 80]. Random weights emit EOS at arbitrary steps, so to compare equal
work both decode exactly N tokens: HF with ``min_new_tokens = max_new_tokens = N`` (its
MinNewTokensLengthLogitsProcessor sets the EOS logit to -inf), ours with ``max_length = N`` and
a model wrapper that sets the EOS logit to -1e9 in `decode_step` (the same processor). One
timed call = encode + N decoder steps + host transfer of the tokens.
"""

from __future__ import annotations

import time

import numpy as np

from bench import common, steps

NAME = "decoding"
TITLE = "Batched beam search and greedy decoding"
GOAL_RATIO = 5.0
LIMIT = ("on 2 CPU cores a decoder step reads every decoder weight and the cross-attention "
         "K/V once per step (memory bound at these sizes), and that traffic is the same for a "
         "compiled loop and an eager one; compiling removes only the per-step framework "
         "overhead, and sharing one copy of the cross-attention K/V among the K beams removes "
         "(K-1)/K of that part")
SLOWER_STEP = "; here our compiled decoder step is even slower than HF's eager one (detail line)"


class _NoEos:
  """Model API wrapper whose decode_step never lets EOS win (forces N-token outputs)."""

  def __init__(self, model):
    self._model = model

  def __getattr__(self, name):
    return getattr(self._model, name)

  def decode_step(self, params, cache, tokens, position):
    from st_jax.data.tokenizer import EOS_ID  # pylint: disable=g-import-not-at-top
    logits, cache = self._model.decode_step(params, cache, tokens, position)
    return logits.at[:, EOS_ID].set(-1e9), cache


class _Ours:
  """Random-weight model (eval mode), its jitted encoder and decoders on the batch's inputs."""

  def __init__(self, config, batch):
    import flax.linen as nn  # pylint: disable=g-import-not-at-top
    import jax  # pylint: disable=g-import-not-at-top
    from st_jax.models import build_model  # pylint: disable=g-import-not-at-top
    self.model = build_model(config)
    self.params = nn.unbox(jax.jit(self.model.init)(jax.random.key(0), batch))
    self.inputs = {k: jax.device_put(batch[k]) for k in ("features", "feature_paddings")}
    encode = jax.jit(self.model.encode)
    self.encode = lambda: common.block(encode(self.params, self.inputs))
    self.encode()

  def decoder(self, beam: int, length: int):
    """-> (decode() returning tokens [B, K, N] as numpy, seconds of the first call)."""
    from st_jax.decode import Decoder  # pylint: disable=g-import-not-at-top
    decoder = Decoder(_NoEos(self.model), beam_size=beam, length_penalty=1.0,
                      max_length=length)

    def decode():
      return np.asarray(decoder(self.params, self.inputs)[0])
    start = time.perf_counter()
    tokens = decode()   # compiles
    first_s = time.perf_counter() - start
    assert tokens.shape[-1] == length and (tokens != 0).all(), "ours did not decode N tokens"
    return decode, first_s


class _Peer:
  """HF Speech2Text of the same shape (random weights, eval mode) on the same features."""

  def __init__(self, config, batch):
    self.torch, transformers = common.peer_modules()
    from st_jax.models import convert_hf  # pylint: disable=g-import-not-at-top
    hf = dict(convert_hf.config_to_hf(config))
    hf.pop("model_type")
    hf.pop("architectures", None)
    self.torch.manual_seed(0)
    self.model = transformers.Speech2TextForConditionalGeneration(
        transformers.Speech2TextConfig(**hf))
    self.model.eval()
    self.features = self.torch.from_numpy(batch["features"])
    self.mask = self.torch.ones(self.features.shape[:2], dtype=self.torch.long)

  def encode(self):
    with self.torch.inference_mode():
      self.model.get_encoder()(input_features=self.features, attention_mask=self.mask)

  def decoder(self, beam: int, length: int):
    """-> decode() returning HF's new tokens [B, N] as numpy."""
    def decode():
      with self.torch.inference_mode():
        out = self.model.generate(input_features=self.features, attention_mask=self.mask,
                                  num_beams=beam, num_return_sequences=1, do_sample=False,
                                  max_new_tokens=length, min_new_tokens=length,
                                  length_penalty=1.0)
      return out[:, 1:].numpy()
    tokens = decode()
    assert tokens.shape[-1] == length, f"HF decoded {tokens.shape[-1]} tokens, not {length}"
    return decode


def run(ctx: common.Context) -> dict:
  spec, vocab = ("s2t_transformer:tiny", 1000) if ctx.quick else ("s2t_transformer:small", 8000)
  batch_size, frames, length = (2, 200, 8) if ctx.quick else (8, 1000, 40)
  beam, repeats = 4, ctx.repeats(5)
  config, _ = steps.load(spec, f"data.vocab_size={vocab}")
  batch = steps.random_batch(config, batch_size, frames, length)
  settings = dict(config=spec, vocab_size=vocab, batch_size=batch_size, frames=frames,
                  audio_seconds=frames / 100, beam_size=beam, new_tokens=length,
                  length_penalty=1.0, eos="disabled on both sides (exactly N tokens)",
                  repeats=repeats)
  rows, measurements, details = [], {}, []
  common.log(f"decoding: {spec} B={batch_size} T={frames}: building both models")
  ours = _Ours(config, batch)
  peer = _Peer(config, batch) if common.peer_modules() is not None else None
  encode = common.interleave({"ours": ours.encode, "peer": peer and peer.encode}, repeats)
  measurements["encode_s"] = encode
  for mode, k in (("beam", beam), ("greedy", 1)):
    common.log(f"decoding: {mode} (K={k}): compiling ours, warming up HF")
    ours_decode, first_s = ours.decoder(k, length)
    peer_decode = peer.decoder(k, length) if peer else None
    common.log(f"decoding: {mode}: timing {repeats} interleaved repeats")
    timed = common.interleave({"ours": ours_decode, "peer": peer_decode}, repeats)
    compile_s = max(first_s - timed["ours"]["median"], 0.0)
    measurements[mode] = dict(timed, ours_compile_s=round(compile_s, 2))
    ours_s, peer_s = timed["ours"]["median"], timed.get("peer", {}).get("median")
    ratio = common.speedup(peer_s, ours_s)
    goal = f"ratio >= {GOAL_RATIO:g}x" if mode == "beam" else ""
    met = None if ratio is None or not goal else ratio >= GOAL_RATIO
    slower = peer_s and (ours_s - encode["ours"]["median"] > peer_s - encode["peer"]["median"])
    rows.append(common.row(f"{mode} search K={k}, B={batch_size}, N={length}", "utt/s",
                           batch_size / ours_s, batch_size / peer_s if peer_s else None,
                           ratio=ratio, goal=goal, met=met,
                           limit=LIMIT + (SLOWER_STEP if slower else "")))
    line = f"{mode} (K*B = {k * batch_size} rows per step): " + _split(
        "ours", ours_s, encode["ours"]["median"], length) + f" (compile ~{compile_s:.1f} s)"
    if peer_s:
      line += "; " + _split("HF generate", peer_s, encode["peer"]["median"], length)
    details.append(line)
  return dict(title=TITLE, settings=settings, peer=common.peer_label("transformers", "torch"),
              rows=rows, measurements=measurements, details=details)


def _split(name: str, total: float, encoder: float, steps_n: int) -> str:
  """'name 2.9 s/batch = encoder 0.6 s + 40 steps x 57 ms'."""
  per_step = max(total - encoder, 0.0) / steps_n
  return (f"{name} {total:.3f} s/batch = encoder {encoder:.3f} s + {steps_n} steps x "
          f"{per_step * 1e3:.1f} ms")
