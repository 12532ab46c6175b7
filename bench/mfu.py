"""Model FLOP utilisation: achieved FLOP/s of our train step over the device's measured peak.

  achieved = XLA flops per step (compiled cost analysis) / median step time
  peak     = 2 n^3 / median time of a jitted f32 n x n matmul (n = 2048), measured in the
             same run, interleaved with the steps so both see the same machine load
  MFU      = achieved / peak

XLA's count includes every op of the step (attention, softmax, optimizer), not only the
6 * params * tokens of the usual estimate, so this is closer to "hardware FLOP utilisation".
"""

from __future__ import annotations

from bench import common, steps

NAME = "mfu"
TITLE = "Model FLOP utilisation of the train step"
GOAL_MFU = 0.3
MATMUL_N = 2048
LIMIT = ("besides matmuls the step runs many memory-bound ops (layer norms, softmax, dropout "
         "masks, the AdamW update of every parameter) that reach a fraction of the matmul rate "
         "on 2 CPU cores")

# spec, overrides, B, T, S, repeats, note
FULL = (("s2t_transformer:small", ("data.vocab_size=8000",), 8, 1000, 40, 4, ""),
        ("st_conformer:base", (), 4, 1000, 40, 3,
         "B=4 (not 8): the 119M-parameter step takes ~14 s and ~7 GB at B=4 on 2 cores"))
QUICK = (("s2t_transformer:tiny", ("data.vocab_size=1000",), 2, 200, 10, 2,
          "quick: the train_step shape only (no extra compile)"),)


def matmul_peak(n: int):
  """-> (one-call function of a jitted n x n f32 matmul, FLOPs per call 2 n^3)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  matmul = jax.jit(lambda x, y: jnp.dot(x, y, precision="highest"))
  common.block(matmul(a, b))
  return lambda: common.block(matmul(a, b)), 2.0 * n ** 3


def run(ctx: common.Context) -> dict:
  n = 256 if ctx.quick else MATMUL_N
  matmul, matmul_flops = matmul_peak(n)
  rows, measurements, details, peaks = [], {}, [], []
  for spec, overrides, batch_size, frames, targets, repeats, note in (
      QUICK if ctx.quick else FULL):
    overrides = overrides + ("train.label_smoothing=0.1",)
    common.log(f"mfu: {spec} B={batch_size} T={frames}: compiling (cached if train_step ran)")
    ours = steps.our_step(spec, *overrides, batch_size=batch_size, frames=frames,
                          targets=targets)
    common.log(f"mfu: {spec}: timing {ctx.repeats(repeats)} steps interleaved with "
               f"{n}x{n} matmuls")
    # several matmuls per step so the peak's median is as robust as the step's
    timed = common.interleave({"step": ours.step,
                               "matmul": lambda: [matmul() for _ in range(3)]},
                              ctx.repeats(repeats))
    peak = 3 * matmul_flops / timed["matmul"]["median"]
    achieved = ours.flops / timed["step"]["median"]
    peaks.append(peak)
    mfu = achieved / peak if peak else None
    measurements[spec] = {"step_s": timed["step"], "matmul_x3_s": timed["matmul"],
                          "gflop_per_step": round(ours.flops / 1e9, 2),
                          "achieved_gflops": round(achieved / 1e9, 2),
                          "peak_gflops": round(peak / 1e9, 2), "mfu": round(mfu, 4),
                          "compile_s": round(ours.compile_s, 2), "params": ours.params,
                          "batch_size": batch_size, "frames": frames}
    rows.append(common.row(f"{spec} B={batch_size} T={frames} MFU", "%", mfu,
                           goal=f">= {GOAL_MFU:.0%} of matmul peak", met=mfu >= GOAL_MFU,
                           peer_note="no peer (device peak: matmul)", limit=LIMIT))
    details.append(f"{spec}: {ours.flops / 1e9:.0f} GFLOP/step / {timed['step']['median']:.3f} s "
                   f"= {achieved / 1e9:.1f} GFLOP/s vs matmul peak {peak / 1e9:.1f} GFLOP/s "
                   f"-> MFU {mfu:.1%}" + (f"; {note}" if note else ""))
  details.append(f"peak: jitted f32 {n}x{n} matmul (precision=highest), 3 per timed call, "
                 f"{min(peaks) / 1e9:.1f}-{max(peaks) / 1e9:.1f} GFLOP/s across the runs above")
  settings = dict(matmul_n=n, cases=[f"{c[0]} B={c[2]} T={c[3]} S={c[4]}"
                                      for c in (QUICK if ctx.quick else FULL)])
  return dict(title=TITLE, settings=settings, peer="none (device peak measured by a matmul)",
              rows=rows, measurements=measurements, details=details)
