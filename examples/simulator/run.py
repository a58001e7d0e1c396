"""Run generated traffic through the real scheduler, hold queue and release worker.

`simulate(config, policy, options)` generates the traffic, opens the store (a fresh SQLite
file by default, `postgresql://…` works too), lets `driver.Driver` play the period on a
simulated clock, and returns a `SimulationRun`: every message with its decision and store id,
every delivery with its simulated time, the store's final counts. Nothing waits in real time.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.errors import StoreError
from deconnexion.store import HoldStore, Stats, open_store

from .driver import Driver, InlineLoop, SimClock
from .stages import Stages
from .traffic import SimMessage, TrafficConfig, establishments_for, generate

__all__ = [
    "Progress",
    "RunOptions",
    "SimulationRun",
    "WorkerDeliveries",
    "prepare_store",
    "simulate",
]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run: the store, the worker's smoothing and digests."""

    store_url: str = "sqlite:///out/simulation.db"
    spread_seconds: float | None = 900.0  # spread each backlog over 15 minutes
    max_rate: float | None = None  # messages per second, all establishments together
    digest: bool = False
    batch_size: int = 2000
    hold_batch: int = 5000
    fresh: bool = True  # empty the store first (a SQLite file is deleted)
    check_audit: bool = True  # count the audit trail per establishment at the end
    # 0: the worker runs at every due instant, to the second. A resolution (seconds) lets it
    # run at most that often, never across the opening or closing of a window (benchmarks).
    resolution: float = 0.0


@dataclass
class SimulationRun:
    """Everything the summary and the report read."""

    config: TrafficConfig
    options: RunOptions
    policy: Policy
    establishments: list[Establishment]
    schedulers: dict[str, Scheduler]
    messages: list[SimMessage]
    held: list[bool]  # what the scheduler decided, per message
    releases: list[float]  # decided release instant of each message (epoch)
    reasons: list[tuple[str, ...]]  # reason codes of each decision
    store_ids: list[str | None]  # the queue's id for each held message
    replaced_ids: set[str]  # store ids a later message with the same collapse key replaced
    deliveries: list[tuple[float, tuple[str, ...], bool]]  # (at, store ids, digest) by worker
    hold_outcomes: Counter[str]
    stats: Stats
    audit_counts: dict[str, int] | None
    worker_counters: dict[str, Any]
    calls: dict[str, int]  # how often the driver ran the worker and called hold_many
    clock_end: float
    wall_seconds: dict[str, float] = field(default_factory=dict)  # per stage, and "total"
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # same stages, CPU time

    @cached_property
    def index_of(self) -> dict[str, int]:
        """Message index of each store id."""
        return {sid: i for i, sid in enumerate(self.store_ids) if sid is not None}

    @cached_property
    def worker_deliveries(self) -> WorkerDeliveries:
        """Per message, what the worker delivered, read in one pass over the deliveries (the
        summary, its checks and the report all need it)."""
        n = len(self.messages)
        first: list[float | None] = [None] * n
        last: list[float | None] = [None] * n
        count = [0] * n
        index = self.index_of
        for when, ids, _digest in self.deliveries:
            for sid in ids:
                i = index.get(sid)
                if i is None:
                    continue
                count[i] += 1
                if first[i] is None:
                    first[i] = when
                prev = last[i]
                last[i] = when if prev is None else max(prev, when)
        return WorkerDeliveries(first, last, count)


class WorkerDeliveries(NamedTuple):
    """Per message: the worker's first and last delivery (epoch; None: never) and how many
    times it delivered it."""

    first: list[float | None]
    last: list[float | None]
    count: list[int]


