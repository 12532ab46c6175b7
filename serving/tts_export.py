"""`st-jax export --task synthesize | s2st`: speech out, as one export directory.

  st-jax export --task synthesize --workdir TTS_W [--vocoder griffin_lim|VOCODER_W] --out DIR
  st-jax export --task s2st --workdir ST_W --tts-workdir TTS_W [--vocoder V] --out DIR

Shape legend: B batch (symbolic), U symbols of a symbol bucket, U* the longest, T frames of a
frame bucket, D TTS model dim, N samples of an audio bucket, L its output tokens.

Files (besides manifest.json and params.npz, which hold the TTS, vocoder and, for s2st, ST
weights under tts/, vocoder/, st/):

  acoustic_U{U}.jax   synthesize: one per symbol bucket; text symbols -> h, durations, pitch,
                      energy (`tts_graph.acoustic`, the duration-prediction call of
                      `Synthesizer`)
  s2st_{S}s.jax       s2st: one per audio bucket; samples -> tokens (front end, encoder, beam
                      search: `export.inference_function`) -> characters in the graph
                      (`tts_graph.token_symbols`) -> the acoustic stage on them
  render_T{T}.jax     both: one per frame bucket; the rendering call at T frames, the mel
                      de-normalised, the vocoder (`tts_graph.render`); symbol axis U*
  target.model        s2st: the ST SentencePiece model (the runtime writes X-Translation)

The symbol table (characters or phonemes, id = index + 2), speakers, languages, emotions and
control limits are in the manifest's ``tts`` section, so a character model needs nothing on the
serving host beyond the runtime; a phoneme model needs espeak-ng there (the [synth] extra).
S2ST needs a character TTS of the ST target language: the graph maps each SentencePiece piece
to its characters with a [V, P] table (`tts_graph.piece_table`, checked against
SentencePiece's decode on random id sequences at export time).
"""

from __future__ import annotations

import os
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import sentencepiece as spm

from serving import artifact, export, tts_graph
from st_jax import inference
from st_jax.data.manifest import EMOTIONS, LANGS
from st_jax.errors import ConfigError

TASKS = ("synthesize", "s2st")
DEFAULT_SYMBOL_BUCKETS = artifact.DEFAULT_SYMBOL_BUCKETS
DEFAULT_FRAME_BUCKETS = artifact.DEFAULT_FRAME_BUCKETS
DEFAULT_S2ST_SYMBOLS = artifact.DEFAULT_S2ST_SYMBOLS
# The controls a request may set: (lowest, highest, default).
CONTROLS = {"rate": (0.25, 4.0, 1.0), "pitch_shift": (-12.0, 12.0, 0.0),
            "energy_scale": (0.0, 4.0, 1.0)}
INT, FLOAT = jnp.int32, jnp.float32


def _buckets(values: Sequence[int], limit: int, what: str, field: str) -> list[int]:
  chosen = sorted({int(v) for v in values})
  if not chosen or chosen[0] < 1:
    raise ConfigError(f"export {what} buckets must be positive integers, got {list(values)}")
  if chosen[-1] > limit:
    raise ConfigError(f"export {what} bucket {chosen[-1]} exceeds {field}={limit}; use "
                      f"buckets up to {limit}")
  return chosen


def load_synthesizer(workdir: str, vocoder: str, step: int | None):
  from st_jax.synthesis import Synthesizer  # pylint: disable=g-import-not-at-top
  return Synthesizer(workdir, step, vocoder)


def _tts_fields(synth, symbol_buckets, frame_buckets, render_symbols) -> dict:
  meta = synth.meta
  return {
      "tts": {"symbols": {"kind": synth.inventory.kind, "table": synth.inventory.symbols,
                          "pad_id": 0, "unk_id": 1},
              "languages": synth.languages,
              "language_ids": {l: LANGS.index(l) if l in LANGS else -1 for l in synth.languages},
              "speakers": list(meta["speakers"]),
              "speakers_by_lang": {k: list(v) for k, v in
                                   meta.get("speakers_by_lang", {}).items()},
              "emotions": list(EMOTIONS),
              "controls": {k: list(v) for k, v in CONTROLS.items()},
              "sample_rate": synth.sample_rate, "hop_length": int(synth.vocoder.hop_length),
              "vocoder": synth.vocoder.name, "render_symbols": int(render_symbols)},
      "symbol_buckets": list(symbol_buckets), "frame_buckets": list(frame_buckets),
  }


