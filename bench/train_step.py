"""Train step: st_jax vs Hugging Face (PyTorch) on the same model shape, batch and optimizer.

Shapes: B batch, T input frames (10 ms each), S target tokens.

  s2t_transformer:small (29.0M params, vocab 8000) vs Speech2TextForConditionalGeneration:
    B=8, T=1000 (10 s), S=40, dropout 0.1 (residual, attention, activation), train mode.
  whisper:tiny (37.8M params with HF's position table) vs WhisperForConditionalGeneration:
    B=8, T=3000 (30 s: HF Whisper accepts only its natural 30-s window), S=40, dropout 0.

Both: AdamW (b1 0.9, b2 0.98, eps 1e-9, weight decay 0.01), global-norm clipping 1.0,
label-smoothed (0.1) cross-entropy. Ours: one compiled `StepCompiler` step (compile time
reported apart); peer: forward + backward + clip + optimizer.step with torch on 2 threads.
Peak RSS: the process's high-water mark while that side ran (reset before each side; it
includes everything the process holds, e.g. the other side's weights).
"""

from __future__ import annotations

from bench import common, steps

NAME = "train_step"
TITLE = "One training step (forward + backward + AdamW)"
GOAL_RATIO = 2.0
GOAL = f"ratio >= {GOAL_RATIO:g} (2x PyTorch)"
LIMIT = ("same model, batch and optimizer: XLA:CPU's compiled step is slower than PyTorch's "
         "eager CPU kernels on this 2-core machine; the forward/backward split in the detail "
         "lines shows where")

FULL = (("s2t_transformer:small", ("data.vocab_size=8000",), 8, 1000, 40, 5),
        ("whisper:tiny", (), 8, 3000, 40, 3))
QUICK = (("s2t_transformer:tiny", ("data.vocab_size=1000",), 2, 200, 10, 2),
         ("whisper:mini", (), 2, 3000, 10, 2))


def _peak_rss(fn, calls: int):
  """Runs fn `calls` times -> peak RSS MiB during them (None when not measurable)."""
  if not common.reset_peak_rss():
    return None
  for _ in range(calls):
    fn()
  return common.peak_rss_mb()


def measure(spec: str, overrides: tuple, batch_size: int, frames: int, targets: int,
            repeats: int, breakdown: bool) -> dict:
  """Compiles/builds both sides, times them interleaved -> measurement dict."""
  overrides = overrides + ("train.label_smoothing=0.1",)
  shape = dict(batch_size=batch_size, frames=frames, targets=targets)
  common.log(f"train_step: {spec} B={batch_size} T={frames} S={targets}: compiling ours")
  ours = steps.our_step(spec, *overrides, **shape)
  peer = None
  if common.peer_modules() is not None:
    common.log(f"train_step: {spec}: building HF peer")
    config, _ = steps.load(spec, *overrides, **shape)
    peer = steps.PeerStep(config, **shape)
  common.log(f"train_step: {spec}: timing {repeats} interleaved repeats "
             f"(ours compile {ours.compile_s:.1f} s)")
  timed = common.interleave({"ours": ours.step, "peer": peer and peer.step}, repeats)
  out = {"ours_s": timed["ours"], "ours_compile_s": round(ours.compile_s, 2),
         "ours_params": ours.params, "ours_gflop_per_step": round(ours.flops / 1e9, 2),
         "ours_compiled_buffers_mb": ours.memory_mb,
         "ours_peak_rss_mb": _peak_rss(ours.step, 1)}
  if peer is not None:
    out.update(peer_s=timed["peer"], peer_first_step_s=round(peer.warmup_s, 2),
               peer_params=peer.params, peer_optimizer=peer.optimizer_kind,
               peer_peak_rss_mb=_peak_rss(peer.step, 1))
  if breakdown:
    common.log(f"train_step: {spec}: forward-only timings (loss in train mode)")
    forward = common.interleave({"ours": ours.forward, "peer": peer and peer.forward}, repeats)
    out.update({f"{side}_forward_s": value for side, value in forward.items()})
  return out


def _breakdown_line(spec: str, m: dict) -> str:
  """'spec: forward X s, backward + update Y s' for both sides."""
  parts = []
  for side, name in (("ours", "ours"), ("peer", "HF")):
    if f"{side}_forward_s" in m:
      fwd = m[f"{side}_forward_s"]["median"]
      parts.append(f"{name} forward {fwd:.3f} s + backward/update "
                   f"{m[f'{side}_s']['median'] - fwd:.3f} s")
  return f"{spec} split (forward = loss in train mode, the rest = step - forward): " + \
      "; ".join(parts)


def run(ctx: common.Context) -> dict:
  cases = QUICK if ctx.quick else FULL
  rows, measurements, details = [], {}, []
  for spec, overrides, batch_size, frames, targets, repeats in cases:
    m = measure(spec, overrides, batch_size, frames, targets, ctx.repeats(repeats),
                breakdown=spec == cases[0][0] and not ctx.quick)
    measurements[spec] = m
    audio_s = batch_size * frames / 100.0
    ours_s, peer_s = m["ours_s"]["median"], m.get("peer_s", {}).get("median")
    ratio = common.speedup(peer_s, ours_s)
    met = None if ratio is None else ratio >= GOAL_RATIO
    label = f"{spec} B={batch_size} T={frames} S={targets}"
    rows.append(common.row(f"{label} step time", "s", ours_s, peer_s, ratio=ratio, goal=GOAL,
                           met=met, limit=LIMIT))
    rows.append(common.row(f"{label} audio-seconds/s", "audio-s/s", audio_s / ours_s,
                           audio_s / peer_s if peer_s else None, ratio=ratio))
    line = (f"{spec}: ours {ours_s:.3f} s/step (min {m['ours_s']['min']:.3f}, max "
            f"{m['ours_s']['max']:.3f}; compile {m['ours_compile_s']:.1f} s; "
            f"{m['ours_gflop_per_step']:.0f} GFLOP/step; {m['ours_params'] / 1e6:.1f}M params; "
            f"compiled buffers {m['ours_compiled_buffers_mb']} MiB; peak RSS "
            f"{m['ours_peak_rss_mb']} MiB)")
    if peer_s is not None:
      line += (f"; HF {peer_s:.3f} s/step (min {m['peer_s']['min']:.3f}, max "
               f"{m['peer_s']['max']:.3f}; first step {m['peer_first_step_s']:.1f} s; "
               f"{m['peer_params'] / 1e6:.1f}M params; {m['peer_optimizer']}; peak RSS "
               f"{m['peer_peak_rss_mb']} MiB)")
    details.append(line)
    if "ours_forward_s" in m:
      details.append(_breakdown_line(spec, m))
  details.append("whisper uses T=3000 frames (30 s), the only input length HF Whisper "
                 "accepts; s2t uses 10-s utterances.")
  settings = dict(cases=[f"{c[0]} B={c[2]} T={c[3]} S={c[4]}" for c in cases],
                  optimizer="AdamW b1=0.9 b2=0.98 eps=1e-9 wd=0.01, clip 1.0",
                  label_smoothing=0.1, dropout="as in config (train mode)",
                  repeats=[ctx.repeats(c[5]) for c in cases], torch_threads=common.TORCH_THREADS)
  return dict(title=TITLE, settings=settings, peer=common.peer_label("transformers", "torch"),
              rows=rows, measurements=measurements, details=details)
