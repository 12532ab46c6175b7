"""Manifest TSV: round trip and clear errors for bad files."""

import pytest

from st_jax.data.manifest import Utterance, read_manifest, write_manifest
from st_jax.errors import ManifestError

HEADER = "id\taudio\tduration\tlang\ttext\ttranslation_de\ttranslation_fr\tspeaker\temotion\n"


def test_round_trip_keeps_every_field(tmp_path):
  rows = [Utterance("u1", str(tmp_path / "a.wav"), 1.25, "en", "Hello.", "Hallo.", "Bonjour.",
                    "v1", "happy", alignment=[["h", 0.0, 0.1], ["ə", 0.1, 0.3]]),
          Utterance("u2", str(tmp_path / "sub" / "b.wav"), 2.0, "de", "Wo ist es?",
                    translation_fr="Où est-il ?", translation_en="Where is it?")]
  path = tmp_path / "train.tsv"
  assert write_manifest(str(path), rows) == 2
  assert "\tsub/b.wav\t" in path.read_text(encoding="utf-8")  # stored relative
  assert read_manifest(str(path)) == rows


@pytest.mark.parametrize("content, message", [
    (b"", "empty manifest"),
    (b"id\taudio\ttext\n", "missing column(s) duration, lang"),
    (HEADER.encode() + b"u1\ta.wav\t1.0\ten\thi\n", "expected 9 tab-separated fields, found 5"),
    (HEADER.encode() + b"u1\ta.wav\tlong\ten\thi\t\t\ts\t\n", "duration 'long' is not a number"),
    (HEADER.encode() + b"u1\ta.wav\t1\ten\thi\t\t\ts\t\nu1\tb.wav\t1\ten\tho\t\t\ts\t\n",
     ":3: duplicate id 'u1'"),
    (HEADER.encode() + b"u1\ta.wav\t1\ten\tcaf\xe9\t\t\ts\t\n", ":2: line is not valid UTF-8"),
])
def test_bad_manifest_gives_a_clear_error(tmp_path, content, message):
  path = tmp_path / "bad.tsv"
  path.write_bytes(content)
  with pytest.raises(ManifestError, match="bad.tsv") as error:
    read_manifest(str(path))
  assert message in str(error.value)


def test_missing_manifest(tmp_path):
  with pytest.raises(ManifestError, match="does not exist"):
    read_manifest(str(tmp_path / "nope.tsv"))


def test_tab_in_a_field_is_refused_and_nothing_is_overwritten(tmp_path):
  path = tmp_path / "m.tsv"
  write_manifest(str(path), [Utterance("u1", "a.wav", 1.0, "en", "fine")])
  before = path.read_bytes()
  with pytest.raises(ManifestError, match="tab or newline"):
    write_manifest(str(path), [Utterance("u2", "a.wav", 1.0, "en", "bad\ttext")])
  assert path.read_bytes() == before
