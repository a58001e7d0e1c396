"""`COLLECTOR_PAUSE`: Python's cycle collector paused while big batches are held.

A batch of hold requests makes no reference cycles, but its rows, results and the caller's
requests live until it ends: the collector promotes them and runs full collections of the
whole heap several times per batch, 10 to 15 % of the time holding takes (`benchmarks/queue.py`,
batched `hold_many`). Memory is still freed by reference counting meanwhile.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["COLLECTOR_PAUSE", "GC_PAUSE_BATCH", "CollectorPause"]

GC_PAUSE_BATCH = 500  # requests: smaller batches hold with the collector running


class CollectorPause:
    """Batches held at once in several threads pause the collector once; it is enabled again
    when the last one ends, and only if it was enabled before the first began."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0  # batches inside `paused()` now
        self._was_enabled = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._was_enabled:
                    gc.enable()


COLLECTOR_PAUSE = CollectorPause()  # one per process: the collector is process-wide
