"""The release worker: takes due messages out of the store and delivers them, never early.

    worker = ReleaseWorker(open_store("sqlite:///held.db"), WebhookDeliverer(url))
    await worker.run()            # until stop() / SIGTERM
    await worker.run_once()       # one batch (simulators drive this with a fake clock)

Each batch: claim up to `batch_size` due messages with a lease, group them (per-recipient
chains, optional digests), give each a send slot (optional storm smoothing), deliver, then
acknowledge the delivered ones in one call, retry the failed ones with exponential back-off,
dead-letter after `max_attempts`. Delivery is at-least-once: a worker killed mid-batch leaves
leases that expire, and the next claim delivers those messages again with the same
idempotency key. Between batches the worker sleeps until the next due instant, woken early by
`wake()` or the store's change notifications (bounded by `poll_interval`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deconnexion.core.timeutil import wall_clock, zone
from deconnexion.errors import InvalidInputError
from deconnexion.hold.collector import COLLECTOR_PAUSE, GC_PAUSE_BATCH
from deconnexion.metrics import worker_prometheus_text
from deconnexion.release.claimed_batch import LEASE_USE, ClaimedBatch, ReleaseSettings
from deconnexion.release.deliver import Deliverer
from deconnexion.release.follow import Followers, Lookup, SchedulerLookup
from deconnexion.release.heartbeat import Heartbeat
from deconnexion.release.smoothing import Due, Smoother, SpreadWindow
from deconnexion.release.units import Unit, send_deadline
from deconnexion.store.base import HoldStore
from deconnexion.store.claimed import ClaimedMessage, ReleaseClaims, release_claims

__all__ = ["ReleaseWorker"]

log = logging.getLogger("deconnexion.worker")

RECOUNT_SECONDS = 30.0  # spread windows: how often the backlog is counted again


def _positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise InvalidInputError(f"{name}: {value!r}; expected a number > 0")


class ReleaseWorker:
    """Releases due messages from a store (or a `HoldQueue`, whose store it uses)."""

    def __init__(
        self,
        queue_or_store: Any,
        deliverer: Deliverer,
        *,
        batch_size: int = 500,
        lease_seconds: float = 60.0,
        max_attempts: int = 8,
        backoff_base: float = 2.0,
        backoff_max: float = 3600.0,
        max_rate: float | None = None,
        spread_seconds: float | None = None,
        digest: bool = False,
        concurrency: int = 32,
        poll_interval: float = 30.0,
        clock: Callable[[], float] = wall_clock,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        worker_id: str | None = None,
        log_timezone: str = "Europe/Paris",
        heartbeat_file: str | None = None,
        schedulers: Lookup | None = None,
    ) -> None:
        for name, value in (
            ("batch_size", batch_size),
            ("lease_seconds", lease_seconds),
            ("max_attempts", max_attempts),
            ("backoff_max", backoff_max),
            ("concurrency", concurrency),
            ("poll_interval", poll_interval),
        ):
            _positive(name, value)
        _positive("max_rate", max_rate, allow_none=True)
        _positive("spread_seconds", spread_seconds, allow_none=True)
        if not backoff_base >= 1:
            raise InvalidInputError(f"backoff_base: {backoff_base!r}; expected a number >= 1")
        store = getattr(queue_or_store, "store", queue_or_store)
        if not isinstance(store, HoldStore):
            raise InvalidInputError(
                f"queue_or_store: {type(queue_or_store).__name__} is neither a HoldStore nor "
                "a HoldQueue; expected e.g. open_store('sqlite:///held.db')"
            )
        self.store: HoldStore = store
        self.deliverer = deliverer
        self.batch_size = int(batch_size)
        self.lease_seconds = float(lease_seconds)
        self.max_attempts = int(max_attempts)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.spread_seconds = spread_seconds
        self.digest = digest
        self.concurrency = int(concurrency)
        self.poll_interval = float(poll_interval)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # A turn of the loop lasts at most a poll interval of sleep plus a leased batch.
        stale_after = 2 * (self.poll_interval + self.lease_seconds)
        self.heartbeat = Heartbeat(self.worker_id, stale_after, heartbeat_file)
        self._clock = clock
        self._sleep = sleep
        self._log_tz = zone(log_timezone)
        # a parents' grade waits for the students' actual delivery (release.follow); the
        # `schedulers` knows the establishments (the national policy if None); each message is
        # re-checked under the policy and zone it was held with (release.follow.RecordedSchedulers)
        self.followers = Followers(store, schedulers or SchedulerLookup())
        self._smoother = Smoother(max_rate) if (max_rate or spread_seconds) else None
        self._window = SpreadWindow(spread_seconds, RECOUNT_SECONDS) if spread_seconds else None
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_event: asyncio.Event | None = None
        self._stop_event: asyncio.Event | None = None
        self.counters: dict[str, Any] = {
            "claimed": 0,
            "released": 0,
            "failed": 0,
            "dead": 0,
            "expired": 0,
            "deferred": 0,
            "early_skipped": 0,
            "waited_for_students": 0,
            "waited_for_open": 0,
            "digests": 0,
            "batches": 0,
            "last_batch_at": None,
        }

    # -- control ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the deliveries in flight, give back the rest of the batch, then return from
        `run`. Safe to call from a signal handler or another thread."""
        self._stopping = True
        self._notify(self._stop_event)

    @property
    def stopping(self) -> bool:
        """True once `stop()` was called."""
        return self._stopping

    def wake(self) -> None:
        """Something may be due sooner (a message was held): look again now."""
        self._notify(self._wake_event)

    def _notify(self, event: asyncio.Event | None) -> None:
        loop = self._loop
        if event is None or loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    # -- the loop -----------------------------------------------------------------------------

    async def run(self, stop_event: asyncio.Event | None = None, *, drain: bool = False) -> None:
        """Release batches until `stop()` (or `stop_event` is set); sleep in between.
        With `drain`, return as soon as nothing is due (`deconnexion worker --once`)."""
        stop, _ = self._bind()
        self._stopping = False
        stop.clear()
        # Draining never sleeps between batches, so nothing waits for a wake-up: no watcher.
        # Its thread blocks in `wait_for_change(1.0)` and `run` waited for that to end: a drain
        # returned at least 1 s after it started (0.6-0.8 s after its last batch, 2,500
        # messages on SQLite), and benchmarks/queue.py counted that second as releasing.
        watcher = None if drain else _ChangeWatcher(self.store, self.wake)
        if watcher is not None:
            watcher.start()
        outside = asyncio.ensure_future(stop_event.wait()) if stop_event is not None else None
        if outside is not None:
            outside.add_done_callback(lambda _: self.stop())
        failures = 0
        prefetch: asyncio.Future[_Claim] | None = None
        try:
            while not self._stopping:
                self.heartbeat.beat(self._clock())
                full = False
                try:
                    ahead, prefetch = prefetch, None
                    claim = await (ahead if ahead is not None else self._claim())
                    full = claim.full
                    if full and self._smoother is None and not self._stopping:
                        # claim the next batch while this one is delivered: the store works
                        # while Python does (unpaced only: a paced batch would age its lease)
                        prefetch = asyncio.ensure_future(self._claim())
                    claimed = await self._handle(claim)
                    failures = 0
                except Exception:
                    failures += 1
                    delay = min(self.poll_interval, 2.0**failures)
                    log.exception("release batch failed; retrying in %.0fs", delay)
                    await self.pause(delay)
                    continue
                if self._stopping or full:
                    continue
                if drain:
                    if claimed == 0:
                        break
                    continue
                due = await asyncio.to_thread(self.store.next_due_at)
                delay = self.poll_interval
                if due is not None:
                    delay = min(delay, max(due - self._clock(), 0.05 if claimed == 0 else 0.0))
                if delay > 0:
                    await self.pause(delay, wakeable=True)
        finally:
            self.heartbeat.stop(self._clock())
            if prefetch is not None:
                await self._return_prefetched(prefetch)
            if outside is not None:
                outside.cancel()
            if watcher is not None:
                await watcher.stop()
            closer = getattr(self.deliverer, "aclose", None)
            if closer is not None:
                await closer()

    async def _return_prefetched(self, prefetch: asyncio.Future[_Claim]) -> None:
        try:
            claim = await prefetch
        except Exception:
            log.exception("claiming the next batch failed while stopping")
            return
        if claim.batch:
            now = self._clock()
            items = [([m], max(now, m.release_at)) for m in claim.batch]
            count = await self._claimed_batch().give_back(items)
            self.counters["deferred"] += count

    def clock(self) -> float:
        """Now, by the worker's clock (epoch seconds; a fake one in simulations)."""
        return self._clock()

    def _bind(self) -> tuple[asyncio.Event, asyncio.Event]:
        """The (stop, wake) events of the running loop (asyncio events belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._stop_event is None or self._wake_event is None:
            self._loop = loop
            self._wake_event = asyncio.Event()
            self._stop_event = asyncio.Event()
            if self._stopping:
                self._stop_event.set()
        return self._stop_event, self._wake_event

    async def pause(self, delay: float, *, wakeable: bool = False) -> None:
        """Sleep `delay` (with the injected sleep), cut short by stop() or, if asked, wake()."""
        stop_event, wake_event = self._bind()
        if self._stopping:
            return
        waits = [
            asyncio.ensure_future(self._sleep(delay)),
            asyncio.ensure_future(stop_event.wait()),
        ]
        if wakeable:
            waits.append(asyncio.ensure_future(wake_event.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        if wakeable:
            wake_event.clear()

    # -- one batch ----------------------------------------------------------------------------

    def _claim_limit(self) -> int:
        rate = self._smoother.rate if self._smoother is not None else None
        if rate is None:
            return self.batch_size
        return max(1, min(self.batch_size, int(rate * self.lease_seconds * LEASE_USE / 2)))

    async def run_once(self) -> int:
        """Claim one batch, deliver it, acknowledge or retry; return how many were claimed."""
        return await self._handle(await self._claim())

    async def _claim(self) -> _Claim:
        self._bind()
        started = time.perf_counter()
        now = self._clock()
        if self._window is not None and self._smoother is not None:
            if self._window.needs_count(now):
                self._window.counted(now, await asyncio.to_thread(self._count_due, now))
            self._smoother.set_spread_rate(self._window.rate(now))
        limit = self._claim_limit()
        batch = await asyncio.to_thread(self._claim_release, now, limit)
        return _Claim(batch, now, limit, time.perf_counter() - started)

    def _claim_release(self, now: float, limit: int) -> list[ClaimedMessage]:
        """The store's `claim_release` (what the release reads: `store.claimed`), or its
        `claim_due` read the same way for a store that has none."""
        store = self.store
        if isinstance(store, ReleaseClaims):
            return store.claim_release(now, limit, self.lease_seconds, self.worker_id)
        return release_claims(store.claim_due(now, limit, self.lease_seconds, self.worker_id))

    async def _handle(self, claim: _Claim) -> int:
        started = time.perf_counter()
        batch = claim.batch
        if not batch:
            if self._window is not None:
                self._window.drained()
            return 0
        tally = dict.fromkeys(_TALLIED, 0)
        with self._collector_pause(len(batch)):
            await self._claimed_batch().process(batch, claim.at, tally)
        if self._window is not None:
            self._window.sent(len(batch))
            if not claim.full:
                self._window.drained()  # the next backlog opens a new window
        self.counters["claimed"] += len(batch)
        self.counters["batches"] += 1
        self.counters["last_batch_at"] = self._clock()
        for key, value in tally.items():
            self.counters[key] += value
        seconds = claim.seconds + time.perf_counter() - started
        await self._log_batch(tally, seconds, full=claim.full)
        return len(batch)

    def _collector_pause(self, claimed: int) -> AbstractContextManager[None]:
        """Python's cycle collector paused while a big unpaced batch is delivered.

        A batch's messages, units and deliveries make no reference cycles, but they live
        until it ends: the collector promoted them and ran full collections of the heap.
        Paused, a released message costs 217,000 instructions instead of 232,000 (callgrind,
        SQLite, `NullDeliverer`). Reference counting still frees memory meanwhile, and the
        collector runs again between batches. A paced batch may last most of a lease: never
        paused."""
        if self._smoother is not None or claimed < GC_PAUSE_BATCH:
            return nullcontext()
        return COLLECTOR_PAUSE.paused()

    def _claimed_batch(self) -> ClaimedBatch:
        settings = ReleaseSettings(
            worker_id=self.worker_id,
            lease_seconds=self.lease_seconds,
            max_attempts=self.max_attempts,
            backoff_base=self.backoff_base,
            backoff_max=self.backoff_max,
            concurrency=self.concurrency,
            digest=self.digest,
        )
        return ClaimedBatch(
            settings,
            self.store,
            self.deliverer,
            self._clock,
            send_slots=self.send_slots,
            pause=self.pause,
            stopping=lambda: self._stopping,
            followers=self.followers,
        )

    def _count_due(self, now: float) -> int:
        # Deliberately the held count, not `store.count_due(now)`: the spread rate is kept for
        # the whole window (recounted every 30 s), and an exact count taken while only a few
        # messages were due slowed a larger backlog that fell due minutes later to the point
        # of pushing it to the end of the day (seen in the simulator). Over-counting spreads
        # a backlog faster than asked, never later.
        return self.store.stats().held

    def send_slots(self, units: Sequence[Unit], now: float) -> list[float]:
        """When to send each unit of a batch: at once, or as storm smoothing plans."""
        if self._smoother is None:
            return [max(now, u.release_at) for u in units]
        items = [Due(u.keys, u.release_at, u.priority, send_deadline(u)) for u in units]
        return self._smoother.plan(items, now)

    # -- reporting ----------------------------------------------------------------------------

    async def _log_batch(self, tally: dict[str, int], seconds: float, *, full: bool) -> None:
        if full:
            nxt = "more due now"
        else:
            due = await asyncio.to_thread(self.store.next_due_at)
            nxt = (
                "nothing pending"
                if due is None
                else datetime.fromtimestamp(due, self._log_tz).isoformat()
            )
        extra = f", {tally['deferred']} deferred" if tally["deferred"] else ""
        log.info(
            "released %d (%d failed, %d dead%s) in %.2fs; next due %s",
            tally["released"],
            tally["failed"],
            tally["dead"],
            extra,
            seconds,
            nxt,
        )

    def prometheus_text(self) -> str:
        """The counters in Prometheus text exposition format."""
        return worker_prometheus_text(self.worker_id, self.counters)


# what one claimed batch counts (ClaimedBatch.process), added to the counters afterwards
_TALLIED = (
    "released",
    "failed",
    "dead",
    "expired",
    "deferred",
    "digests",
    "early_skipped",
    "waited_for_students",
    "waited_for_open",
)


@dataclass(frozen=True, slots=True)
class _Claim:
    batch: list[ClaimedMessage]
    at: float  # the clock when claimed
    limit: int
    seconds: float  # how long the claim took

    @property
    def full(self) -> bool:
        return len(self.batch) >= self.limit


class _ChangeWatcher:
    """A thread blocked in `store.wait_for_change` that calls `wake` when the store changes."""

    def __init__(self, store: HoldStore, wake: Callable[[], None]) -> None:
        self._store = store
        self._wake = wake
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="deconnexion-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            try:
                changed = self._store.wait_for_change(1.0)
            except Exception:
                log.debug("wait_for_change failed; polling instead", exc_info=True)
                self._done.wait(1.0)
                continue
            if changed and not self._done.is_set():
                self._wake()

    async def stop(self) -> None:
        self._done.set()
        await asyncio.to_thread(self._thread.join, 5.0)
