"""SentencePiece tokenizers: round trip, reserved ids, per-language models."""

import numpy as np
import pytest

from st_jax.data import tokenizer as tokenizer_lib
from st_jax.errors import ConfigError

TEXTS = ["Das rote Auto ist hier.", "La voiture rouge est ici.", "The red car is here.",
         "Wir gehen morgen auf den Markt.", "Où est la gare ?", "Vielen Dank.",
         "Anna kauft drei Äpfel.", "Il est sept heures."]


def test_round_trip_and_reserved_ids(tmp_path):
  tok = tokenizer_lib.train_tokenizer(TEXTS, str(tmp_path / "t.model"), vocab_size=200)
  for text in TEXTS:
    ids = tok.encode(text)
    assert ids.dtype == np.int32 and ids.min() > tokenizer_lib.UNK_ID
    assert tok.decode(ids) == text
  ids = tok.encode("Vielen Dank.")
  assert tok.decode([tokenizer_lib.BOS_ID, *ids, tokenizer_lib.EOS_ID, 7, 8]) == "Vielen Dank."
  assert tok.decode([*ids, tokenizer_lib.PAD_ID, tokenizer_lib.PAD_ID]) == "Vielen Dank."
  assert tok.decode([ids[0], tok.vocab_size, tok.vocab_size + 5, *ids[1:]]) == "Vielen Dank."


def test_corpus_tokenizers(tone_corpus):
  shared = tokenizer_lib.load_tokenizer(tone_corpus, "shared", "de")
  german = tokenizer_lib.load_tokenizer(tone_corpus, "per_language", "de")
  assert german.vocab_size < shared.vocab_size
  assert german.decode(german.encode("Das blaue Haus ist klein.")) == "Das blaue Haus ist klein."
  with pytest.raises(ConfigError, match="data.tokenizer='both'"):
    tokenizer_lib.load_tokenizer(tone_corpus, "both", "de")
  with pytest.raises(ConfigError, match="tokenizer_xx.model does not exist"):
    tokenizer_lib.load_tokenizer(tone_corpus, "per_language", "xx")