class Progress:
    """One updating line on stderr, shown on a terminal or once the run takes a few seconds."""

    def __init__(self, total: int, enabled: bool | None = None, after: float = 3.0) -> None:
        self.total = max(1, total)
        self.started = time.perf_counter()
        tty = sys.stderr.isatty()
        self.after = 0.0 if tty else after
        self.every = 0.25 if tty else 2.0  # a log file gets a line every 2 s, not 4 per second
        self.enabled = enabled if enabled is not None else True
        self.last = 0.0
        self.shown = False

    def update(self, done: int, what: str) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.started < self.after or now - self.last < self.every:
            return
        self.last = now
        self.shown = True
        share = min(1.0, done / self.total)
        bar = "#" * int(share * 24)
        sys.stderr.write(f"\r  [{bar:<24}] {share:6.1%}  {what:<40} {now - self.started:6.1f} s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


@contextmanager
def collector_ignores_what_exists() -> Iterator[None]:
    """Python's cycle collector ignores every object alive when the block starts
    (`gc.freeze`), and sees them again when it ends (`gc.unfreeze`).

    What it buys: a term's traffic (half a million named tuples per process of the benchmark),
    its schedulers and their windows live until the run ends, yet each full collection during
    the run walked them all again; on a four-week shard of 50 collèges the collector's CPU
    time went from 3.25 to 1.83 s of a 33 s run (gc.callbacks, same code with and without).
    A caller that froze objects itself keeps its own freeze: the block then changes nothing."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def prepare_store(url: str, fresh: bool) -> HoldStore:
    """Open the store; with `fresh`, start from nothing (delete the SQLite file, or refuse a
    non-empty PostgreSQL schema rather than mixing two simulations)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        from deconnexion.store.sqlite import SQLiteStore

        # a simulation needs no power-loss durability: skip the fsync of every commit
        store: HoldStore = SQLiteStore(path, synchronous="NORMAL")
    else:
        store = open_store(url)
    if fresh and any(store.stats().by_state.values()):
        store.close()
        raise StoreError(
            f"store {url!r} already holds messages; expected an empty database or schema "
            "(e.g. postgresql://…/db?schema=simulation_2), the summary compares its counts "
            "with the store's"
        )
    return store


def simulate(
    config: TrafficConfig,
    policy: Policy | None = None,
    options: RunOptions | None = None,
    *,
    progress: bool | None = None,
) -> SimulationRun:
    """Generate, decide, hold, release; return everything observed."""
    options = options or RunOptions()
    policy = policy or Policy.national()
    stages = Stages()
    with stages("total"):
        with stages("generate"):
            establishments = establishments_for(config)
            schedulers = {e.key: Scheduler(policy, e) for e in establishments}
            messages = generate(config, schedulers)

        bar = Progress(len(messages), progress)
        store = prepare_store(options.store_url, options.fresh)
        try:
            start = messages[0].created_at if messages else 0.0
            clock = SimClock(start)
            driver = Driver(store, clock, schedulers, messages, options, bar, stages)
            with stages("hold_and_release"), collector_ignores_what_exists():
                with asyncio.Runner(loop_factory=InlineLoop) as runner:
                    runner.run(driver.run())
            with stages("read_store"):
                stats = store.stats()
                audit_counts = _audit_counts(store, schedulers) if options.check_audit else None
        finally:
            bar.close()
            store.close()
    return SimulationRun(
        config=config,
        options=options,
        policy=policy,
        establishments=establishments,
        schedulers=schedulers,
        messages=messages,
        held=driver.held,
        releases=driver.releases,
        reasons=driver.reasons,
        store_ids=driver.store_ids,
        replaced_ids=driver.replaced_ids,
        deliveries=driver.recorder.deliveries,
        hold_outcomes=driver.outcomes,
        stats=stats,
        audit_counts=audit_counts,
        worker_counters=dict(driver.worker.counters),
        calls=dict(driver.calls),
        clock_end=clock.t,
        wall_seconds=stages.wall,
        cpu_seconds=stages.cpu,
    )


def _audit_counts(store: HoldStore, schedulers: dict[str, Scheduler]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for key in schedulers:
        for entry in store.audit(key, limit=10**9):
            counts[entry.action] += 1
    return dict(counts)
