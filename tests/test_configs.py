"""Every config variant builds and initialises abstractly (jax.eval_shape, no memory), with the
parameter counts its name promises."""

from __future__ import annotations

import importlib

import flax.linen as nn
import jax
import pytest

from st_jax import config_lib, info, sharding
from st_jax.errors import ConfigError
from st_jax.models import build_model, example_batch

FAMILIES = config_lib.available_configs()
ALL_VARIANTS = [(family, variant) for family in FAMILIES
                for variant in importlib.import_module(f"configs.{family}").VARIANTS]
M = 1_000_000
# The CPU test size of each family (whisper's "tiny" is OpenAI's 37M-parameter model).
TEST_VARIANT = {family: "mini" if family == "whisper" else "tiny" for family in FAMILIES}

# (family, variant) -> (lowest, highest) total parameters.
EXPECTED = {
    ("st_conformer", "small"): (25 * M, 35 * M),
    ("st_conformer", "base"): (100 * M, 140 * M),
    ("st_conformer", "large"): (600 * M, 1200 * M),
    ("asr_conformer", "small"): (25 * M, 35 * M),
    ("asr_conformer", "base"): (100 * M, 140 * M),
    ("mt_transformer", "base"): (60 * M, 100 * M),
    ("classifier", "small"): (5 * M, 20 * M),
    ("pretrain_bestrq", "xl"): (1_100 * M, 1_300 * M),   # ~1B encoder + front end + heads
    # HF Speech2TextForConditionalGeneration with fairseq s2t_transformer_s and vocab 8000.
    ("s2t_transformer", "small"): (29_024_256, 29_024_256),
    # HF WhisperForConditionalGeneration totals minus its 1500 x D fixed encoder positions.
    ("whisper", "tiny"): (37_760_640 - 1500 * 384,) * 2,
    ("whisper", "base"): (72_593_920 - 1500 * 512,) * 2,
    ("whisper", "small"): (241_734_912 - 1500 * 768,) * 2,
    # HiFi-GAN V2 / V1 generators (0.87M / 13.0M) + the paper's MPD (41.1M) and MSD (29.6M).
    ("vocoder", "small"): (70 * M, 73 * M),
    ("vocoder", "base"): (82 * M, 86 * M),
}
# Top-level modules and logical axis names of families that are not speech encoders.
MODULES = {"vocoder": {"generator", "mpd", "msd"}}
AXIS_NAMES = {"vocoder": {"conv"}}


def test_every_family_is_listed():
  assert set(FAMILIES) == {"st_conformer", "asr_conformer", "mt_transformer", "s2t_transformer",
                           "whisper", "classifier", "pretrain_bestrq", "response", "tts",
                           "vocoder"}


@pytest.mark.parametrize("family,variant", ALL_VARIANTS, ids=[f"{f}:{v}" for f, v in ALL_VARIANTS])
def test_variant_initialises_abstractly_with_expected_size(family, variant):
  config = config_lib.load_config(f"{family}:{variant}")
  counts = info.parameter_counts(config)
  assert counts["total"] == sum(v for k, v in counts.items() if k != "total")
  assert MODULES.get(family, {"frontend", "encoder"}) <= set(counts)
  if variant == TEST_VARIANT[family]:
    assert counts["total"] < 2 * M
  low, high = EXPECTED.get((family, variant), (0, float("inf")))
  assert low <= counts["total"] <= high, counts


@pytest.mark.parametrize("family", FAMILIES)
def test_shared_fields_and_unknown_variant(family):
  module = importlib.import_module(f"configs.{family}")
  config = module.get_config()
  assert config.data.sample_rate == 16000 and config.data.n_mels == 80
  assert config.data.vocab_size > 0 and config.data.src_lang and config.data.tgt_lang
  assert {"learning_rate", "num_steps", "warmup_steps", "label_smoothing"} <= set(config.train)
  assert (config.mesh.data, config.mesh.fsdp, config.mesh.tensor) == (-1, 1, 1)
  assert config.name.startswith(f"{family}:")
  assert "st-jax train --config configs/" in module.__doc__
  with pytest.raises(ConfigError, match="valid variants: " + ", ".join(module.VARIANTS)):
    module.get_config("huge")


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_params_all_carry_rule_table_names(family):
  config = config_lib.load_config(f"{family}:{TEST_VARIANT[family]}")
  model = build_model(config)
  abstract = jax.eval_shape(model.init, jax.random.key(0), example_batch(config))
  leaves = jax.tree_util.tree_leaves(abstract, is_leaf=lambda x: isinstance(x, nn.Partitioned))
  assert all(isinstance(leaf, nn.Partitioned) for leaf in leaves)
  names = {name for leaf in leaves for name in leaf.names if name is not None}
  assert names <= sharding.LOGICAL_AXIS_NAMES
  assert AXIS_NAMES.get(family, {"embed", "heads", "kv", "mlp"}) <= names


def test_s2t_small_matches_fairseq_s2t_transformer_s():
  config = config_lib.load_config("s2t_transformer:small")
  model = config.model
  assert (model.d_model, model.num_heads, model.encoder.num_layers, model.decoder.num_layers,
          model.encoder.ffn_dim, model.frontend.channels, config.data.vocab_size) == (
              256, 4, 12, 6, 2048, 1024, 8000)
  assert model.encoder.position_offset == 2 and model.decoder.scale_embedding


def test_run_info_table():
  counts = info.parameter_counts(config_lib.load_config("s2t_transformer:tiny"))
  lines = info.run_info("s2t_transformer:tiny").splitlines()
  assert lines[0] == "s2t_transformer:tiny"
  assert lines[-1].split() == ["total", f"{counts['total']:,}"]
  assert ["decoder", f"{counts['decoder']:,}"] in [line.split() for line in lines]
  overridden = info.run_info("s2t_transformer:tiny", ["--config.model.decoder.num_layers=1"])
  assert int(overridden.splitlines()[-1].split()[1].replace(",", "")) < counts["total"]
