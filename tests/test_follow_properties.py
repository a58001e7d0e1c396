"""Hypothesis: whatever smoothing, failing deliveries and killed workers do, every delivery of
a parents' grade is at least the policy's delay after every delivery of its students' copy,
nothing goes out before its release time, and every delivery, the students' as the parents',
is in an open window of its audience."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from _release_support import FakeClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconnexion.core.message import Audience, Kind, Message
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.hold.queue import HoldQueue
from deconnexion.release.deliver import Delivery
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store import MemoryStore
from deconnexion.store.base import HoldStore

PARIS = ZoneInfo("Europe/Paris")
LYCEE = Establishment(uai="0750001A")
SCHED = Scheduler(establishment=LYCEE)
START = datetime(2025, 11, 3, 0, 0, tzinfo=PARIS).timestamp()  # a Monday after Toussaint
DELAY = SCHED.policy.grade_parent_delay.total_seconds()


class Crash(BaseException):
    """The worker process dies: nothing in the worker catches it, its leases stay."""


class Deliveries:
    """Every delivery (recipient, held id, instant), failing at random like a flaky ENT."""

    def __init__(self, clock: FakeClock, fail_rate: float, seed: int) -> None:
        self.clock = clock
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.seen: list[tuple[str, str, float]] = []

    async def __call__(self, d: Delivery) -> None:
        if self.rng.random() < self.fail_rate:
            raise ConnectionError("ENT unavailable")
        for mid in d.ids:
            self.seen.append((d.recipients[0], mid, self.clock()))


def hold_grades(store: HoldStore, created: list[float]) -> list[tuple[str, str, float, float]]:
    """Both copies of each grade; (students' id, parents' id, their planned releases)."""
    pairs = []
    for n, t in enumerate(created):
        queue = HoldQueue(store, clock=lambda t=t: t)
        ids, releases = [], []
        for audience in (Audience.STUDENTS, Audience.PARENTS):
            message = Message(
                kind=Kind.GRADE, audience=audience, created_at=datetime.fromtimestamp(t, PARIS)
            )
            decision = SCHED.decide(message)
            result = queue.hold(
                establishment=LYCEE,
                message=message,
                decision=decision,
                payload={"note": n},
                idempotency_key=f"{n}:{audience.value}",
                recipients=(f"{audience.value}:{n % 3}",),  # some recipients get several
                follows=ids[0] if ids else None,
            )
            ids.append(result.id)
            releases.append(decision.release_at.timestamp())
        pairs.append((ids[0], ids[1], releases[0], releases[1]))
    return pairs


def play(
    store: HoldStore,
    clock: FakeClock,
    deliveries: Deliveries,
    crashes: set[int],
    crash_after: int,
    **worker_kw: Any,
) -> None:
    """Run the worker whenever something is due; at the steps in `crashes` a worker claims,
    delivers `crash_after` units and dies before acknowledging them."""

    def worker(name: str, deliverer: Any, **kw: Any) -> ReleaseWorker:
        return ReleaseWorker(store, deliverer, clock=clock, sleep=clock.sleep, worker_id=name, **kw)

    main = worker("main", deliveries, max_attempts=6, backoff_max=1800.0, **worker_kw)

    async def go() -> None:
        for step in range(20_000):  # smoothing at 0.01/s steps 100 s at a time for days
            due = store.next_due_at()
            if due is None:
                return
            clock.t = max(clock.t, due)
            if step not in crashes:
                await main.run_once()
                continue
            left = [crash_after]

            async def dies(d: Delivery, left: list[int] = left) -> None:
                if left[0] == 0:
                    raise Crash
                left[0] -= 1
                await deliveries(d)

            try:
                await worker(f"doomed-{step}", dies, concurrency=1).run_once()
            except Crash:
                pass
        raise AssertionError("the worker did not drain the store in 20,000 steps")

    asyncio.run(go())


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    created=st.lists(
        st.floats(min_value=START, max_value=START + 9 * 86_400, allow_nan=False),
        min_size=1,
        max_size=8,
    ),
    spread=st.sampled_from([None, 600.0, 3600.0]),
    max_rate=st.sampled_from([None, 0.01]),
    fail_rate=st.sampled_from([0.0, 0.3, 0.7]),
    crashes=st.sets(st.integers(min_value=0, max_value=40), max_size=6),
    crash_after=st.integers(min_value=0, max_value=2),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_parents_grades_follow_the_students_actual_delivery(
    created: list[float],
    spread: float | None,
    max_rate: float | None,
    fail_rate: float,
    crashes: set[int],
    crash_after: int,
    seed: int,
) -> None:
    store = MemoryStore()
    clock = FakeClock(min(created))
    pairs = hold_grades(store, sorted(created))
    deliveries = Deliveries(clock, fail_rate, seed)
    play(store, clock, deliveries, crashes, crash_after, spread_seconds=spread, max_rate=max_rate)

    times: dict[str, list[float]] = {}
    for _, mid, t in deliveries.seen:
        times.setdefault(mid, []).append(t)
    for students, parents, students_release, parents_release in pairs:
        for t in times.get(students, []):
            assert t >= students_release
            when = datetime.fromtimestamp(t, PARIS)
            assert not SCHED.is_quiet(when, Audience.STUDENTS), when
        for t in times.get(parents, []):
            assert t >= parents_release
            when = datetime.fromtimestamp(t, PARIS)
            assert not SCHED.is_quiet(when, Audience.PARENTS), when
            for s in times.get(students, []):
                assert t >= s + DELAY, (datetime.fromtimestamp(s, PARIS), when)
        row = store.get(LYCEE.key, parents)
        assert row is not None and row.state in ("released", "dead")  # never lost
