"""Errors of the serving runtime. They do not derive from `st_jax.errors.UserError` because the
runtime must work without `st_jax` installed; `serving.cli` prints them like the st-jax CLI
prints a UserError (one line, exit status 2).
"""


class ServingError(Exception):
  """Base class: a problem with an artifact, an input or the server's options."""


class ArtifactError(ServingError):
  """An export directory that cannot be used: missing or corrupt files, an edited manifest, a
  platform or version this runtime cannot run. The message names the file and what to do."""


class InputError(ServingError):
  """Audio a caller sent that cannot be decoded: empty, not audio, NaN/Inf, too long, wrong
  task. `status` is the HTTP status the server answers with (4xx)."""

  def __init__(self, message: str, status: int = 422):
    super().__init__(message)
    self.status = status
