"""The registry of sentence templates and rendering by name."""

from __future__ import annotations

from typing import Mapping

from st_jax.data.grammar import (templates_clauses, templates_everyday, templates_people,
                                 templates_things)
from st_jax.data.grammar.common import Template, Triple

TEMPLATES: dict[str, Template] = {
    t.name: t for module in (templates_everyday, templates_people, templates_things,
                             templates_clauses)
    for t in module.TEMPLATES}


def render_slots(template: str, slots: Mapping[str, str]) -> Triple:
  """The (en, de, fr) sentences of ``template`` with the given slot values."""
  if template not in TEMPLATES:
    raise KeyError(f"unknown template {template!r}; known: {', '.join(sorted(TEMPLATES))}")
  return TEMPLATES[template].render(slots)
