"""The event loop of a simulation: arrivals decided and held, the worker run when due.

Nothing waits in real time: a simulated clock jumps from one event to the next. Arrivals are
decided by `Scheduler.decide` (open-hours messages by the same compiled windows, one `bisect`);
what is open goes out at once (an urgent override is recorded in the audit trail), what is
held goes into the real `HoldQueue` in `hold_many` batches. Whenever something is due the real
`ReleaseWorker.run_once()` runs with the clock at that instant; its `sleep` (storm smoothing)
moves the simulated clock, and its store calls run inline (`InlineLoop`). A recording
deliverer notes what went out and when.
"""

from __future__ import annotations

import asyncio
import json
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from deconnexion.core.message import Audience, Decision, Kind, Message
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.windows import CompiledWindows
from deconnexion.hold.queue import HoldQueue
from deconnexion.hold.request import build_request
from deconnexion.hold.stored_decision import decision_codes
from deconnexion.release.deliver import Delivery
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store import HoldStore

from .stages import Stages
from .traffic import SimMessage, message_like

if TYPE_CHECKING:
    from .run import Progress, RunOptions

__all__ = ["DRAIN_LIMIT", "Driver", "InlineLoop", "Recorder", "SimClock"]

DRAIN_LIMIT = 21 * 86400.0  # a held message waits at most a holiday; beyond that, a bug


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

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[None]:
        """A `BatchDeliverer`: the worker hands over a claimed batch in one call."""
        t = self.clock.t
        self.deliveries.extend([(t, d.ids, d.digest) for d in deliveries])
        return [None] * len(deliveries)


class InlineLoop(asyncio.SelectorEventLoop):
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


class Driver:
    """The event loop of the simulation (one asyncio task, the worker inside it)."""

    def __init__(
        self,
        store: HoldStore,
        clock: SimClock,
        schedulers: dict[str, Scheduler],
        messages: Sequence[SimMessage],
        options: RunOptions,
        bar: Progress,
        stages: Stages | None = None,
    ) -> None:
        self.store = store
        self.stages = stages or Stages()
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
        # one decided message per combination of fields, copied for the next (`to_message`)
        self._likes: dict[tuple[object, ...], Message] = {}
        # each sender's actor text, formatted once (`_actor`: an f-string and an enum's value)
        self._actors: dict[tuple[object, str], str] = {}
        # `meta["open_until"]` only matters to storm smoothing; without it, skip its cost
        self.smoothing = bool(options.spread_seconds or options.max_rate)
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
            schedulers=schedulers.__getitem__,  # parents' grades follow the students' delivery
        )
        self.store_ids: list[str | None] = [None] * len(messages)
        self.outcomes: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()  # runs of the worker, hold_many batches
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
            claimed = await self._release()
            if claimed:
                stalls = 0
                # like `ReleaseWorker.run`: claim again at once while a claim comes back full,
                # unless an arrival comes first. Smoothing: until a claim comes back empty
                # (its claims are capped below `batch_size` by the planned rate).
                while self._claim_again(claimed) and (
                    i >= n or self.messages[i].created_at > self.clock.t
                ):
                    claimed = await self._release()
                continue
            stalls += 1  # due, yet nothing claimable: move on rather than spin
            if stalls > 1000:
                raise RuntimeError(f"the worker claims nothing although {due} is due")
            self.clock.t = max(self.clock.t, due) + 1.0

    async def _release(self) -> int:
        """One run of the real worker (one claim, its deliveries and acknowledgements)."""
        self.calls["worker_runs"] += 1
        with self.stages("release"):
            return await self.worker.run_once()

    def _claim_again(self, claimed: int) -> bool:
        """Whether the worker claims again at once. Without smoothing, a claim short of
        `batch_size` took everything due, so a second claim at the same instant would come
        back empty: skipped (one store round trip per wake-up, thousands per term). Whatever
        is due later is found by the next `next_due_at`."""
        if self.smoothing:
            return claimed > 0
        return claimed >= self.worker.batch_size

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
        likes = self._likes
        with self.stages("decide"):
            while j < n and messages[j].created_at < bound and len(batch) < limit:
                m = messages[j]
                if open_now(m):  # sent at once, no reason: what `decide` says in open hours
                    self.releases[j] = m.created_at
                    j += 1
                    continue
                sched = self.schedulers[m.establishment]
                like_key = message_like(m)
                like = likes.get(like_key)
                message = m.to_message(sched.tz, like)
                if like is None:
                    likes[like_key] = message
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
            with self.stages("hold"):
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
        """Hold a batch: first everything but the parents' copies of grades whose students'
        copy is held too, then those, each following its students' copy (its id is known
        once that is held). Each message's leader is looked up once."""
        leaders = [self._leader(k) for k, _, _ in batch]
        if all(leader is None for leader in leaders):
            self._hold_now(batch, leaders)
            return
        first = [n for n, leader in enumerate(leaders) if leader is None]
        then = [n for n, leader in enumerate(leaders) if leader is not None]
        self._hold_now([batch[n] for n in first], [None] * len(first))
        self._hold_now([batch[n] for n in then], [leaders[n] for n in then])

    def _leader(self, k: int) -> int | None:
        """The students' copy of the grade message `k` is the parents' copy of, if held
        (the traffic puts it just before, with the same collapse key but for the audience)."""
        m = self.messages[k]
        if k == 0 or m.kind is not Kind.GRADE or m.audience is not Audience.PARENTS:
            return None
        s = self.messages[k - 1]
        if not (self.held[k - 1] and m.collapse_key and s.collapse_key):
            return None
        base = m.collapse_key.rsplit(":", 1)[0]
        return k - 1 if s.collapse_key == base + ":students" else None

    def _hold_now(
        self, batch: list[tuple[int, Message, Decision]], leaders: list[int | None]
    ) -> None:
        requests = []
        messages, schedulers, store_ids = self.messages, self.schedulers, self.store_ids
        actors = self._actors
        smoothing = self.smoothing
        for (k, message, decision), leader in zip(batch, leaders, strict=True):
            m = messages[k]
            actor = actors.get((m.sender_role, m.establishment))
            if actor is None:
                actor = actors[(m.sender_role, m.establishment)] = _actor(m)
            requests.append(
                build_request(  # `HoldRequest(...)`, built at half the cost
                    schedulers[m.establishment].establishment,
                    message,
                    decision,
                    self._payload(m),
                    m.idempotency_key,
                    m.recipients,
                    m.collapse_key,
                    actor,
                    "application/json",
                    {"open_until": self._open_until(m, decision)} if smoothing else None,
                    follows=None if leader is None else store_ids[leader],
                )
            )
        self.calls["hold_many"] += 1
        with self.stages("hold_many"):  # the library's share of the "hold" stage
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
    share a dozen combinations), read as the hold queue reads them (`decision_codes`: each
    code's value looked up, not read from the enum's `.value` property per reason)."""
    codes = decision_codes(decision)
    return _CODES.setdefault(codes, codes)


def _boundaries(schedulers: Any) -> list[float]:
    """Every opening and closing instant of every establishment and audience, sorted."""
    seen: set[float] = set()
    for sched in schedulers:
        for audience in Audience:
            seen.update(sched.windows(audience).bounds)
    return sorted(seen)
