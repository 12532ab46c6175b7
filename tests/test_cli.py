"""The `st-jax` console script: clear messages, no tracebacks, exit codes."""

import subprocess
import sys

import pytest


def run(*args):
  return subprocess.run([sys.executable, "-m", "st_jax.cli", *args], capture_output=True,
                        text=True, timeout=120)


def test_planned_command_says_so_without_traceback():
  result = run("s2st", "x.wav")
  assert result.returncode == 2
  assert "not available in this version yet" in result.stderr
  assert "Traceback" not in result.stderr


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
