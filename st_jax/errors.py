"""Errors a user can cause. The CLI prints these without a traceback.

Every message names the file, field or value at fault and what to do about it.
"""


class UserError(Exception):
  """Base class: a problem with the user's input, config or environment."""


class AudioError(UserError):
  """Audio that cannot be used: missing, corrupt, empty, NaN, wrong format."""


class ManifestError(UserError):
  """A manifest/transcript file with missing columns, bad lines or bad encoding."""


class ConfigError(UserError):
  """An unknown config key, a bad value, or a workdir that belongs to another config."""


class MissingExtraError(UserError):
  """An optional dependency group is needed, e.g. `pip install 'st-jax[synth]'`."""

  def __init__(self, extra: str, purpose: str, module: str):
    super().__init__(
        f"{purpose} needs the optional extra [{extra}] (python module {module!r} is not installed). "
        f"Install it with: pip install -e '.[{extra}]'")
    self.extra = extra


class NotYetBuiltError(UserError):
  """A CLI command that is named in the design but not implemented in this version."""
