"""`st-jax export` and the serving runtime: exported == in-process (token-identical text, run
where st_jax cannot be imported), the JAX front end == the numpy one, corrupt or mismatched
artifacts are refused with a clear error, multi-platform (cuda, tpu) lowering on a CPU host."""

import json
import pathlib
import shutil

import jax
import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from serving import artifact, audio_io, cli, export, runtime
from serving.errors import ArtifactError, InputError
from serving_helpers import matching_bucket_seconds, run_without_st_jax, shared_st_workdir
from st_jax import inference
from st_jax.errors import ConfigError

BEAM = 2


@pytest.fixture(scope="module")
def st_export(tone_corpus, tmp_path_factory):
  """(workdir, export dir, test wavs): buckets chosen so each wav decodes with the output
  length the in-process Transcriber uses for it; lowered for cpu and cuda."""
  workdir = shared_st_workdir(tmp_path_factory, tone_corpus)
  wavs = sorted(str(p) for p in pathlib.Path(tone_corpus, "audio").glob("test-*-en.wav"))[:3]
  buckets = sorted({matching_bucket_seconds(sf.info(w).frames) for w in wavs})
  out = tmp_path_factory.mktemp("export") / "st"
  export.export_model(workdir, "translate", str(out), beam_size=BEAM, length_buckets=buckets,
                      platforms=("cpu", "cuda"))
  return workdir, str(out), wavs


def test_runtime_without_st_jax_matches_in_process(st_export, tmp_path_factory):
  workdir, out, wavs = st_export
  script = (
      "import json\n"
      "from serving import runtime\n"
      f"model = runtime.load_artifact({out!r})\n"
      f"texts = model.translate({wavs!r})\n"
      "assert not any(m.split('.')[0] == 'st_jax' for m in sys.modules), 'st_jax imported'\n"
      "print(json.dumps({'texts': texts, 'compiles': model.compile_count}))\n")
  exported = json.loads(run_without_st_jax(script, tmp_path_factory))
  trained = inference.load_trained(workdir)
  transcriber = inference.Transcriber(trained, beam_size=BEAM)
  in_process = [transcriber([wav])[0] for wav in wavs]   # one at a time: L from each wav
  assert exported["texts"] == in_process
  assert all(text for text in in_process)


def test_jax_front_end_equals_numpy(st_export):
  workdir, _, wavs = st_export
  trained = inference.load_trained(workdir)
  data = trained.config.data
  rows = [inference.read_input(w, data.sample_rate) for w in wavs]
  rows += [rows[0][:100], rows[1][:2], rows[2][:4000]]    # shorter than n_fft / 2, the minimum
  length = max(len(r) for r in rows)
  samples = np.zeros((len(rows), length), np.float32)
  for i, row in enumerate(rows):
    samples[i, :len(row)] = row
  counts = np.asarray([len(r) for r in rows], np.int32)
  features, paddings = jax.jit(lambda s, c: export.front_end(s, c, data, trained.stats))(
      samples, counts)
  features, paddings = np.asarray(features), np.asarray(paddings)
  for i, row in enumerate(rows):
    expected = inference.features_of(row, data, trained.stats)
    frames = len(expected)
    # required: 1e-4; the float64 FFT (not on TPU) leaves only float32 CMVN rounding
    np.testing.assert_allclose(features[i, :frames], expected, atol=1e-5, rtol=0)
    assert (paddings[i, :frames] == 0).all() and (paddings[i, frames:] == 1).all()
    assert (features[i, frames:] == 0).all()


def test_manifest_describes_the_artifact(st_export):
  _, out, _ = st_export
  manifest = artifact.read_manifest(out)
  assert manifest["task"] == "translate" and manifest["platforms"] == ["cpu", "cuda"]
  assert (manifest["source_language"], manifest["target_language"]) == ("en", "de")
  assert manifest["sample_rate"] == 16000 and manifest["decoding"]["beam_size"] == BEAM
  assert manifest["versions"]["jax"] == jax.__version__
  names = sorted(p.name for p in pathlib.Path(out).iterdir())
  assert sorted(manifest["files"]) == [n for n in names if n != artifact.MANIFEST]
  for spec in manifest["functions"]:
    exported = jax.export.deserialize(bytearray(pathlib.Path(out, spec["file"]).read_bytes()))
    assert exported.platforms == ("cpu", "cuda")
    assert jax.export.is_symbolic_dim(exported.in_avals[-2].shape[0])
    assert exported.out_avals[0].shape[1] == spec["max_output_tokens"]


def test_tpu_lowering_exports(st_export, tmp_path):
  workdir, _, _ = st_export
  manifest = export.export_model(workdir, "translate", str(tmp_path / "tpu"), beam_size=1,
                                 length_buckets=(0.5,), platforms=("tpu", "cuda"))
  assert manifest["platforms"] == ["cpu", "cuda", "tpu"]
  assert manifest["decoding"]["beam_size"] == 1


def _copy(out: str, tmp_path, name: str) -> pathlib.Path:
  target = tmp_path / name
  shutil.copytree(out, target)
  return target


def _rewrite(directory: pathlib.Path, **changes) -> None:
  """Edits the manifest and recomputes its checksums, as a different exporter would."""
  manifest = json.loads((directory / artifact.MANIFEST).read_text())
  for key, value in changes.items():
    section, _, field = key.partition("__")
    if field:
      manifest[section][field] = value
    else:
      manifest[section] = value
  for key in ("files", artifact.DIGEST_KEY):
    manifest.pop(key)
  artifact.write_manifest(str(directory), manifest)


