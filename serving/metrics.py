"""Prometheus text exposition (format 0.0.4) without a client library: counters, gauges and
histograms with labels, rendered by `Registry.render` for GET /metrics.

A histogram with upper bounds u_1 < ... < u_n exports, per label set, the cumulative counts
``<name>_bucket{le="u_i"} = #{x <= u_i}`` and ``le="+Inf"`` (all), ``<name>_sum`` and
``<name>_count``. Updates take a lock, so the event loop and worker threads may both record.
"""

from __future__ import annotations

import bisect
import threading
from typing import Callable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(names: tuple[str, ...], values: tuple, extra: str = "") -> str:
  parts = [f'{n}="{str(v)}"' for n, v in zip(names, values)]
  if extra:
    parts.append(extra)
  return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
  return repr(float(value)) if value != int(value) else str(int(value))


class _Metric:
  kind = ""

  def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()):
    self.name, self.help, self.label_names = name, help_text, tuple(labels)
    self._lock = threading.Lock()

  def header(self) -> list[str]:
    return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


class Counter(_Metric):
  """Monotonic count per label values."""
  kind = "counter"

  def __init__(self, name, help_text, labels=()):
    super().__init__(name, help_text, labels)
    self._values: dict[tuple, float] = {}

  def inc(self, *labels, amount: float = 1.0) -> None:
    with self._lock:
      self._values[labels] = self._values.get(labels, 0.0) + amount

  def value(self, *labels) -> float:
    return self._values.get(labels, 0.0)

  def render(self) -> list[str]:
    with self._lock:
      items = sorted(self._values.items())
    return self.header() + [f"{self.name}{_labels(self.label_names, k)} {_number(v)}"
                            for k, v in items]


class Gauge(_Metric):
  """A value read at render time from ``read()``."""
  kind = "gauge"

  def __init__(self, name, help_text, read: Callable[[], float]):
    super().__init__(name, help_text)
    self.read = read

  def render(self) -> list[str]:
    return self.header() + [f"{self.name} {_number(self.read())}"]


class Histogram(_Metric):
  """Observations counted into cumulative buckets with upper bounds ``bounds``."""
  kind = "histogram"

  def __init__(self, name, help_text, bounds, labels=()):
    super().__init__(name, help_text, labels)
    self.bounds = tuple(sorted(float(b) for b in bounds))
    self._series: dict[tuple, list] = {}   # labels -> [counts per bound + inf, sum]

  def observe(self, value: float, *labels) -> None:
    with self._lock:
      series = self._series.setdefault(labels, [[0] * (len(self.bounds) + 1), 0.0])
      series[0][bisect.bisect_left(self.bounds, value)] += 1
      series[1] += value

  def count(self, *labels) -> int:
    series = self._series.get(labels)
    return sum(series[0]) if series else 0

  def render(self) -> list[str]:
    lines = self.header()
    with self._lock:
      items = sorted((k, (list(v[0]), v[1])) for k, v in self._series.items())
    for labels, (counts, total) in items:
      running = 0
      for bound, count in zip(self.bounds + (float("inf"),), counts):
        running += count
        le = "+Inf" if bound == float("inf") else _number(bound)
        tags = _labels(self.label_names, labels, 'le="' + le + '"')
        lines.append(f"{self.name}_bucket{tags} {running}")
      lines.append(f"{self.name}_sum{_labels(self.label_names, labels)} {_number(total)}")
      lines.append(f"{self.name}_count{_labels(self.label_names, labels)} {running}")
    return lines


class Registry:
  """The metrics of one server, rendered in registration order."""

  def __init__(self):
    self._metrics: list[_Metric] = []

  def add(self, metric):
    self._metrics.append(metric)
    return metric

  def render(self) -> str:
    return "\n".join(line for m in self._metrics for line in m.render()) + "\n"


def parse(text: str) -> dict[str, float]:
  """Prometheus text -> {"name{labels}": value} (for tests and the load test)."""
  out = {}
  for line in text.splitlines():
    if line and not line.startswith("#"):
      key, _, value = line.rpartition(" ")
      out[key] = float(value)
  return out
