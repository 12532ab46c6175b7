"""`make bench` (bench/): the quick suite writes one JSON per benchmark with the expected keys
and BENCHMARKS.md gets one table row per benchmark; without the [parity] peers the suite still
runs and says so; the report is generated from JSON only."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common, report  # noqa: E402  pylint: disable=wrong-import-position
from bench.run import BENCHMARKS  # noqa: E402  pylint: disable=wrong-import-position

RESULT_KEYS = {"name", "title", "quick", "machine", "settings", "peer", "rows", "measurements",
               "details", "elapsed_s"}
MACHINE_KEYS = {"cpu", "cores", "jax", "flax", "torch", "transformers", "device"}
ROW_KEYS = {"label", "unit", "ours", "peer", "ratio", "goal", "met", "peer_note", "limit"}


def run_bench(tmp_path, *args, no_peer=False):
  """Runs `python -m bench.run --quick` in a fresh process at jax's defaults (no fake devices)."""
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
  if no_peer:
    env["BENCH_NO_PEER"] = "1"
  out, markdown = tmp_path / "results", tmp_path / "BENCHMARKS.md"
  proc = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out),
                         "--markdown", str(markdown), *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return out, markdown.read_text(encoding="utf-8"), proc.stdout


def check_result(path, name):
  result = json.loads(path.read_text(encoding="utf-8"))
  assert RESULT_KEYS <= set(result), sorted(RESULT_KEYS - set(result))
  assert result["name"] == name and result["quick"] is True
  assert MACHINE_KEYS <= set(result["machine"])
  assert result["rows"], f"{name} has no table rows"
  for row in result["rows"]:
    assert ROW_KEYS <= set(row), sorted(ROW_KEYS - set(row))
    assert isinstance(row["ours"], float) and row["ours"] > 0
  assert path.stat().st_size < 20_000, f"{path.name} is not small"
  return result


# The quick suite with the peers runs these; test_without_peers_our_side_still_runs the rest.
WITHOUT_PEERS = ("frontend", "pipeline", "tts")
WITH_PEERS = tuple(name for name in BENCHMARKS if name not in WITHOUT_PEERS)


@pytest.mark.slow
def test_quick_suite_writes_every_result_and_table_row(tmp_path):
  """Every benchmark not run by the no-peer test below, in one `--quick` run with its peers."""
  assert set(WITH_PEERS) | set(WITHOUT_PEERS) == set(BENCHMARKS) and len(WITH_PEERS) >= 5
  out, markdown, stdout = run_bench(tmp_path, "--only", ",".join(WITH_PEERS))
  for name in WITH_PEERS:
    result = check_result(out / f"{name}.json", name)
    rows = [line for line in markdown.splitlines() if line.startswith(f"| {name}: ")]
    assert len(rows) == len(result["rows"]), (name, rows)
  train = json.loads((out / "train_step.json").read_text())
  if common.peer_modules() is not None:   # [parity] installed: measured side by side
    assert all(row["peer"] and row["ratio"] for row in train["rows"])
    assert "peer_s" in next(iter(train["measurements"].values()))
  assert "make bench" in markdown and "| benchmark | ours | peer | ratio | goal | met? |" in \
      markdown
  assert "=== scaling done" in stdout


def test_without_peers_our_side_still_runs(tmp_path):
  out, markdown, _ = run_bench(tmp_path, "--only", ",".join(WITHOUT_PEERS), no_peer=True)
  frontend = check_result(out / "frontend.json", "frontend")
  check_result(out / "pipeline.json", "pipeline")
  tts = check_result(out / "tts.json", "tts")
  for result in (frontend, tts):
    assert all(row["peer"] is None and row["ratio"] is None and row["met"] is None
               for row in result["rows"])
    assert "peer not measured (install .[parity]" in result["peer"]
  assert tts["rows"][0]["peer_note"] == common.PEER_MISSING
  assert set(tts["measurements"]["synthesize"]) == {"ours"}
  assert "| frontend: " in markdown and "| pipeline: " in markdown and "| tts: " in markdown
  assert not (out / "train_step.json").exists()