class _Writer:
  """Stages an export: the weights tree (written once), then functions of (weights, ...)."""

  def __init__(self, out_dir: str, tree: dict, platforms: Sequence[str]):
    self.platforms = export.check_platforms(platforms)
    self.staging = export.prepare_out(out_dir)
    self.out_dir = out_dir
    leaves, self.weights = export.write_weights(self.staging, tree)
    self.treedef = jax.tree.structure(tree)
    self.weight_specs = [jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype) for x in leaves]
    self.batch, = jax.export.symbolic_shape("batch")
    self.functions: list[dict] = []
    self.exported = None

  def spec(self, dtype, *dims):
    return jax.ShapeDtypeStruct((self.batch, *dims), dtype)

  def controls(self) -> list:
    """speaker, emotion, lang [B] i32; rate, pitch_shift, energy_scale [B] f32."""
    return [self.spec(INT)] * 3 + [self.spec(FLOAT)] * 3

  def add(self, fn, file: str, specs: Sequence, **fields) -> None:
    tree = lambda weights: jax.tree.unflatten(self.treedef, weights)
    self.exported = export.serialize(lambda w, *args: fn(tree(w), *args), self.staging, file,
                                     self.platforms, self.weight_specs, *specs)
    self.functions.append({"file": file, **fields})

  def finish(self, manifest: dict) -> dict:
    manifest.update(weights=self.weights, functions=self.functions)
    artifact.write_manifest(self.staging, manifest)
    export.replace_out(self.staging, self.out_dir)
    return artifact.read_manifest(self.out_dir)


def _acoustic_fn(synth):
  def fn(tree, symbols, counts, speaker, emotion, lang, rate, pitch_shift, energy_scale):
    return tts_graph.acoustic(synth, tree["tts"], symbols, counts, speaker, emotion, lang,
                              (rate, pitch_shift, energy_scale))
  return fn


def _add_render(writer: _Writer, synth, frame_buckets, render_symbols: int) -> None:
  h = jax.eval_shape(lambda p: synth.model.encode(p, {
      "symbols": jnp.zeros((1, 8), INT), "symbol_paddings": jnp.zeros((1, 8), FLOAT),
      "speaker": jnp.zeros(1, INT), "emotion": jnp.zeros(1, INT),
      "lang": jnp.zeros(1, INT)}).memory, synth.params)
  for frames in frame_buckets:
    def fn(tree, h, counts, durations, pitch, energy, frames=frames):
      return tts_graph.render(synth, tree["tts"], tree["vocoder"], h, counts, durations, pitch,
                              energy, frames)
    writer.add(fn, f"render_T{frames}.jax",
               [writer.spec(h.dtype, render_symbols, h.shape[-1]), writer.spec(INT),
                writer.spec(INT, render_symbols), writer.spec(FLOAT, render_symbols),
                writer.spec(FLOAT, render_symbols)], stage="render", frames=frames)


def _frame_buckets(synth, frame_buckets) -> list[int]:
  tts, model = synth.config.model.tts, synth.config.model
  limit = min(int(tts.max_synthesis_frames), int(model.mel_decoder.max_length))
  return _buckets(frame_buckets, limit, "frame", "min(model.tts.max_synthesis_frames, "
                  "model.mel_decoder.max_length)")


def export_synthesize(workdir: str, out_dir: str, vocoder: str = "griffin_lim",
                      symbol_buckets: Sequence[int] = DEFAULT_SYMBOL_BUCKETS,
                      frame_buckets: Sequence[int] = DEFAULT_FRAME_BUCKETS,
                      platforms: Sequence[str] = ("cpu",), step: int | None = None) -> dict:
  """A TTS workdir (+ vocoder) -> a synthesize export in ``out_dir`` -> its manifest."""
  synth = load_synthesizer(workdir, vocoder, step)
  symbol_buckets = _buckets(symbol_buckets, int(synth.config.model.encoder.max_length),
                            "symbol", "model.encoder.max_length")
  frame_buckets = _frame_buckets(synth, frame_buckets)
  writer = _Writer(out_dir, {"tts": synth.params, "vocoder": synth.vocoder.params}, platforms)
  for symbols in symbol_buckets:
    writer.add(_acoustic_fn(synth), f"acoustic_U{symbols}.jax",
               [writer.spec(INT, symbols), writer.spec(INT), *writer.controls()],
               stage="acoustic", symbols=symbols)
  _add_render(writer, synth, frame_buckets, symbol_buckets[-1])
  manifest = export.manifest_header("synthesize", writer.platforms, writer.exported, workdir,
                                    synth.step, synth.config)
  manifest.update(_tts_fields(synth, symbol_buckets, frame_buckets, symbol_buckets[-1]),
                  sample_rate=synth.sample_rate)
  return writer.finish(manifest)


def _s2st_parts(st_workdir: str, tts_workdir: str, vocoder: str, step, tts_step):
  trained = export.load_for_export(st_workdir, "translate", step)
  synth = load_synthesizer(tts_workdir, vocoder, tts_step)
  target = trained.config.data.tgt_lang
  if synth.inventory.kind != "characters":
    raise ConfigError(f"{tts_workdir} reads {synth.inventory.kind}; an s2st export turns the "
                      f"translation into characters in the graph, so it needs a character "
                      f"TTS: train one with --config.data.tts_symbols=characters "
                      f"--config.model.tts.durations=learned")
  if target not in synth.languages:
    raise ConfigError(f"{st_workdir} translates into {target!r} but {tts_workdir} speaks "
                      f"{', '.join(synth.languages)}; train the TTS with "
                      f"--config.data.src_lang={target}")
  return trained, synth


