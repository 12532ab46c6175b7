"""load_config: spec forms, typed overrides, and errors that name the key and nearest keys."""

from __future__ import annotations

import textwrap

import pytest

from st_jax import config_lib
from st_jax.errors import ConfigError


@pytest.mark.parametrize("spec", ["st_conformer:small", "configs/st_conformer.py:small",
                                  "configs/st_conformer:small"])
def test_spec_forms_pick_the_variant(spec):
  config = config_lib.load_config(spec)
  assert config.name == "st_conformer:small" and config.model.d_model == 256


def test_spec_without_variant_uses_the_default():
  assert config_lib.load_config("whisper").name == "whisper:tiny"


def test_python_file_outside_the_package(tmp_path):
  path = tmp_path / "mine.py"
  path.write_text(textwrap.dedent("""
      from configs import mt_transformer
      def get_config(variant="tiny"):
        config = mt_transformer.get_config(variant)
        config.name = "mine:" + variant
        return config
  """))
  assert config_lib.load_config(f"{path}:small").name == "mine:small"


def test_typed_overrides():
  config = config_lib.load_config("st_conformer:tiny", [
      "--config.model.encoder.num_layers=3", "model.dropout=0.25", "config.model.dtype=bfloat16",
      "--config.train.async_checkpointing=false", "--config.data.noise_snr_db=(5, 15.5)",
      "--config.model.encoder.conv_norm='group'", "train.learning_rate=1"])
  assert config.model.encoder.num_layers == 3
  assert config.model.dropout == 0.25
  assert config.model.dtype == "bfloat16"
  assert config.train.async_checkpointing is False
  assert config.data.noise_snr_db == (5, 15.5)
  assert config.model.encoder.conv_norm == "group"
  assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)


@pytest.mark.parametrize("override,message", [
    ("--config.model.encoder.num_layer=3", r"model.encoder has no field 'num_layer'.*"
     r"did you mean model.encoder.num_layers"),
    ("--config.modle.d_model=3", r"config has no field 'modle'.*did you mean model"),
    ("--config.model.encoder.num_layers=three", r"'model.encoder.num_layers'.*an integer"),
    ("--config.model.dropout=high", r"'model.dropout'.*a number"),
    ("--config.train.async_checkpointing=maybe", r"boolean"),
    ("--config.data.noise_snr_db=(1, 'loud')", r"a sequence of float"),
    ("--config.model.encoder=3", r"is a section"),
    ("--config.model.d_model", r"--config.key=value"),
])
def test_bad_overrides_raise_config_error(override, message):
  with pytest.raises(ConfigError, match=message):
    config_lib.load_config("st_conformer:tiny", [override])


def test_unknown_config_and_variant():
  with pytest.raises(ConfigError, match=r"unknown config 'st_conformr'.*did you mean st_conformer"):
    config_lib.load_config("st_conformr:tiny")
  with pytest.raises(ConfigError, match=r"valid variants: tiny, small, base, large"):
    config_lib.load_config("st_conformer:medium")
