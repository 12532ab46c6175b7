"""Dynamic batching on an asyncio event loop: requests for the same length bucket are grouped
into one batch of at most ``max_batch`` rows, waiting at most ``max_wait`` seconds after the
oldest of them arrived.

One worker coroutine forms batches; one worker thread runs them (the accelerator runs one batch
at a time), so while a batch runs the next one fills up. Policy, per iteration:

  bucket  = the bucket whose oldest pending request is oldest (first come, first served)
  wait    until that bucket holds max_batch requests, or max_wait has passed since its oldest,
          or no request is `arriving` (being read and decoded by the server)
  run     its first min(max_batch, pending) requests; every request gets its own result

The `arriving` condition means a lone request on an idle server runs at once instead of
paying max_wait, while under load the batch waits for the requests already on their way.

Rows arrive validated (decoded, finite, fitting their bucket), so one bad request cannot fail
a batch. A problem found only while a batch runs (e.g. text whose predicted durations exceed
every frame bucket) is returned by ``run_batch`` as that row's exception instance and raised
to that request alone; should a batch itself raise, only the requests in it get the error. Requests whose
caller went away (cancelled futures) are dropped before running. `close` finishes everything
already queued before it returns (graceful shutdown).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import time
from typing import Any, Callable, Sequence


@dataclasses.dataclass
class _Pending:
  row: Any
  future: asyncio.Future
  arrival: float


class DynamicBatcher:
  """``await submit(bucket, row)`` -> that row's result of ``run_batch(bucket, rows)`` (raised
if the result is an exception).

  ``on_batch(bucket, rows, seconds)`` is called after each batch (metrics).
  """

  def __init__(self, run_batch: Callable[[int, Sequence[Any]], Sequence[Any]], max_batch: int,
               max_wait: float, on_batch: Callable[[int, int, float], None] | None = None):
    if max_batch < 1 or max_wait < 0:
      raise ValueError(f"need max_batch >= 1 and max_wait >= 0, got {max_batch}, {max_wait}")
    self.run_batch, self.max_batch, self.max_wait = run_batch, int(max_batch), float(max_wait)
    self.on_batch = on_batch
    self._queues: dict[int, collections.deque[_Pending]] = collections.defaultdict(
        collections.deque)
    self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="batch")
    self._wakeup: asyncio.Event | None = None
    self._task: asyncio.Task | None = None
    self._closing = False
    self._arriving = 0

  @property
  def depth(self) -> int:
    """Requests queued and not yet running."""
    return sum(len(q) for q in self._queues.values())

  @contextlib.contextmanager
  def arriving(self):
    """Marks a request being read and decoded for the duration of the block: a forming batch
    waits for it (up to max_wait). Call `submit` right after the block, without an await in
    between."""
    self._arriving += 1
    try:
      yield
    finally:
      self._arriving -= 1
      if self._wakeup is not None:
        self._wakeup.set()

  def start(self) -> None:
    """Starts the worker coroutine (call from the running event loop)."""
    self._wakeup = asyncio.Event()
    self._task = asyncio.get_running_loop().create_task(self._loop(), name="batcher")

  async def submit(self, bucket: int, row: Any) -> Any:
    if self._task is None or self._closing:
      raise RuntimeError("the batcher is not running")
    loop = asyncio.get_running_loop()
    pending = _Pending(row, loop.create_future(), loop.time())
    self._queues[bucket].append(pending)
    self._wakeup.set()
    return await pending.future

  async def close(self) -> None:
    """Runs what is queued, then stops the worker and its thread."""
    self._closing = True
    if self._task is not None:
      self._wakeup.set()
      await self._task
    self._executor.shutdown(wait=True)

  def _oldest_bucket(self) -> int | None:
    busy = [(q[0].arrival, b) for b, q in self._queues.items() if q]
    return min(busy)[1] if busy else None

  async def _fill(self, queue: collections.deque) -> None:
    """Waits until ``queue`` holds max_batch requests, its oldest has waited max_wait, or no
    request is arriving."""
    loop = asyncio.get_running_loop()
    deadline = queue[0].arrival + self.max_wait
    while len(queue) < self.max_batch and self._arriving and not self._closing:
      remaining = deadline - loop.time()
      if remaining <= 0:
        return
      self._wakeup.clear()
      try:
        await asyncio.wait_for(self._wakeup.wait(), remaining)
      except asyncio.TimeoutError:
        return

  async def _loop(self) -> None:
    loop = asyncio.get_running_loop()
    while True:
      bucket = self._oldest_bucket()
      if bucket is None:
        if self._closing:
          return
        self._wakeup.clear()
        await self._wakeup.wait()
        continue
      queue = self._queues[bucket]
      await self._fill(queue)
      taken = [queue.popleft() for _ in range(min(self.max_batch, len(queue)))]
      taken = [p for p in taken if not p.future.done()]
      if not taken:
        continue
      start = time.perf_counter()
      try:
        results = await loop.run_in_executor(self._executor, self.run_batch, bucket,
                                             [p.row for p in taken])
      except Exception as e:  # pylint: disable=broad-except  (handed to the callers)
        for p in taken:
          if not p.future.done():
            p.future.set_exception(e)
        continue
      for p, result in zip(taken, results):
        if p.future.done():
          continue
        if isinstance(result, BaseException):
          p.future.set_exception(result)
        else:
          p.future.set_result(result)
      if self.on_batch is not None:
        self.on_batch(bucket, len(taken), time.perf_counter() - start)
