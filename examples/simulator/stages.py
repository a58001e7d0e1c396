"""Where a simulation spends its time: wall and CPU seconds per stage.

    stages = Stages()
    with stages("decide"):
        ...
    stages.wall["decide"], stages.cpu["decide"]

Both clocks, because the machines the benchmark runs on are shared: wall time says how long a
reader waits, CPU time (`time.process_time`, this process only) what the stage costs. A stage
entered again adds to its totals; a stage entered inside another is not subtracted from it
(the driver times sibling stages only). Each entry reads both clocks twice (about a
microsecond), so stages are timed per batch or per worker run, never per message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Stages"]


class Stages:
    """Wall and CPU seconds accumulated per stage name."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - wall, time.process_time() - cpu)

    def add(self, name: str, wall: float, cpu: float) -> None:
        self.wall[name] = self.wall.get(name, 0.0) + wall
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu
