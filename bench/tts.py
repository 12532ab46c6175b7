"""Speech synthesis: audio seconds per second of acoustic model + vocoder on a batch of text.

Shapes: B sentences, U symbols (the longest sentence), T frames (the longest total duration),
F = 80 mel bins, H = 160 samples per frame (10 ms at 16 kHz).

  ours   configs/tts.py:small (FastSpeech 2: transformer encoder, variance adaptor, length
         regulator, transformer mel decoder, postnet) -> configs/vocoder.py:small (HiFi-GAN
         generator), each one jitted call; random weights (seed 0), eval mode
  peer   transformers FastSpeech2ConformerModel -> FastSpeech2ConformerHifiGan, eval mode,
         torch.inference_mode, random weights from configs matched to ours (`peer_configs`)

Both sides synthesise the same B random symbol sequences (lengths spread over the batch) with
the same fixed durations (uniform in [3, 8] frames per symbol), so both run the length regulator
to the same T and the vocoder on the same B x T frames: our duration predictor runs and its
output is replaced by the fixed durations; HF's duration predictor is wrapped the same way
(`_FixedDurations`). Pitch and energy are the predictors' outputs on both sides.

  audio seconds per second = sum_b (sum_u d_bu) H / 16000 / median wall time of one call
  one call = symbols -> log-mel -> waveform (on the host for ours, as numpy)

The peer's conformer blocks are reduced to what ours computes (attention + FFN:
use_macaron_style_in_conformer=False, use_cnn_in_conformer=False, position-wise kernel 1);
its attention is relative-position (ESPnet), ours absolute sinusoidal, and its postnet uses
batch norm where ours uses layer norm. Everything else (D, heads, layers, FFN, predictor and
postnet sizes, HiFi-GAN channels, upsampling rates and kernels, ResBlock kernels/dilations)
is the same; both parameter counts are in the details. (HF's layers read `conv_module` even
when use_cnn_in_conformer=False built none, so `_Peer` sets it to None.)

Full: B = 8 sentences of 40..96 symbols (~31 s of audio), 4 interleaved repeats of the whole
call and 2 of each part. --quick: tts:tiny with one encoder and one decoder layer +
vocoder:tiny, B = 2 sentences of 12..20 symbols, 2 repeats.
"""

from __future__ import annotations

import time

import numpy as np

from bench import common, steps

NAME = "tts"
TITLE = "Text to speech: acoustic model + HiFi-GAN vs HF FastSpeech2Conformer + HiFi-GAN"
GOAL_RATIO = 3.0
HOP, SAMPLE_RATE = 160, 16000
QUICK_LAYERS = ("model.encoder.num_layers=1", "model.mel_decoder.num_layers=1")  # --quick
LIMIT = ("the HiFi-GAN generator ({vocoder:.0%} of our time) is only {vocoder_ratio:.1f}x the "
         "peer's speed (the acoustic model {acoustic_ratio:.1f}x): both run the same "
         "convolution FLOPs, and its 16- and 8-channel stages at 80 and 160 samples per frame "
         "are memory bound on 2 CPU cores, where compiling saves little")


def sentences(batch_size: int, min_symbols: int, max_symbols: int, num_symbols: int,
              seed: int = 0) -> dict:
  """B random symbol sequences, lengths spread over [min, max], fixed durations ->
  {symbols [B, U] int32, paddings [B, U], durations [B, U] int32 (0 on padding)}."""
  rng = np.random.default_rng(seed)
  lengths = np.linspace(min_symbols, max_symbols, batch_size).round().astype(int)
  symbols = np.zeros((batch_size, max_symbols), np.int32)
  durations = np.zeros((batch_size, max_symbols), np.int32)
  for b, n in enumerate(lengths):
    symbols[b, :n] = rng.integers(2, num_symbols, n)
    durations[b, :n] = rng.integers(3, 9, n)
  paddings = (np.arange(max_symbols)[None] >= lengths[:, None]).astype(np.float32)
  return {"symbols": symbols, "paddings": paddings, "durations": durations}


class _Ours:
  """Random-weight st_jax TTS + HiFi-GAN generator; `acoustic`, `vocoder`, `synthesize`."""

  def __init__(self, tts_spec: str, vocoder_spec: str, batch: dict, overrides=()):
    import flax.linen as nn  # pylint: disable=g-import-not-at-top
    import jax  # pylint: disable=g-import-not-at-top
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    from st_jax.models import build_model, tts  # pylint: disable=g-import-not-at-top
    self.tts_config, _ = steps.load(tts_spec, *overrides)
    self.vocoder_config, _ = steps.load(vocoder_spec)
    self.tts = build_model(self.tts_config)
    self.vocoder_model = build_model(self.vocoder_config)
    frames = int(batch["durations"].sum(1).max())
    b, u = batch["symbols"].shape
    example = tts.example_batch(self.tts_config, b, 64, u)
    self.tts_params = nn.unbox(jax.jit(self.tts.init)(jax.random.key(0), example))
    example = {"features": np.zeros((1, 4, 80), np.float32),
               "feature_paddings": np.zeros((1, 4), np.float32)}
    self.vocoder_params = nn.unbox(jax.jit(self.vocoder_model.init)(jax.random.key(1), example))
    self.params = {"tts": _count(self.tts_params),
                   "vocoder": _count(self.vocoder_params["generator"])}
    zeros = jnp.zeros((b,), jnp.int32)
    inputs = [jax.device_put(batch[k]) for k in ("symbols", "paddings", "durations")]

    def acoustic(params, symbols, paddings, durations):
      def run(module):
        _, h = module.encode(symbols, paddings, zeros, zeros, zeros)
        log_durations, pitch, energy = module.predict_variances(h, paddings)
        _, mel, frame_paddings = module.render(h, paddings, durations, pitch, energy, frames)
        return mel, frame_paddings, log_durations     # log_durations: keeps the predictor
      return self.tts._apply(params, method=run)       # pylint: disable=protected-access

    self._acoustic = jax.jit(acoustic)
    self._vocoder = jax.jit(self.vocoder_model.generate)
    self._inputs = inputs
    self.mel = self._acoustic(self.tts_params, *inputs)

  def acoustic(self):
    out = self._acoustic(self.tts_params, *self._inputs)
    common.block(out)
    return out

  def vocoder(self, mel=None, paddings=None):
    mel, paddings = (self.mel[0], self.mel[1]) if mel is None else (mel, paddings)
    return np.asarray(self._vocoder(self.vocoder_params, mel, paddings))

  def synthesize(self):
    mel, paddings, _ = self._acoustic(self.tts_params, *self._inputs)
    return self.vocoder(mel, paddings)


def _count(params) -> int:
  import jax  # pylint: disable=g-import-not-at-top
  return int(sum(np.size(x) for x in jax.tree.leaves(params)))