def export_s2st(st_workdir: str, tts_workdir: str, out_dir: str, vocoder: str = "griffin_lim",
                length_buckets: Sequence[float] = artifact.DEFAULT_BUCKETS,
                frame_buckets: Sequence[int] = DEFAULT_FRAME_BUCKETS,
                max_symbols: int = DEFAULT_S2ST_SYMBOLS, beam_size: int = 4,
                length_penalty: float = 1.0, platforms: Sequence[str] = ("cpu",),
                step: int | None = None, tts_step: int | None = None) -> dict:
  """An ST workdir + a character TTS of its target language (+ vocoder) -> one s2st export
  (English speech in, German speech out) in ``out_dir`` -> its manifest."""
  trained, synth = _s2st_parts(st_workdir, tts_workdir, vocoder, step, tts_step)
  decoder = inference.make_decoder(trained, beam_size, length_penalty)
  buckets = export.make_buckets(length_buckets, trained.config.data, decoder)
  frame_buckets = _frame_buckets(synth, frame_buckets)
  sp = spm.SentencePieceProcessor(model_file=trained.target_tokenizer.model_path)
  table = tts_graph.piece_table(sp, synth.inventory)
  space = int(synth.inventory.encode([" "])[0])
  tts_graph.check_piece_table(sp, synth.inventory, table, space)
  limit = min(int(max_symbols), int(synth.config.model.encoder.max_length))
  capacities = [min(b.max_output_tokens * table.shape[1], limit) for b in buckets]
  writer = _Writer(out_dir, {"st": trained.params, "tts": synth.params,
                             "vocoder": synth.vocoder.params}, platforms)
  for bucket, capacity in zip(buckets, capacities):
    infer = export.inference_function(trained, decoder, bucket)

    def fn(tree, samples, counts, *controls, infer=infer, capacity=capacity):
      tokens, _ = infer(jax.tree.leaves(tree["st"]), samples, counts)
      symbols, total = tts_graph.token_symbols(tokens, table, space, capacity)
      outputs = _acoustic_fn(synth)(tree, symbols, jnp.minimum(total, capacity), *controls)
      return (tokens, symbols, total, *outputs)
    writer.add(fn, f"s2st_{bucket.seconds:g}s.jax",
               [writer.spec(FLOAT, bucket.max_samples), writer.spec(INT), *writer.controls()],
               stage="s2st", symbols=capacity, **export.bucket_fields(bucket))
  _add_render(writer, synth, frame_buckets, max(capacities))
  manifest = export.manifest_header("s2st", writer.platforms, writer.exported, st_workdir,
                                    trained.step, trained.config)
  manifest.update(export.speech_input_fields(trained, "s2st", writer.staging, beam_size,
                                             length_penalty, 0.0))
  manifest.update(_tts_fields(synth, capacities, frame_buckets, max(capacities)),
                  tts_source={"workdir": os.path.abspath(tts_workdir), "step": int(synth.step)})
  return writer.finish(manifest)


def describe(out_dir: str, manifest: dict) -> str:
  """What `st-jax export` prints for a synthesize or s2st export."""
  tts = manifest["tts"]
  head = (f"{manifest['source_language']}->{manifest['target_language']} speech, beam "
          f"{manifest['decoding']['beam_size']}" if manifest["task"] == "s2st" else
          f"{tts['symbols']['kind']} -> speech in {', '.join(tts['languages'])}")
  lines = [f"wrote {out_dir} ({manifest['task']}: {head}, vocoder {tts['vocoder']}, "
           f"{manifest['weights']['parameters']:,} parameters):"]
  for name in [artifact.MANIFEST] + sorted(manifest["files"]):
    size = os.path.getsize(os.path.join(out_dir, name))
    lines.append(f"  {name:<28} {size / 1024:10.1f} KiB")
  if manifest["task"] == "s2st":
    lines.append("  audio buckets: " + ", ".join(
        f"{f['bucket_seconds']:g} s (<= {f['max_output_tokens']} tokens, {f['symbols']} "
        f"characters)" for f in manifest["functions"] if f["stage"] == "s2st"))
  else:
    lines.append(f"  symbol buckets: {', '.join(map(str, manifest['symbol_buckets']))}")
  lines.append(f"  frame buckets: {', '.join(map(str, manifest['frame_buckets']))} (x "
               f"{tts['hop_length']} samples at {tts['sample_rate']} Hz)")
  lines.append(f"  platforms: {', '.join(manifest['platforms'])}; batch: any (symbolic)")
  return "\n".join(lines)
