"""`st-jax data qa`: the text-only QA corpus in the standard layout, read by the text MT path
(data.task 'mt', tgt_lang 'en' -> the answer column) and scored with exact match."""

import json

import pytest

from st_jax import cli, config_lib, evaluate, inference, metrics
from st_jax import train as train_lib
from st_jax.data import features, pipeline, qa_corpus, storage
from st_jax.data import tokenizer as tokenizer_lib
from st_jax.data.grammar import qa
from st_jax.data.manifest import Utterance, read_manifest, split_path
from st_jax.errors import UserError

QUIET = ["data.batch_size=8", "data.num_buckets=1", "train.warmup_steps=2", "train.eval_split=",
         "train.log_every=2", "train.async_checkpointing=False", "train.num_steps=4",
         "train.checkpoint_every=4"]
MICRO = ["model.d_model=32", "model.num_heads=4", "model.encoder.num_layers=1",
         "model.encoder.ffn_dim=64", "model.decoder.num_layers=1", "model.decoder.ffn_dim=64",
         *QUIET]


@pytest.fixture(scope="module")
def qa_dir(tmp_path_factory):
  out = tmp_path_factory.mktemp("qa")
  assert qa_corpus.write_qa_corpus(str(out), size=60, seed=3) == {"train": 48, "dev": 6,
                                                                  "test": 6}
  return str(out)


def test_rows_hold_question_and_answer_and_no_audio(qa_dir):
  pairs = dict(qa.qa_pairs(60, 3))
  splits = {name: read_manifest(split_path(qa_dir, name)) for name in ("train", "dev", "test")}
  for rows in splits.values():
    for row in rows:
      assert row.lang == "en" and row.audio == "" and row.duration == 0.0
      assert pairs[row.text] == row.translation_en == row.translation("en")
  train_questions = {r.text for r in splits["train"]}
  assert not train_questions & {r.text for r in splits["test"] + splits["dev"]}
  assert (storage.read_index(qa_dir, "test")["num_samples"] == 0).all()
  assert storage.read_metadata(qa_dir)["languages"] == ["en"]


def test_tokenizer_knows_the_answers(qa_dir):
  tok = tokenizer_lib.Tokenizer(tokenizer_lib.tokenizer_path(qa_dir))
  for row in read_manifest(split_path(qa_dir, "test")):
    ids = tok.encode(row.translation_en)
    assert tokenizer_lib.UNK_ID not in ids.tolist() and tok.decode(ids) == row.translation_en


def test_response_pipeline_reads_questions_as_source_and_answers_as_targets(qa_dir):
  config = config_lib.load_config("response:tiny", [f"data.corpus_dir={qa_dir}",
                                                    "data.batch_size=4", "data.num_buckets=1"])
  pipe = pipeline.make_pipeline(config.data, "train", train=False)
  batch = pipe.example_batch(0)
  tok = tokenizer_lib.Tokenizer(tokenizer_lib.tokenizer_path(qa_dir))
  pairs = dict(qa.qa_pairs(60, 3))
  assert "features" not in batch
  for source, target in zip(batch["source_tokens"], batch["targets"]):
    question = tok.decode(source)
    assert tok.decode(target) == pairs[question]


def test_target_rule_keeps_translations_of_speech_corpora():
  row = {"lang": "en", "text": "Hello.", "translation_de": "Hallo.", "translation_en": ""}
  assert features.target_text(row, "de") == "Hallo."
  assert features.target_text(row, "en") == "Hello."
  assert features.target_text({**row, "translation_en": "Hi."}, "en") == "Hi."
  german = Utterance(id="x", audio="a.wav", duration=1.0, lang="de", text="Hallo.",
                     translation_en="Hello.")
  assert german.translation("de") == "Hallo." and german.translation("en") == "Hello."


def test_exact_match_metric():
  out = metrics.translation_metrics(["It is six o'clock.", "Two  is two."],
                                    ["It is six o'clock.", "Two is three."])
  assert out["exact_match"] == pytest.approx(0.5)


def test_response_model_trains_evaluates_and_answers(qa_dir, tmp_path):
  config = config_lib.load_config("response:tiny", [f"data.corpus_dir={qa_dir}", *MICRO])
  train_lib.train_and_evaluate(config, str(tmp_path))
  result = evaluate.evaluate(str(tmp_path), "test", beam_size=1, batch_size=4)
  saved = json.load(open(tmp_path / "eval_test.json"))
  assert result["num_utterances"] == 6 and saved["task"] == "mt"
  assert 0.0 <= saved["metrics"]["exact_match"] <= 1.0 and "bleu" in saved["metrics"]
  translator = inference.TextTranslator(inference.load_trained(str(tmp_path)), beam_size=1)
  answers = translator(["What is two plus two?", ""])
  assert len(answers) == 2 and all(isinstance(a, str) for a in answers)


def test_cli_and_size_errors(tmp_path, capsys):
  assert cli.main(["data", "qa", "--out", str(tmp_path / "c"), "--size", "30"]) == 0
  assert len(read_manifest(split_path(str(tmp_path / "c"), "train"))) == 24
  assert cli.main(["data", "qa", "--out", str(tmp_path / "d"), "--size", "2"]) == 2
  assert "--size 2" in capsys.readouterr().err
  with pytest.raises(UserError, match="at least 3"):
    qa_corpus.qa_rows(1, 0)
