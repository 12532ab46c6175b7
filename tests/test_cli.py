"""The `st-jax` console script: clear messages, no tracebacks, exit codes."""

import subprocess
import sys

import pytest


def run(*args):
  return subprocess.run([sys.executable, "-m", "st_jax.cli", *args], capture_output=True,
                        text=True, timeout=120)


def test_s2st_without_workdirs_is_one_line(tmp_path):
  result = run("s2st", "--workdir", str(tmp_path / "st"), "--tts-workdir", str(tmp_path / "tts"),
               "x.wav", "--out", str(tmp_path / "y.wav"))
  assert result.returncode == 2
  assert "has no config.json" in result.stderr and "Traceback" not in result.stderr


def test_unknown_command_is_an_argparse_error():
  result = run("fly")
  assert result.returncode == 2 and "invalid choice: 'fly'" in result.stderr


def test_user_error_is_one_line(tmp_path):
  result = run("data", "prepare", "--format", "tsv", "--src", str(tmp_path / "nothing"),
               "--out", str(tmp_path / "out"))
  assert result.returncode == 2
  assert "Traceback" not in result.stderr and "nothing" in result.stderr


@pytest.mark.parametrize("size", ["2"])
def test_synth_rejects_a_corpus_too_small_to_split(tmp_path, size):
  result = run("data", "synth", "--out", str(tmp_path / "c"), "--size", size)
  assert result.returncode == 2 and "--size 2" in result.stderr
  assert "Traceback" not in result.stderr