def test_report_is_generated_from_json_only(tmp_path):
  machine = {"cpu": "Test CPU", "cores": 2, "usable_cores": 2, "jax": "0", "flax": "0",
             "torch": None, "transformers": None, "device": "cpu:cpu x1"}
  rows = [common.row("step", "s", 1.5, None, goal="ratio >= 1"),
          common.row("speed", "x", 2.0, 1.0, ratio=2.0, goal="ratio >= 5x", met=False,
                     limit="2 cores")]
  common.write_json(str(tmp_path), "train_step", dict(
      name="train_step", title="T", quick=False, machine=machine, settings={"B": 8},
      peer=common.PEER_MISSING, rows=rows, measurements={}, details=["d1"], elapsed_s=1.0))
  markdown = pathlib.Path(report.write_report(str(tmp_path), str(tmp_path / "B.md"))).read_text()
  assert "| train_step: step | 1.5 s | peer not measured (install .[parity]) | - |" in markdown
  assert "| train_step: speed | 2 x | 1 x | 2.00x | ratio >= 5x | **no** |" in markdown
  assert "goal missed: speed; goal ratio >= 5x; limited by: 2 cores" in markdown
  assert "Test CPU, 2 cores" in markdown and "Quick run" not in markdown


@pytest.mark.parity
def test_tts_peer_has_our_sizes_and_renders_the_fixed_durations():
  """The HF peer built from our configs: the same HiFi-GAN generator (equal parameter count,
  T * 160 samples), an acoustic model within 5 % of ours, and exactly sum(d) frames."""
  pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  import jax  # pylint: disable=g-import-not-at-top
  from bench import steps, tts  # pylint: disable=g-import-not-at-top
  from st_jax.models import build_model  # pylint: disable=g-import-not-at-top
  from st_jax.models import tts as tts_model  # pylint: disable=g-import-not-at-top
  tts_config, _ = steps.load("tts:small")
  vocoder_config, _ = steps.load("vocoder:small")
  count = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))
  ours_tts = count(jax.eval_shape(build_model(tts_config).init, jax.random.key(0),
                                  tts_model.example_batch(tts_config)))
  ours_vocoder = count(jax.eval_shape(build_model(vocoder_config).init, jax.random.key(0), {
      "features": np.zeros((1, 4, 80), np.float32),
      "feature_paddings": np.zeros((1, 4), np.float32)})["generator"])
  acoustic, vocoder = tts.peer_configs(tts_config, vocoder_config, transformers)
  hf_vocoder = transformers.FastSpeech2ConformerHifiGan(vocoder).eval()
  assert sum(p.numel() for p in hf_vocoder.parameters()) == ours_vocoder
  hf_tts = transformers.FastSpeech2ConformerModel(acoustic)
  assert abs(sum(p.numel() for p in hf_tts.parameters()) / ours_tts - 1.0) < 0.05

  tiny, _ = steps.load("tts:tiny")
  small_vocoder, _ = steps.load("vocoder:tiny")
  batch = tts.sentences(2, 5, 9, num_symbols=50)
  peer = tts._Peer(tiny, small_vocoder, batch)  # pylint: disable=protected-access
  totals = batch["durations"].sum(1)
  assert tuple(peer.mel.shape) == (2, totals.max(), 80)
  assert peer.vocoder().shape == (2, totals.max() * tts.HOP)


@pytest.mark.slow
def test_server_synthesis_load_answers_every_text(tmp_path):
  """The synthesize part of the server benchmark (full runs only): every text gets audio and
  the load runs without errors."""
  pytest.importorskip("uvicorn", reason="needs the [serve] extra")
  from bench import pipeline, server  # pylint: disable=g-import-not-at-top
  pipeline.tone_corpus(str(tmp_path / "corpus"), 20)
  result = server.synthesis_load(str(tmp_path), (2,), 2.0)
  assert len(result["audio_s"]) == len(server.TEXTS) and min(result["audio_s"]) > 0
  load = result["levels"][2]
  assert load["throughput"] > 0 and not load["errors"]
  row, = server._synthesis_rows(result)  # pylint: disable=protected-access
  assert row["unit"] == "audio s/s" and row["ours"] > 0
