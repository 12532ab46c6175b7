"""`st-jax data prepare`: format readers on tiny fixtures in each corpus' exact layout, their
error messages for bad input, and the import through `prepare_corpus` into manifests."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest
import soundfile as sf

from st_jax.data import importers
from st_jax.data import importers_translation
from st_jax.data import prepare
from st_jax.data.manifest import read_manifest, split_path
from st_jax.errors import AudioError, ConfigError, ManifestError

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
RATE = 16000


def tone(path: pathlib.Path, seconds: float, rate: int = RATE) -> pathlib.Path:
  """A 16-bit sine clip at ``path`` (wav or flac from the suffix)."""
  path.parent.mkdir(parents=True, exist_ok=True)
  t = np.arange(round(seconds * rate)) / rate
  sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate,
           subtype="PCM_16")
  return path


def by_id(splits):
  """{split: {id: row}} for assertions."""
  return {name: {row.id: row for row in rows} for name, rows in splits.items()}


# --------------------------------------------------------------------------------- fixtures


def make_librispeech(root: pathlib.Path) -> pathlib.Path:
  """Subsets train-clean-100, train-other-500, dev-clean, dev-other; 2 utterances each."""
  for number, subset in enumerate(("train-clean-100", "train-other-500", "dev-clean",
                                   "dev-other")):
    speaker, chapter = str(100 + number), "2000"
    lines = []
    for utt in range(2):
      uid = f"{speaker}-{chapter}-{utt:04d}"
      tone(root / subset / speaker / chapter / f"{uid}.flac", 0.2 + 0.1 * utt)
      lines.append(f"{uid} HELLO WORLD {utt}")
    (root / subset / speaker / chapter / f"{speaker}-{chapter}.trans.txt").write_text(
        "\n".join(lines) + "\n")
  return root


MUSTC_SEGMENTS = [("ted_1.wav", 0.1, 0.5), ("ted_1.wav", 0.7, 0.25), ("ted_2.wav", 0.0, 1.0)]


def make_mustc(root: pathlib.Path) -> pathlib.Path:
  """en-de with train/dev/tst-COMMON; each talk's sample i holds the value i (a ramp)."""
  for split in ("train", "dev", "tst-COMMON"):
    data = root / "en-de" / "data" / split
    (data / "wav").mkdir(parents=True)
    (data / "txt").mkdir()
    for talk in ("ted_1.wav", "ted_2.wav"):
      sf.write(data / "wav" / talk, np.arange(2 * RATE, dtype=np.int16), RATE,
               subtype="PCM_16")
    yaml = [f"- {{duration: {d:.6f}, offset: {o:.6f}, rec_id: {w[:-4]}, speaker_id: spk.1, "
            f"wav: {w}}}" for w, o, d in MUSTC_SEGMENTS]
    (data / "txt" / f"{split}.yaml").write_text("\n".join(yaml) + "\n")
    (data / "txt" / f"{split}.en").write_text("Hello.\nThank you.\nGood night.\n")
    (data / "txt" / f"{split}.de").write_text("Hallo.\nDanke.\nGute Nacht.\n")
  return root


def make_covost(root: pathlib.Path, with_covost: bool = True) -> pathlib.Path:
  """Common Voice French (dir named 'fr') with train/dev/test.tsv (+ CoVoST fr->en TSVs)."""
  for split in ("train", "dev", "test"):
    cv = ["client_id\tpath\tsentence\tup_votes"]
    covost = ["path\tsentence\ttranslation\tclient_id"]
    for utt in range(2):
      clip = f"cv_{split}_{utt}.wav"
      tone(root / "clips" / clip, 0.3)
      cv.append(f"client{utt}\t{clip}\tBonjour {utt}.\t2")
      covost.append(f"{clip}\tBonjour {utt}.\tHello {utt}.\tclient{utt}")
    (root / f"{split}.tsv").write_text("\n".join(cv) + "\n")
    if with_covost:
      (root / f"covost_v2.fr_en.{split}.tsv").write_text("\n".join(covost) + "\n")
  return root


def make_tsv(root: pathlib.Path) -> pathlib.Path:
  """train.tsv (header, translation column), dev.tsv and test.tsv (no header), relative paths."""
  for split, header in (("train", "audio\ttext\ttranslation\n"), ("dev", ""), ("test", "")):
    lines = [header]
    for utt in range(2):
      tone(root / "clips" / f"{split}{utt}.wav", 0.25)
      lines.append(f"clips/{split}{utt}.wav\tgood morning {utt}\tguten Morgen {utt}\n")
    (root / f"{split}.tsv").write_text("".join(lines))
  return root


