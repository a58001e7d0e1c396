"""Run generated traffic through the real scheduler, hold queue and release worker.

Nothing waits in real time: a simulated clock jumps from one event to the next. Arrivals are
decided by `Scheduler.decide`; what is open goes out at once (an urgent override is recorded in
the audit trail), what is held goes into the real `HoldQueue` over the real store (SQLite file
by default, PostgreSQL with `postgresql://…`). Whenever something is due the real
`ReleaseWorker.run_once()` runs with the clock at that instant; its `sleep` (storm smoothing)
moves the simulated clock. A recording deliverer notes what went out and when.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from deconnexion.deliver import Delivery
from deconnexion.errors import StoreError
from deconnexion.message import Audience, Decision, Kind, Message
from deconnexion.policy import Policy
from deconnexion.queue import HoldQueue, HoldRequest
from deconnexion.scheduler import Scheduler
from deconnexion.store import HoldStore, Stats, open_store
from deconnexion.territories import Establishment
from deconnexion.windows import CompiledWindows
from deconnexion.worker import ReleaseWorker

from .traffic import SimMessage, TrafficConfig, establishments_for, generate

DRAIN_LIMIT = 21 * 86400.0  # a held message waits at most a holiday; beyond that, a bug

__all__ = ["RunOptions", "SimClock", "SimulationRun", "prepare_store", "simulate"]


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
    clock_end: float
    wall_seconds: dict[str, float] = field(default_factory=dict)

    @cached_property
    def index_of(self) -> dict[str, int]:
        """Message index of each store id."""
        return {sid: i for i, sid in enumerate(self.store_ids) if sid is not None}


class SimClock:
    """The simulated clock: `clock()` reads it, the worker's `sleep` moves it forward."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