def peer_configs(tts_config, vocoder_config, transformers):
  """(FastSpeech2ConformerConfig, FastSpeech2ConformerHifiGanConfig) with our sizes."""
  model, tts = tts_config.model, tts_config.model.tts
  g = vocoder_config.model.generator
  acoustic = transformers.FastSpeech2ConformerConfig(
      hidden_size=model.d_model, vocab_size=tts.num_symbols,
      num_mel_bins=tts_config.data.n_mels,
      encoder_num_attention_heads=model.num_heads, decoder_num_attention_heads=model.num_heads,
      encoder_layers=model.encoder.num_layers, decoder_layers=model.mel_decoder.num_layers,
      encoder_linear_units=model.encoder.ffn_dim, decoder_linear_units=model.mel_decoder.ffn_dim,
      positionwise_conv_kernel_size=1, encoder_normalize_before=True,
      decoder_normalize_before=True, use_macaron_style_in_conformer=False,
      use_cnn_in_conformer=False,
      speech_decoder_postnet_layers=tts.postnet_layers,
      speech_decoder_postnet_units=tts.postnet_channels,
      speech_decoder_postnet_kernel=tts.postnet_kernel,
      duration_predictor_layers=2, duration_predictor_channels=tts.predictor_filters,
      duration_predictor_kernel_size=tts.predictor_kernel,
      pitch_predictor_layers=2, pitch_predictor_channels=tts.predictor_filters,
      pitch_predictor_kernel_size=tts.predictor_kernel,
      energy_predictor_layers=2, energy_predictor_channels=tts.predictor_filters,
      energy_predictor_kernel_size=tts.predictor_kernel,
      pitch_embed_kernel_size=tts.variance_kernel, energy_embed_kernel_size=tts.variance_kernel)
  vocoder = transformers.FastSpeech2ConformerHifiGanConfig(
      model_in_dim=vocoder_config.data.n_mels, upsample_initial_channel=g.channels,
      upsample_rates=list(g.upsample_rates), upsample_kernel_sizes=list(g.upsample_kernels),
      resblock_kernel_sizes=list(g.resblock_kernels),
      resblock_dilation_sizes=[list(d) for d in g.resblock_dilations], normalize_before=False)
  return acoustic, vocoder


class _Peer:
  """HF FastSpeech2ConformerModel + FastSpeech2ConformerHifiGan on the same batch."""

  def __init__(self, tts_config, vocoder_config, batch: dict):
    self.torch, transformers = common.peer_modules()
    torch = self.torch
    acoustic_config, vocoder_config = peer_configs(tts_config, vocoder_config, transformers)
    torch.manual_seed(0)
    self.model = transformers.FastSpeech2ConformerModel(acoustic_config).eval()
    for module in self.model.modules():   # HF reads layer.conv_module even when it built none
      if hasattr(module, "use_cnn_module") and not module.use_cnn_module:
        module.conv_module = None
    self.vocoder_model = transformers.FastSpeech2ConformerHifiGan(vocoder_config).eval()
    self.params = {"tts": sum(p.numel() for p in self.model.parameters()),
                   "vocoder": sum(p.numel() for p in self.vocoder_model.parameters())}
    self.model.duration_predictor = _FixedDurations(
        self.model.duration_predictor, torch.from_numpy(batch["durations"]).long(), torch)
    self.input_ids = torch.from_numpy(batch["symbols"]).long()
    self.mask = torch.from_numpy((batch["paddings"] < 0.5).astype(np.int64))
    self.mel = self.acoustic()

  def acoustic(self):
    with self.torch.inference_mode():
      return self.model(self.input_ids, attention_mask=self.mask, return_dict=True).spectrogram

  def vocoder(self, mel=None):
    with self.torch.inference_mode():
      return self.vocoder_model(self.mel if mel is None else mel).numpy()

  def synthesize(self):
    return self.vocoder(self.acoustic())


