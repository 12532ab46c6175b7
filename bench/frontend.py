"""Front end: log-mel features of 100 s of 16 kHz audio.

Shapes: T samples (1.6M), N frames (1 + T // H = 10001), F = 80 mel bins, K = n_fft / 2 + 1.

  ours numpy  st_jax.data.audio.log_mel(x, 16000, n_mels=80, dtype=float32)  scipy pocketfft
  ours jax    jax.jit(log_mel(..., xp=jax.numpy))                          float32
  librosa     log(max(melspectrogram(y=x, n_fft, hop, win, hann, center=True,
                                     pad_mode='reflect', power=2, n_mels=80), 1e-10))
  torch       torch.stft(center=True, reflect, periodic Hann) -> |X|^2 @ mel matrix -> log

n_fft / hop / window come from `audio.stft_sizes(16000)` (512 / 160 / 400 samples). Rows pair
each of ours with a peer of the same kind, all in float32: numpy vs librosa, jax vs torch. Each
output is checked against the float64 numpy path (what the data workers compute).
"""

from __future__ import annotations

import numpy as np

from bench import common

NAME = "frontend"
TITLE = "Log-mel front end vs librosa and torch.stft"
SAMPLE_RATE, N_MELS = 16000, 80
GOAL = "ratio >= 1"


def _contenders(samples: np.ndarray) -> dict:
  """name -> zero-argument function returning log-mel [N, F] as numpy (None: not installed)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from st_jax.data import audio  # pylint: disable=g-import-not-at-top
  window, hop, n_fft = audio.stft_sizes(SAMPLE_RATE)
  jitted = jax.jit(lambda x: audio.log_mel(x, SAMPLE_RATE, n_mels=N_MELS, xp=jnp))
  x_jax = jax.device_put(samples)
  out = {"ours_numpy": lambda: audio.log_mel(samples, SAMPLE_RATE, n_mels=N_MELS,
                                             dtype=np.float32),
         "ours_jax": lambda: np.asarray(jitted(x_jax)), "librosa": None, "torch": None}
  librosa = common.optional_module("librosa")
  if librosa is not None:
    out["librosa"] = lambda: np.log(np.maximum(librosa.feature.melspectrogram(
        y=samples, sr=SAMPLE_RATE, n_fft=n_fft, hop_length=hop, win_length=window,
        window="hann", center=True, pad_mode="reflect", power=2.0, n_mels=N_MELS),
        audio.LOG_FLOOR)).T
  torch = common.optional_module("torch")
  if torch is not None:
    torch.set_num_threads(common.TORCH_THREADS)
    x_torch = torch.from_numpy(samples)
    hann = torch.hann_window(window, periodic=True)
    mel = torch.from_numpy(audio.mel_filterbank(SAMPLE_RATE, n_fft, N_MELS).astype(np.float32))

    def torch_log_mel():
      spec = torch.stft(x_torch, n_fft, hop_length=hop, win_length=window, window=hann,
                        center=True, pad_mode="reflect", return_complex=True)
      power = spec.real ** 2 + spec.imag ** 2                  # [K, N]
      return torch.log(torch.clamp(power.T @ mel, min=audio.LOG_FLOOR)).numpy()
    out["torch"] = torch_log_mel
  return out


def run(ctx: common.Context) -> dict:
  seconds = 10.0 if ctx.quick else 100.0
  repeats = ctx.repeats(15, 2)
  rng = np.random.default_rng(0)
  t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
  samples = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(
      np.float32)
  fns = _contenders(samples)
  from st_jax.data import audio  # pylint: disable=g-import-not-at-top
  reference = audio.log_mel(samples, SAMPLE_RATE, n_mels=N_MELS)   # float64, the exact path
  compile_s = common.time_call(fns["ours_jax"])
  errors = {}
  for name, fn in fns.items():
    if fn is not None:
      value = fn()
      assert value.shape == reference.shape, f"{name}: shape {value.shape} != {reference.shape}"
      # max abs log difference over bins with real energy (the floor differs by precision)
      errors[name] = float(np.abs(value - reference)[reference > -10].max())
  common.log(f"frontend: {seconds:.0f} s of audio, {repeats} interleaved repeats of "
             f"{', '.join(k for k, f in fns.items() if f is not None)}")
  timed = common.interleave(fns, repeats)
  med = {k: v["median"] for k, v in timed.items()}
  rows = []
  for ours, peer, label, limit in (
      ("ours_numpy", "librosa", "numpy log_mel vs librosa",
       "both float32 with pocketfft; the remaining gap is the framing copy and the mel product"),
      ("ours_jax", "torch", "jax log_mel (jit) vs torch.stft+mel",
       "XLA:CPU gathers the overlapping frames into a [N, n_fft] copy before its FFT, "
       "torch.stft transforms strided views of the signal")):
    ratio = common.speedup(med.get(peer), med[ours])
    rows.append(common.row(f"{label}, {seconds:.0f} s audio", "s", med[ours], med.get(peer),
                           ratio=ratio, goal=GOAL, met=None if ratio is None else ratio >= 1.0,
                           limit=limit))
  details = [f"{k}: median {v['median'] * 1e3:.1f} ms (min {v['min'] * 1e3:.1f}, max "
             f"{v['max'] * 1e3:.1f}), {seconds / v['median']:.0f}x real time"
             for k, v in timed.items()]
  details.append(f"ours_jax compile + first call {compile_s:.2f} s (not in the timings)")
  details.append("max |log-mel difference| to the float64 numpy path over bins above the floor: "
                 + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
  settings = dict(audio_seconds=seconds, sample_rate=SAMPLE_RATE, n_mels=N_MELS,
                  stft="n_fft 512, hop 160, win 400 (audio.stft_sizes), center, reflect",
                  repeats=repeats, torch_threads=common.TORCH_THREADS)
  peer = " / ".join(f"{n} {getattr(common.optional_module(n), '__version__', '?')}"
                    for n in ("librosa", "torch") if fns.get(n) is not None) or (
                        "peer not measured (install .[parity] and .[dev] for librosa)")
  return dict(title=TITLE, settings=settings, peer=peer, rows=rows,
              measurements=dict(timed, ours_jax_compile_s=round(compile_s, 3),
                                max_abs_log_error=errors), details=details)