def make_fsdd(root: pathlib.Path) -> pathlib.Path:
  """recordings/<digit>_<speaker>_<index>.wav at 8 kHz, no manifest.tsv (the original repo)."""
  for digit in (3, 5):
    for index in (0, 4, 5, 9, 10, 49):
      tone(root / "recordings" / f"{digit}_anna_{index}.wav", 0.2, rate=8000)
  return root


def make_ljspeech(root: pathlib.Path) -> pathlib.Path:
  """metadata.csv with 4 rows (one with raw text only) + wavs/."""
  lines = []
  for utt in range(1, 5):
    uid = f"LJ001-{utt:04d}"
    tone(root / "wavs" / f"{uid}.wav", 0.2 * utt, rate=22050)
    lines.append(f"{uid}|In 1455 {utt}|" + (f"In fourteen fifty-five {utt}" if utt < 4 else ""))
  (root / "metadata.csv").write_text("\n".join(lines) + "\n")
  return root


BUILDERS = {"librispeech": make_librispeech, "mustc": make_mustc, "covost": make_covost,
            "tsv": make_tsv, "fsdd": make_fsdd, "ljspeech": make_ljspeech}


# ---------------------------------------------------------------------------------- readers


def test_librispeech_subsets_become_splits(tmp_path):
  splits = by_id(importers.read_librispeech(str(make_librispeech(tmp_path)), str(tmp_path)))
  assert sorted(splits) == ["dev", "dev_other", "train"]
  assert sorted(splits["train"]) == ["100-2000-0000", "100-2000-0001", "101-2000-0000",
                                     "101-2000-0001"]
  row = splits["dev"]["102-2000-0001"]
  assert (row.text, row.speaker, row.lang) == ("HELLO WORLD 1", "102", "en")
  assert row.duration == pytest.approx(0.3) and row.audio.endswith("102-2000-0001.flac")


def test_librispeech_single_subset_is_split_by_id_hash(tmp_path):
  make_librispeech(tmp_path)
  splits = importers.read_librispeech(str(tmp_path / "train-clean-100"), str(tmp_path))
  placed = {row.id: name for name, rows in splits.items() for row in rows}
  assert sorted(placed) == ["100-2000-0000", "100-2000-0001"]
  assert all(importers.hash_split(uid) == name for uid, name in placed.items())


def test_hash_split_is_stable_and_90_5_5():
  names = [importers.hash_split(f"utt{i}") for i in range(20000)]
  assert names == [importers.hash_split(f"utt{i}") for i in range(20000)]
  assert 0.88 < names.count("train") / len(names) < 0.92
  assert 0.04 < names.count("test") / len(names) < 0.06


CHAPTER = pathlib.Path("train-clean-100") / "100" / "2000"
TRANSCRIPT = CHAPTER / "100-2000.trans.txt"


@pytest.mark.parametrize("damage, message", [
    (lambda root: (root / TRANSCRIPT).unlink(), r"100-2000\.trans\.txt is missing"),
    (lambda root: (root / CHAPTER / "100-2000-0001.flac").unlink(),
     r"trans\.txt:2: no audio file 100-2000-0001\.flac"),
    (lambda root: tone(root / CHAPTER / "100-2000-0007.flac", 0.1),
     r"100-2000-0007\.flac has no line in .*100-2000\.trans\.txt"),
    (lambda root: (root / TRANSCRIPT).write_bytes(b"100-2000-0000 A\n100-2000-0001 \xff\n"),
     r"100-2000\.trans\.txt:2: line is not valid UTF-8"),
    (lambda root: (root / TRANSCRIPT).write_text("100-2000-0000 A\n100-2000-0001\n"),
     r"trans\.txt:2: expected 'ID TEXT'"),
])
def test_librispeech_bookkeeping_errors_name_file_and_line(tmp_path, damage, message):
  make_librispeech(tmp_path)
  damage(tmp_path)
  with pytest.raises(ManifestError, match=message):
    importers.read_librispeech(str(tmp_path), str(tmp_path))