def _FixedDurations(predictor, durations, torch):  # pylint: disable=invalid-name
  """HF's duration predictor, run as usual, its output replaced by ``durations`` [B, U]."""

  class FixedDurations(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.predictor = predictor

    def forward(self, hidden_states):
      self.predictor(hidden_states)
      return durations.clone()
  return FixedDurations().eval()


def _limit(med: dict) -> str:
  """LIMIT with the measured shares and per-part ratios ('' without the peer)."""
  ratios = {p: common.speedup(med[p].get("peer"), med[p]["ours"]) for p in ("acoustic", "vocoder")}
  if None in ratios.values():
    return ""
  share = med["vocoder"]["ours"] / (med["vocoder"]["ours"] + med["acoustic"]["ours"])
  return LIMIT.format(vocoder=share, vocoder_ratio=ratios["vocoder"],
                      acoustic_ratio=ratios["acoustic"])


def run(ctx: common.Context) -> dict:
  tts_spec, vocoder_spec = ("tts:tiny", "vocoder:tiny") if ctx.quick else ("tts:small",
                                                                           "vocoder:small")
  overrides = QUICK_LAYERS if ctx.quick else ()
  batch_size, symbols = (2, (12, 20)) if ctx.quick else (8, (40, 96))
  repeats = ctx.repeats(4)
  batch = sentences(batch_size, *symbols, num_symbols=200)
  frames = int(batch["durations"].sum(1).max())
  audio_s = float(batch["durations"].sum()) * HOP / SAMPLE_RATE
  common.log(f"tts: {tts_spec} + {vocoder_spec}, B={batch_size}, U<={symbols[1]}, T={frames}: "
             f"building both sides")
  start = time.perf_counter()
  ours = _Ours(tts_spec, vocoder_spec, batch, overrides)
  ours_audio = ours.synthesize()                      # compiles both
  compile_s = time.perf_counter() - start
  peer = _Peer(ours.tts_config, ours.vocoder_config, batch) \
      if common.peer_modules() is not None else None
  if peer is not None:
    peer_audio = peer.synthesize()
    assert peer_audio.shape == ours_audio.shape, (peer_audio.shape, ours_audio.shape)
  assert ours_audio.shape == (batch_size, frames * HOP), ours_audio.shape
  common.log(f"tts: {repeats} interleaved repeats of synthesis, acoustic model, vocoder")
  timed = {part: common.interleave({"ours": getattr(ours, part),   # warm: built above
                                    "peer": peer and getattr(peer, part)}, n, warmup=0)
           for part, n in (("synthesize", repeats), ("acoustic", ctx.repeats(2)),
                           ("vocoder", ctx.repeats(2)))}
  med = {part: {k: v["median"] for k, v in t.items()} for part, t in timed.items()}
  ours_s, peer_s = med["synthesize"]["ours"], med["synthesize"].get("peer")
  ratio = common.speedup(peer_s, ours_s)
  rows = [common.row(f"synthesis B={batch_size}, {audio_s:.0f} s of audio (acoustic + vocoder)",
                     "audio s/s", audio_s / ours_s, audio_s / peer_s if peer_s else None,
                     ratio=ratio, goal=f"ratio >= {GOAL_RATIO:g}x",
                     met=None if ratio is None else ratio >= GOAL_RATIO, limit=_limit(med))]
  details = [f"{side}: synthesis {med['synthesize'][side]:.3f} s = acoustic model "
             f"{med['acoustic'][side]:.3f} s + vocoder {med['vocoder'][side]:.3f} s per batch; "
             f"parameters: acoustic {params['tts']:,}, vocoder {params['vocoder']:,}"
             for side, params in (("ours", ours.params), ("peer", peer and peer.params))
             if side in med["synthesize"]]
  for part in ("acoustic", "vocoder"):
    r = common.speedup(med[part].get("peer"), med[part]["ours"])
    if r is not None:
      details.append(f"{part} alone: ours {r:.2f}x the peer's speed")
  details.append(f"ours: compile + first call of both jitted functions {compile_s:.1f} s "
                 f"(not in the timings)")
  settings = dict(ours=f"{tts_spec} + {vocoder_spec} generator", overrides=list(overrides),
                  batch_size=batch_size,
                  symbols=f"{symbols[0]}..{symbols[1]}", frames=frames,
                  audio_seconds=round(audio_s, 2), durations="fixed, uniform 3..8 frames",
                  repeats=repeats, torch_threads=common.TORCH_THREADS,
                  peer_blocks="attention + FFN (no macaron, no conv module)")
  return dict(title=TITLE, settings=settings, peer=common.peer_label("transformers", "torch"),
              rows=rows, measurements=dict(timed, ours_compile_s=round(compile_s, 2),
                                           parameters={"ours": ours.params,
                                                       "peer": peer and peer.params}),
              details=details)
