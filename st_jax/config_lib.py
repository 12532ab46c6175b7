"""Loading configs: `load_config("configs/F.py:VARIANT", ["--config.model.d_model=256"])`.

A spec names a module of the repo's `configs/` package ("st_conformer", "configs/st_conformer.py")
or any python file path, optionally followed by ":VARIANT"; its `get_config(variant)` builds an
`ml_collections.ConfigDict` (no variant: the module's default). Overrides are "key=value" with an
optional "--config." / "config." prefix; the value is parsed to the type of the field it
replaces (bool, int, float, str, tuple, None). Unknown modules, keys and bad values raise
`ConfigError` naming them and the nearest valid choices.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import os
import pkgutil
from typing import Any, Sequence

import ml_collections

from st_jax.errors import ConfigError

_NOT_FAMILIES = {"base", "common"}
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def available_configs() -> list[str]:
  """Names of the config families in the `configs` package."""
  import configs  # pylint: disable=g-import-not-at-top
  return sorted(m.name for m in pkgutil.iter_modules(configs.__path__)
                if m.name not in _NOT_FAMILIES and not m.name.startswith("_"))


def _load_module(path_or_name: str):
  if os.path.isfile(path_or_name) and os.path.basename(
      os.path.dirname(os.path.abspath(path_or_name))) != "configs":
    spec = importlib.util.spec_from_file_location(
        os.path.splitext(os.path.basename(path_or_name))[0], path_or_name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
  name = os.path.splitext(os.path.basename(path_or_name))[0]
  families = available_configs()
  if name not in families:
    close = difflib.get_close_matches(name, families, n=3)
    raise ConfigError(f"unknown config {path_or_name!r}"
                      + (f"; did you mean {', '.join(close)}?" if close else "")
                      + f" (available: {', '.join(families)})")
  return importlib.import_module(f"configs.{name}")


def load_config(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
  """Builds the config named by `spec` ("F", "F:VARIANT", "configs/F.py:VARIANT") and applies
  `overrides` ("--config.a.b=value" or "a.b=value")."""
  path, _, variant = spec.partition(":")
  module = _load_module(path)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"config file {path!r} has no get_config(variant) function")
  config = module.get_config(variant) if variant else module.get_config()
  for override in overrides:
    apply_override(config, override)
  return config


def apply_override(config: ml_collections.ConfigDict, override: str) -> None:
  """Sets one "a.b.c=value" (prefix "--config." / "config." optional) in place."""
  key, sep, text = override.partition("=")
  if not sep:
    raise ConfigError(f"config override {override!r} is not of the form --config.key=value")
  key = key.strip().removeprefix("--").removeprefix("config.")
  parts = key.split(".")
  node = config
  for depth, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      choices = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      prefix = ".".join(parts[:depth])
      close = difflib.get_close_matches(part, choices, n=3, cutoff=0.5)
      named = [f"{prefix}.{c}" if prefix else c for c in (close or choices)]
      raise ConfigError(f"unknown config key {key!r}: {prefix or 'config'} has no field {part!r}; "
                        + (f"did you mean {', '.join(named)}?" if close
                           else f"valid keys there: {', '.join(named) or '(none)'}"))
    if depth < len(parts) - 1:
      node = node[part]
  leaf = parts[-1]
  if isinstance(node[leaf], ml_collections.ConfigDict):
    raise ConfigError(f"config key {key!r} is a section; override one of its fields: "
                      f"{', '.join(node[leaf].keys())}")
  node[leaf] = parse_value(key, text.strip(), node[leaf])


def parse_value(key: str, text: str, current: Any) -> Any:
  """`text` parsed to the type of `current` (the field's present value)."""
  def bad(expected):
    return ConfigError(f"bad value {text!r} for config key {key!r}: expected {expected} "
                       f"(current value {current!r})")

  if isinstance(current, bool):
    if text.lower() in _TRUE | _FALSE:
      return text.lower() in _TRUE
    raise bad("a boolean (true/false)")
  if isinstance(current, int):
    try:
      return int(text)
    except ValueError:
      raise bad("an integer") from None
  if isinstance(current, float):
    try:
      return float(text)
    except ValueError:
      raise bad("a number") from None
  if isinstance(current, str):
    return _unquote(text)
  if isinstance(current, (tuple, list)):
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = tuple(_unquote(part.strip()) for part in text.split(",") if part.strip())
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if current and isinstance(current[0], float):
      value = tuple(float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                    for v in value)
    if current and any(type(v) is not type(current[0]) for v in value):
      raise bad(f"a sequence of {type(current[0]).__name__}")
    return type(current)(value)
  if current is None:
    try:
      return ast.literal_eval(text)
    except (ValueError, SyntaxError):
      return _unquote(text)
  raise bad(type(current).__name__)


def _unquote(text: str) -> str:
  if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
    return text[1:-1]
  return text


def save_config(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Writes ``workdir/config.json`` (what `st-jax eval/translate --workdir` rebuild from)."""
  path = os.path.join(workdir, "config.json")
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    f.write(config.to_json_best_effort(indent=1, sort_keys=True))
  os.replace(path + ".tmp", path)
  return path


def load_workdir_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a workdir was trained with (ConfigError when it has none)."""
  import json  # pylint: disable=g-import-not-at-top
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise ConfigError(f"{workdir} has no config.json: is it a workdir of `st-jax train`?")
  with open(path, encoding="utf-8") as f:
    return ml_collections.ConfigDict(json.load(f))


def model_hash(config: ml_collections.ConfigDict) -> str:
  """Hash of what decides the parameter shapes: the model section, task and vocabulary."""
  import hashlib  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  key = {"model": config.model.to_dict(), "task": config.data.task,
         "vocab_size": config.data.vocab_size}
  return hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