class Recorder:
    """The deliverer: records (simulated time, store ids, digest?) of each delivery."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.deliveries: list[tuple[float, tuple[str, ...], bool]] = []

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append((self.clock.t, delivery.ids, delivery.digest))


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


class _InlineLoop(asyncio.SelectorEventLoop):
    """An event loop whose executor is the loop itself: `asyncio.to_thread(store.claim_due,
    …)` in the worker runs the store call at once, in this thread. On a simulated clock
    nothing waits, so a thread pool would only add a thread hand-off per store call (most of
    a run's time) and make the interleaving of store calls depend on the OS scheduler."""

    def run_in_executor(  # type: ignore[override]  # same call, simpler annotations
        self, executor: Any, func: Any, *args: Any
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self.create_future()
        try:
            future.set_result(func(*args))
        except BaseException as exc:  # handed to the awaiting coroutine, as a pool would
            future.set_exception(exc)
        return future


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
    walls: dict[str, float] = {}
    started = time.perf_counter()
    establishments = establishments_for(config)
    schedulers = {e.key: Scheduler(policy, e) for e in establishments}
    messages = generate(config, schedulers)
    walls["generate"] = time.perf_counter() - started

    bar = Progress(len(messages), progress)
    store = prepare_store(options.store_url, options.fresh)
    try:
        mark = time.perf_counter()
        start = messages[0].created_at if messages else 0.0
        clock = SimClock(start)
        driver = _Driver(store, clock, schedulers, messages, options, bar)
        with asyncio.Runner(loop_factory=_InlineLoop) as runner:
            runner.run(driver.run())
        walls["hold_and_release"] = time.perf_counter() - mark
        mark = time.perf_counter()
        stats = store.stats()
        audit_counts = _audit_counts(store, schedulers) if options.check_audit else None
        walls["read_store"] = time.perf_counter() - mark
    finally:
        bar.close()
        store.close()
    walls["total"] = time.perf_counter() - started
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
        clock_end=clock.t,
        wall_seconds=walls,
    )


def _audit_counts(store: HoldStore, schedulers: dict[str, Scheduler]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for key in schedulers:
        for entry in store.audit(key, limit=10**9):
            counts[entry.action] += 1
    return dict(counts)


class _Driver:
    """The event loop of the simulation (one asyncio task, the worker inside it)."""

    def __init__(
        self,
        store: HoldStore,
        clock: SimClock,
        schedulers: dict[str, Scheduler],
        messages: Sequence[SimMessage],
        options: RunOptions,
        bar: Progress,
    ) -> None:
        self.store = store
        self.clock = clock
        self.schedulers = schedulers
        self.messages = messages
        n = len(messages)
        self.held: list[bool] = [False] * n
        self.releases: list[float] = [0.0] * n
        self.reasons: list[tuple[str, ...]] = [()] * n
        self.boundaries = _boundaries(schedulers.values()) if options.resolution else []
        self._windows: dict[tuple[str, Audience], CompiledWindows] = {}
        self._payloads: dict[tuple[str, Kind, Audience], bytes] = {}
        self.options = options
        self.bar = bar
        self.queue = HoldQueue(store, clock=clock)
        self.recorder = Recorder(clock)
        self.worker = ReleaseWorker(
            self.queue,
            self.recorder,
            batch_size=options.batch_size,
            max_rate=options.max_rate,
            spread_seconds=options.spread_seconds,
            digest=options.digest,
            clock=clock,
            sleep=clock.sleep,
            worker_id="simulateur",
        )
        self.store_ids: list[str | None] = [None] * len(messages)
        self.outcomes: Counter[str] = Counter()
        self.replaced_ids: set[str] = set()

    async def run(self) -> None:
        n = len(self.messages)
        i = 0
        stalls = 0
        give_up = (self.messages[-1].created_at if n else self.clock.t) + DRAIN_LIMIT
        while True:
            if self.clock.t > give_up:
                raise RuntimeError(
                    f"the worker has not drained the queue {DRAIN_LIMIT / 86400:g} days after "
                    f"the last message (clock {self._when()}, {self.store.stats().held} held, "
                    f"counters {self.worker.counters})"
                )
            due = self.store.next_due_at()
            if i < n and (due is None or self.messages[i].created_at < self._run_at(due)):
                i = self._arrivals(i, math.inf if due is None else self._run_at(due))
                self.bar.update(i, self._when())
                continue
            if due is None:
                break
            self.clock.t = max(self.clock.t, self._run_at(due))
            claimed = await self.worker.run_once()
            if claimed:
                stalls = 0
                # like `ReleaseWorker.run`: claim again at once until a claim comes back empty
                # (which closes the smoothing window), unless an arrival comes first
                while claimed and (i >= n or self.messages[i].created_at > self.clock.t):
                    claimed = await self.worker.run_once()
                continue
            stalls += 1  # due, yet nothing claimable: move on rather than spin
            if stalls > 1000:
                raise RuntimeError(f"the worker claims nothing although {due} is due")
            self.clock.t = max(self.clock.t, due) + 1.0

    def _run_at(self, due: float) -> float:
        """When the worker runs for something due at `due`: then, or with a resolution, a
        little later but before the next opening or closing of any window."""
        step = self.options.resolution
        if not step:
            return due
        later = math.ceil(due / step) * step
        k = bisect_right(self.boundaries, due)
        if k < len(self.boundaries):
            later = min(later, self.boundaries[k] - 1.0)
        return max(due, later)

    def _when(self) -> str:
        tz = next(iter(self.schedulers.values())).tz
        return f"simulé : {datetime.fromtimestamp(self.clock.t, tz):%d/%m/%Y %H:%M}"

    def _arrivals(self, i: int, bound: float) -> int:
        """Decide arrivals from `i` on while the worker has nothing to do first (`bound`: when
        it runs next; a held arrival may bring that forward); deliver the open ones, hold the
        others in one batch. Returns the next index."""
        messages = self.messages
        n = len(messages)
        batch: list[tuple[int, Message, Decision]] = []
        limit = self.options.hold_batch
        j = i
        open_now = self._open_now
        while j < n and messages[j].created_at < bound and len(batch) < limit:
            m = messages[j]
            if open_now(m):  # sent at once, no reason: what `decide` says in open hours
                self.releases[j] = m.created_at
                j += 1
                continue
            sched = self.schedulers[m.establishment]
            message = m.to_message(sched.tz)
            decision = sched.decide(message)
            release = decision.release_at.timestamp()
            self.releases[j] = release
            self.reasons[j] = _codes(decision)
            if decision.held:
                self.held[j] = True
                batch.append((j, message, decision))
                if release < bound:
                    bound = min(bound, self._run_at(release))
            elif m.urgent:
                self._override(m, sched, message, decision)
            j += 1
        self.clock.t = max(self.clock.t, messages[j - 1].created_at)
        if batch:
            self._hold(batch)
        return j

    def _payload(self, m: SimMessage) -> bytes:
        """What the ENT would deliver (a title and a type); one encoding per distinct label."""
        key = (m.label, m.kind, m.audience)
        body = self._payloads.get(key)
        if body is None:
            body = self._payloads[key] = json.dumps(
                {"titre": m.label, "type": m.kind.value, "public": m.audience.value},
                ensure_ascii=False,
            ).encode()
        return body

    def _windows_of(self, m: SimMessage) -> CompiledWindows:
        key = (m.establishment, m.audience)
        windows = self._windows.get(key)
        if windows is None:
            windows = self._windows[key] = self.schedulers[m.establishment].windows(m.audience)
        return windows

    def _open_until(self, m: SimMessage, decision: Decision) -> float | None:
        """When the open window the message is released into closes (epoch): the worker's
        smoothing never plans a send after it (`meta["open_until"]`)."""
        bounds = self._windows_of(m).bounds
        i = bisect_right(bounds, decision.release_at.timestamp())
        return bounds[i] if i & 1 and i < len(bounds) else None

    def _open_now(self, m: SimMessage) -> bool:
        """The fast path for the commonest case: a message created during open hours, neither
        urgent nor a grade for parents (delayed 24 h), goes out at its creation — the rule
        `decide` applies (next open moment at or after creation), read from the same
        compiled windows with one `bisect`. Everything else goes through `decide`."""
        if m.urgent or (m.kind is Kind.GRADE and m.audience is Audience.PARENTS):
            return False
        return self._windows_of(m).is_open(m.created_at)

    def _override(self, m: SimMessage, sched: Scheduler, message: Message, d: Decision) -> None:
        self.queue.record_override(
            establishment=sched.establishment,
            message=message,
            decision=d,
            actor=_actor(m),
        )

    def _hold(self, batch: list[tuple[int, Message, Decision]]) -> None:
        requests = []
        for k, message, decision in batch:
            m = self.messages[k]
            requests.append(
                HoldRequest(
                    self.schedulers[m.establishment].establishment,
                    message,
                    decision,
                    self._payload(m),
                    m.idempotency_key,
                    m.recipients,
                    m.collapse_key,
                    _actor(m),
                    "application/json",
                    {"open_until": self._open_until(m, decision)},
                )
            )
        results = self.queue.hold_many(requests)
        for request, (k, _, _), result in zip(requests, batch, results, strict=True):
            self.store_ids[k] = result.id
            self.outcomes[result.outcome] += 1
            if result.replaced_id is not None:
                self.replaced_ids.add(result.replaced_id)
            if request.message.urgent:  # an "urgent" flag not honoured: audited as refused
                self.queue.record_refusal(
                    establishment=request.establishment,
                    message=request.message,
                    decision=request.decision,
                    actor=request.actor,
                    message_id=result.id,
                )


def _actor(m: SimMessage) -> str:
    return f"{m.sender_role.value}@{m.establishment}"


_CODES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _codes(decision: Decision) -> tuple[str, ...]:
    """The decision's reason codes, one shared tuple per combination (a million decisions
    share a dozen combinations)."""
    codes = decision.codes
    return _CODES.setdefault(codes, codes)


def _boundaries(schedulers: Any) -> list[float]:
    """Every opening and closing instant of every establishment and audience, sorted."""
    seen: set[float] = set()
    for sched in schedulers:
        for audience in Audience:
            seen.update(sched.windows(audience).bounds)
    return sorted(seen)