@pytest.mark.parametrize("without_pyyaml", [False, True])
@pytest.mark.parametrize("src", ["", "en-de"])
def test_mustc_segments_are_cut_from_the_talks(tmp_path, monkeypatch, src, without_pyyaml):
  if without_pyyaml:
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` raises ImportError
  root = make_mustc(tmp_path / "MUSTC_v1.0")
  splits = importers_translation.read_mustc(str(root / src), str(tmp_path / "out"))
  assert sorted(splits) == ["dev", "test", "train"]
  rows = splits["test"]
  assert [r.id for r in rows] == ["ted_1_0", "ted_1_1", "ted_2_0"]
  assert [r.text for r in rows] == ["Hello.", "Thank you.", "Good night."]
  assert [r.translation_de for r in rows] == ["Hallo.", "Danke.", "Gute Nacht."]
  for row, (_, offset, seconds) in zip(rows, MUSTC_SEGMENTS):
    samples, rate = sf.read(row.audio, dtype="int16")
    assert row.audio == str(tmp_path / "out" / "audio" / "test" / f"{row.id}.wav")
    assert rate == RATE and len(samples) == round(seconds * RATE)
    assert samples[0] == round(offset * RATE) and samples[-1] == samples[0] + len(samples) - 1
    assert row.duration == pytest.approx(seconds) and row.speaker == "spk.1"


def test_mustc_line_count_mismatch_names_files_and_counts(tmp_path):
  root = make_mustc(tmp_path)
  (root / "en-de" / "data" / "dev" / "txt" / "dev.de").write_text("Hallo.\nDanke.\n")
  with pytest.raises(ManifestError, match=r"dev\.yaml has 3 .*dev\.en has 3 .*dev\.de has 2"):
    importers_translation.read_mustc(str(root), str(tmp_path / "out"))


def test_mustc_segment_past_the_end_of_its_talk(tmp_path):
  root = make_mustc(tmp_path)
  yaml = root / "en-de" / "data" / "train" / "txt" / "train.yaml"
  yaml.write_text(yaml.read_text().replace("offset: 0.700000", "offset: 1.900000"))
  with pytest.raises(ManifestError, match=r"train\.yaml: segment 2 .* lies outside .*ted_1"):
    importers_translation.read_mustc(str(root), str(tmp_path / "out"))


def test_covost_translations_are_joined_by_clip_path(tmp_path):
  splits = by_id(importers_translation.read_covost(str(make_covost(tmp_path / "fr")), ""))
  assert sorted(splits) == ["dev", "test", "train"]
  row = splits["dev"]["cv_dev_1"]
  assert (row.lang, row.text, row.translation_en, row.speaker) == (
      "fr", "Bonjour 1.", "Hello 1.", "client1")
  assert row.duration == pytest.approx(0.3) and row.audio.endswith("clips/cv_dev_1.wav")


def test_common_voice_without_covost_takes_language_from_folder(tmp_path):
  root = make_covost(tmp_path / "fr", with_covost=False)
  splits = by_id(importers_translation.read_covost(str(root), ""))
  row = splits["train"]["cv_train_0"]
  assert (row.lang, row.text, row.translation_en) == ("fr", "Bonjour 0.", "")


def test_covost_release_tsv_with_split_column_and_validated_only(tmp_path):
  root = make_covost(tmp_path / "fr", with_covost=False)
  (root / "covost_v2.fr_en.tsv").write_text(
      "path\tsentence\ttranslation\tsplit\ncv_train_0.wav\tBonjour 0.\tHello 0.\ttrain_covost\n"
      "cv_dev_1.wav\tBonjour 1.\tHello 1.\tdev\n")
  splits = by_id(importers_translation.read_covost(str(root), ""))
  assert {name: sorted(rows) for name, rows in splits.items()} == {
      "train": ["cv_train_0"], "dev": ["cv_dev_1"]}
  assert splits["train"]["cv_train_0"].speaker == "client0"  # joined from train.tsv by path
  (root / "covost_v2.fr_en.tsv").unlink()
  for split in ("train", "dev"):
    (root / f"{split}.tsv").unlink()
  (root / "test.tsv").rename(root / "validated.tsv")
  splits = importers_translation.read_covost(str(root), "")
  assert {r.id: name for name, rows in splits.items() for r in rows} == {
      uid: importers.hash_split(uid) for uid in ("cv_test_0", "cv_test_1")}


def test_mp3_clips_need_a_decoder_or_a_converted_copy(tmp_path, monkeypatch):
  monkeypatch.setattr(importers_translation, "mp3_supported", lambda: False)
  converted = tone(tmp_path / "clips" / "a.wav", 0.1)
  assert importers_translation.resolve_clip(str(tmp_path / "clips" / "a.mp3")) == str(converted)
  with pytest.raises(AudioError, match=r"b\.mp3: .*cannot decode MP3.*ffmpeg"):
    importers_translation.resolve_clip(str(tmp_path / "clips" / "b.mp3"))


def test_covost_tsv_missing_a_column(tmp_path):
  root = make_covost(tmp_path / "fr")
  (root / "covost_v2.fr_en.dev.tsv").write_text("path\tsentence\nx.wav\tBonjour.\n")
  with pytest.raises(ManifestError, match=r"covost_v2\.fr_en\.dev\.tsv: missing column\(s\) "
                                          r"translation"):
    importers_translation.read_covost(str(root), "")


def test_tsv_directory_with_header_and_translations(tmp_path):
  splits = by_id(importers_translation.read_tsv(str(make_tsv(tmp_path)), "", src_lang="en",
                                                tgt_lang="fr"))
  assert {name: sorted(rows) for name, rows in splits.items()} == {
      "train": ["clips_train0", "clips_train1"], "dev": ["clips_dev0", "clips_dev1"],
      "test": ["clips_test0", "clips_test1"]}
  row = splits["dev"]["clips_dev1"]
  assert (row.text, row.translation_fr, row.translation_de) == (
      "good morning 1", "guten Morgen 1", "")
  assert row.audio == str(tmp_path / "clips" / "dev1.wav") and row.duration == 0.25


def test_single_tsv_file_is_split_by_id_hash(tmp_path):
  lines = [f"{tone(tmp_path / f'u{i}.wav', 0.05)}\tword {i}" for i in range(30)]
  (tmp_path / "all.tsv").write_text("\n".join(lines) + "\n")
  splits = importers_translation.read_tsv(str(tmp_path / "all.tsv"), "")
  placed = {row.id: name for name, rows in splits.items() for row in rows}
  assert len(placed) == 30 and len(splits["train"]) >= 20
  assert all(importers.hash_split(uid) == name for uid, name in placed.items())
  assert splits["train"][0].translation_de == "" and splits["train"][0].lang == "en"


def test_tsv_row_with_missing_columns(tmp_path):
  (tmp_path / "train.tsv").write_text("path\ttext\na.wav\thello\nb.wav\n")
  with pytest.raises(ManifestError, match=r"train\.tsv:3: expected audio<TAB>text"):
    importers_translation.read_tsv(str(tmp_path), "")


def test_fsdd_from_file_names(tmp_path):
  splits = by_id(importers.read_fsdd(str(make_fsdd(tmp_path)), ""))
  assert {name: sorted(rows) for name, rows in splits.items()} == {
      "test": ["3_anna_0", "3_anna_4", "5_anna_0", "5_anna_4"],
      "dev": ["3_anna_5", "3_anna_9", "5_anna_5", "5_anna_9"],
      "train": ["3_anna_10", "3_anna_49", "5_anna_10", "5_anna_49"]}
  row = splits["train"]["5_anna_49"]
  assert (row.text, row.translation_de, row.translation_fr, row.speaker) == (
      "five", "fünf", "cinq", "anna")
  assert row.duration == pytest.approx(0.2)


def test_ljspeech_normalized_text_and_tail_split(tmp_path):
  splits = by_id(importers.read_ljspeech(str(make_ljspeech(tmp_path)), ""))
  assert {name: sorted(rows) for name, rows in splits.items()} == {
      "train": ["LJ001-0001", "LJ001-0002"], "dev": ["LJ001-0003"], "test": ["LJ001-0004"]}
  assert splits["train"]["LJ001-0002"].text == "In fourteen fifty-five 2"
  assert splits["test"]["LJ001-0004"].text == "In 1455 4"  # no normalized text: raw text
  assert splits["dev"]["LJ001-0003"].speaker == "lj"


def test_unknown_format_missing_source_and_foreign_option(tmp_path):
  with pytest.raises(ConfigError, match="unknown corpus format 'wav2vec'.*librispeech"):
    prepare.prepare_corpus("wav2vec", str(tmp_path), str(tmp_path / "out"))
  with pytest.raises(ManifestError, match=r"corpus source .*nowhere does not exist"):
    prepare.prepare_corpus("ljspeech", str(tmp_path / "nowhere"), str(tmp_path / "out"))
  with pytest.raises(ConfigError, match="'fsdd' does not take tgt_lang"):
    prepare.read_corpus("fsdd", str(tmp_path), "", tgt_lang="fr")


def test_cli_prints_the_reader_error_without_traceback(tmp_path, capsys):
  from st_jax import cli  # pylint: disable=g-import-not-at-top
  missing = tmp_path / "LibriSpeech"
  assert cli.main(["data", "prepare", "--format", "librispeech", "--src", str(missing),
                   "--out", str(tmp_path / "out")]) == 2
  assert f"corpus source {missing} does not exist" in capsys.readouterr().err


# ------------------------------------------------------------------------------ end to end


def test_unreadable_audio_is_left_to_the_writer(tmp_path, capsys):
  root = make_tsv(tmp_path / "src")
  with open(root / "train.tsv", "a") as f:
    f.write("clips/gone.wav\tlost words\n")
  rows = importers_translation.read_tsv(str(root), "")["train"]
  assert rows[-1].id == "clips_gone" and rows[-1].duration == 0.0
  with pytest.raises(AudioError, match=r"gone\.wav"):
    prepare.prepare_corpus("tsv", str(root), str(tmp_path / "strict"), workers=1)
  counts = prepare.prepare_corpus("tsv", str(root), str(tmp_path / "out"), workers=1,
                                  on_bad_audio="skip", tokenizer_vocab=40)
  assert counts == {"train": 2, "dev": 2, "test": 2}
  assert "tsv train: 2 utterances (0.00 h read, 1 skipped)" in capsys.readouterr().out


@pytest.mark.parametrize("corpus_format", sorted(BUILDERS))
def test_prepare_corpus_writes_readable_manifests(tmp_path, corpus_format):
  src = BUILDERS[corpus_format](tmp_path / "src")
  out = tmp_path / "out"
  expected = prepare.read_corpus(corpus_format, str(src), str(tmp_path / "scratch"))
  counts = prepare.prepare_corpus(corpus_format, str(src), str(out), tokenizer_vocab=40,
                                  workers=1)
  assert counts == {name: len(rows) for name, rows in expected.items()}
  for name, rows in expected.items():
    written = read_manifest(split_path(str(out), name))
    assert [(r.id, r.text, r.translation_de, r.translation_en) for r in written] == [
        (r.id, r.text, r.translation_de, r.translation_en) for r in rows]
    assert all(sf.info(r.audio).frames > 0 for r in written)
  assert (out / "tokenizer.model").exists()


# ------------------------------------------------------------------------------ shared data


def shared(name: str) -> pathlib.Path:
  path = SHARED_DATA / name
  if not path.is_dir():
    pytest.skip(f"{path} is absent (a fresh clone has no ../shared/data)")
  return path


@pytest.mark.shared_data
def test_shared_fsdd_counts_match_its_readme():
  splits = importers.read_fsdd(str(shared("fsdd")), "")
  rows = [row for split in splits.values() for row in split]
  # README: 10 digits x 50 repetitions x 5 speakers; index 0-4 are test (5 speakers here).
  assert len(rows) == 2500 and len(splits["test"]) == 250 and len(splits["dev"]) == 250
  assert len({row.speaker for row in rows}) == 5
  assert sum(row.duration for row in rows) / 3600 == pytest.approx(0.30, abs=0.02)
  five = next(row for row in rows if row.id == "5_george_3")
  assert (five.text, five.translation_de, five.translation_fr) == ("five", "fünf", "cinq")


@pytest.mark.shared_data
def test_shared_ljspeech_subset_imports(tmp_path):
  counts = prepare.prepare_corpus("ljspeech", str(shared("ljspeech_subset")),
                                  str(tmp_path), tokenizer_vocab=200, workers=1)
  assert counts == {"train": 28, "dev": 2, "test": 2}  # README: 32 utterances
  rows = [row for name in counts for row in read_manifest(split_path(str(tmp_path), name))]
  assert sum(row.duration for row in rows) == pytest.approx(221.7, abs=0.1)
  assert rows[0].id == "LJ001-0001" and rows[0].text.startswith("Printing, in the only sense")