def test_corrupt_or_mismatched_artifacts_are_refused(st_export, tmp_path):
  _, out, _ = st_export

  def refused(directory, *words):
    with pytest.raises(ArtifactError) as info:
      runtime.load_artifact(str(directory))
    for word in words:
      assert word in str(info.value), str(info.value)

  refused(tmp_path / "nothing", "no such export directory")
  refused(tmp_path, "no manifest.json")
  edited = _copy(out, tmp_path, "edited")
  text = (edited / artifact.MANIFEST).read_text()
  (edited / artifact.MANIFEST).write_text(text.replace('"target_language": "de"',
                                                       '"target_language": "fr"'))
  refused(edited, "edited after export")
  truncated = _copy(out, tmp_path, "truncated")
  weights = truncated / artifact.WEIGHTS
  weights.write_bytes(weights.read_bytes()[:1000])
  refused(truncated, "params.npz", "truncated or was modified")
  missing = _copy(out, tmp_path, "missing")
  manifest = artifact.read_manifest(str(missing))
  (missing / manifest["functions"][0]["file"]).unlink()
  refused(missing, manifest["functions"][0]["file"], "missing")
  newer = _copy(out, tmp_path, "newer")
  _rewrite(newer, versions__jax="99.0.0")
  refused(newer, "exported with jax 99.0.0", f"jax {jax.__version__}")
  future = _copy(out, tmp_path, "future")
  _rewrite(future, format_version=2)
  refused(future, "format_version 2")
  gpu_only = _copy(out, tmp_path, "gpu_only")
  _rewrite(gpu_only, platforms=["cuda"])
  refused(gpu_only, "exported for ['cuda']", "runs 'cpu'")
  swapped = _copy(out, tmp_path, "swapped")
  functions = manifest["functions"]
  if len(functions) > 1:   # a function of another bucket under this bucket's name
    shutil.copyfile(swapped / functions[1]["file"], swapped / functions[0]["file"])
    _rewrite(swapped)
    refused(swapped, functions[0]["file"], "does not match")


def test_runtime_input_errors(st_export):
  _, out, _ = st_export
  model = runtime.load_artifact(out, batch_sizes=(1,))
  cases = [(np.zeros(0, np.float32), "zero samples", 422),
           (np.asarray([0.1, np.nan, 0.2] * 100, np.float32), "NaN or Inf", 422),
           (np.zeros(int(model.max_seconds * 16000) + 1, np.float32), "longer than", 413),
           (np.zeros((2, 400), np.float32), "mono", 422)]
  for samples, words, status in cases:
    with pytest.raises(InputError, match=words) as info:
      model.translate([samples])
    assert info.value.status == status
  with pytest.raises(InputError, match="does 'translate', not 'transcribe'"):
    model.transcribe([np.zeros(1000, np.float32)])
  assert model.compile_count == 0


def test_export_cli_prints_what_it_wrote(st_export, tmp_path, capsys):
  workdir, _, _ = st_export
  out = tmp_path / "cli"
  assert cli.main(["export", "--workdir", workdir, "--task", "translate", "--out", str(out),
                   "--beam", "1", "--buckets", "0.5,1"]) == 0
  printed = capsys.readouterr().out
  for name in ("manifest.json", "params.npz", "target.model", "translate_0.5s.jax",
               "translate_1s.jax", "platforms: cpu"):
    assert name in printed
  assert cli.main(["export", "--workdir", workdir, "--task", "transcribe", "--out",
                   str(tmp_path / "asr")]) == 2
  assert "holds a 'st' model" in capsys.readouterr().err
  with pytest.raises(ConfigError, match="not among"):
    export.export_model(workdir, "translate", str(tmp_path / "x"), platforms=("metal",))
  (tmp_path / "taken").mkdir()
  (tmp_path / "taken" / "notes.txt").write_text("mine")
  with pytest.raises(ConfigError, match="not an export directory"):
    export.export_model(workdir, "translate", str(tmp_path / "taken"))


@pytest.mark.parametrize("rates", [(44100, 16000), (8000, 16000), (48000, 16000),
                                   (16000, 22050)])
def test_resample_equals_scipy(rates):
  x = np.random.default_rng(0).standard_normal(12345).astype(np.float32)
  up, down = rates[1] // np.gcd(*rates), rates[0] // np.gcd(*rates)
  np.testing.assert_allclose(audio_io.resample(x, *rates),
                             scipy.signal.resample_poly(x, up, down), atol=1e-5)


def test_translate_cli_runs_an_export(st_export, tmp_path, capsys):
  _, out, wavs = st_export
  from st_jax import cli as st_cli
  expected = runtime.load_artifact(out).translate(wavs)
  assert st_cli.main(["translate", "--model", out, *wavs]) == 0
  assert capsys.readouterr().out.splitlines() == expected
  assert st_cli.main(["translate", "--model", out, "--workdir", out, *wavs]) == 2
  assert "either --workdir" in capsys.readouterr().err
  (tmp_path / "broken").mkdir()
  assert st_cli.main(["translate", "--model", str(tmp_path / "broken"), *wavs]) == 2
  assert "manifest" in capsys.readouterr().err
