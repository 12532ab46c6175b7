"""The traced pieces of the synthesize and s2st exports (`tts_export.py` serializes them).

Shapes: B batch, U symbols, U* the symbol axis of the render stage, T frames, D TTS model
dim, F mel bins, H hop samples, L output tokens, V SentencePiece pieces, P the longest piece in
characters, N = L P characters before compaction.

Synthesis is two stages because the frame count is known only once the durations are:

  acoustic  symbols [B, U], counts [B], speaker, emotion, lang [B], rate, pitch_shift,
            energy_scale [B]
            -> h [B, U, D] = Encoder(e) + c          (TTSModel.encode)
               durations [B, U] i32, pitch, energy   (TTSModel.predict_variances, controls in)
  render    h, symbol paddings, durations, pitch, energy [B, U*, ...], T (static)
            -> mel' = FastSpeech2.render(...) at T frames (after the postnet)
               log_mel = mel' std + mean, = ln 1e-10 on frames t >= sum_u d_u
               audio   = vocoder(log_mel, frame paddings)          [B, T H]
               frames  = sum_u d_u (clipped to T)                  [B]

which is what `st_jax.synthesis.Synthesizer` computes (its two jitted calls, the host-side
de-normalisation and its vocoder call). Valid outputs do not depend on U*, T or the batch
(padded symbols and frames are masked everywhere), so rows of any length share a batch.

Characters of the best translation, in the graph (`token_symbols`): with table[v] the TTS
symbol ids of piece v's characters (0 = none, -1 = whitespace, '▁' is whitespace),

  ok_l     = l < first EOS, y_l not PAD/BOS, 0 <= y_l < V
  c        = compact(table[y] * ok)                   [B, N] the non-empty characters in order
  keep_j   = c_j is not whitespace, or c_j is the first whitespace after a non-whitespace
             character and some non-whitespace character follows
  symbols  = compact(c with whitespace -> the space symbol, keep)[:, :capacity]

where compact(x, m) moves the x_j with m_j to the front in order (positions cumsum(m) - 1, a
scatter) and zero-fills: i.e. `characters_of(sp.decode(ids))` (lower-cased, whitespace runs
collapsed, ends stripped) mapped through the TTS inventory (unknown characters -> UNK).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from st_jax.data import audio as audio_lib
from st_jax.data import tts_symbols
from st_jax.data.tokenizer import BOS_ID, EOS_ID, PAD_ID
from st_jax.errors import ConfigError

SPACE = -1          # table entry of a whitespace character
LOG_FLOOR = np.float32(np.log(audio_lib.LOG_FLOOR))


def acoustic(synth, params, symbols, counts, speaker, emotion, lang, controls):
  """Stage 1 (module doc) -> (h [B, U, D], durations [B, U] i32, pitch, energy [B, U])."""
  from st_jax.models.tts import Controls  # pylint: disable=g-import-not-at-top
  paddings = (jnp.arange(symbols.shape[1])[None, :] >= counts[:, None]).astype(jnp.float32)
  model = synth.model
  durations, pitch, energy = model.predict_variances(params, symbols, paddings, speaker,
                                                     emotion, lang, Controls(*controls))
  batch = {"symbols": symbols, "symbol_paddings": paddings, "speaker": speaker,
           "emotion": emotion, "lang": lang}
  return model.encode(params, batch).memory, durations, pitch, energy


def render(synth, params, vocoder_params, h, symbol_counts, durations, pitch, energy,
           num_frames: int):
  """Stage 2 (module doc) -> (audio [B, T H], log_mel [B, T, F], frames [B] i32)."""
  paddings = (jnp.arange(h.shape[1])[None, :] >= symbol_counts[:, None]).astype(jnp.float32)
  _, mel, frame_paddings = synth.model.module.apply(
      {"params": params}, h, paddings, durations, pitch, energy, num_frames, method="render")
  stats = synth.model.stats.mel
  log_mel = mel * stats.std.astype(np.float32) + stats.mean.astype(np.float32)
  log_mel = jnp.where(frame_paddings[..., None] > 0.5, LOG_FLOOR, log_mel)
  audio = synth.vocoder.apply(vocoder_params, log_mel, frame_paddings)
  frames = jnp.sum(frame_paddings < 0.5, axis=1).astype(jnp.int32)
  return audio.astype(jnp.float32), log_mel, frames


def compact(values, keep):
  """values, keep [B, N] -> [B, N]: the values with keep, moved to the front in order, then 0."""
  size = values.shape[1]
  position = jnp.where(keep, jnp.cumsum(keep, axis=1) - 1, size)
  rows = jnp.arange(values.shape[0])[:, None]
  return jnp.zeros_like(values).at[rows, position].set(values, mode="drop")


def token_symbols(tokens, table, space_id: int, capacity: int):
  """tokens [B, L] -> (symbols [B, capacity] i32, counts [B] i32 before the cut to capacity)
  (module doc)."""
  vocab, piece = table.shape
  table = jnp.asarray(table, jnp.int32)
  before_eos = jnp.cumsum(tokens == EOS_ID, axis=1) == 0
  ok = before_eos & (tokens != PAD_ID) & (tokens != BOS_ID) & (tokens >= 0) & (tokens < vocab)
  chars = jnp.where(ok[..., None], table[jnp.clip(tokens, 0, vocab - 1)], 0)
  chars = compact(chars.reshape(tokens.shape[0], -1), chars.reshape(tokens.shape[0], -1) != 0)
  letter, space = chars > 0, chars == SPACE
  previous = jnp.pad(letter[:, :-1], ((0, 0), (1, 0)))
  after = (jnp.cumsum(letter[:, ::-1], axis=1)[:, ::-1] - letter) > 0
  keep = letter | (space & previous & after)
  symbols = compact(jnp.where(space, space_id, chars), keep)
  if symbols.shape[1] < capacity:
    symbols = jnp.pad(symbols, ((0, 0), (0, capacity - symbols.shape[1])))
  return symbols[:, :capacity], jnp.sum(keep, axis=1).astype(jnp.int32)


def piece_table(sp, inventory) -> np.ndarray:
  """[V, P] int32: the TTS symbol ids of each SentencePiece piece's lower-cased characters
  (whitespace and '▁' -> SPACE, control pieces empty, <unk> as decode writes it)."""
  if inventory.kind != "characters":
    raise ConfigError("piece_table needs a character TTS inventory")
  rows = []
  for i in range(sp.get_piece_size()):
    if sp.is_byte(i):
      raise ConfigError(f"the ST tokenizer has byte pieces ({sp.id_to_piece(i)!r}); an s2st "
                        f"export needs one without byte fallback")
    if sp.is_control(i):
      surface = ""
    elif sp.is_unknown(i):
      surface = sp.decode([i])
    else:
      surface = sp.id_to_piece(i).replace("\u2581", " ")
    rows.append([SPACE if c.isspace() else int(inventory.encode([c])[0])
                 for c in surface.lower()])
  table = np.zeros((len(rows), max(1, max(len(r) for r in rows))), np.int32)
  for i, row in enumerate(rows):
    table[i, :len(row)] = row
  return table


def check_piece_table(sp, inventory, table: np.ndarray, space_id: int, trials: int = 300,
                      seed: int = 0) -> None:
  """Random id sequences (with PAD/BOS/EOS mixed in): `token_symbols` must equal the inventory
  ids of `characters_of(decode(ids))`, as in-process synthesis sees the text; ConfigError
  naming the first sequence that differs (a tokenizer whose decode is not piece by piece)."""
  rng = np.random.default_rng(seed)
  vocab = sp.get_piece_size()
  tokens = rng.integers(0, vocab + 2, (trials, 12)).astype(np.int32)
  symbols, counts = jax.jit(lambda t: token_symbols(t, table, space_id, 12 * table.shape[1]))(
      tokens)
  for row, got, count in zip(tokens.tolist(), np.asarray(symbols), np.asarray(counts)):
    ids = row[:row.index(EOS_ID)] if EOS_ID in row else row
    text = sp.decode([i for i in ids if i not in (PAD_ID, BOS_ID) and i < vocab])
    want = inventory.encode(tts_symbols.characters_of(text)) if text.strip() else []
    if list(got[:count]) != list(want):
      raise ConfigError(f"ST tokenizer ids {row} decode to {text!r}, which the in-graph "
                        f"character table does not reproduce; this tokenizer cannot be "
                        f"exported for s2st")
