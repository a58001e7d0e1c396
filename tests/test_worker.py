"""The release worker on every store: never early, retries with back-off, dead letters,
lease expiry, wake-ups, per-recipient order, smoothing, digests, graceful stop."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from _release_support import EST, T0, FakeClock, Recorder, held

from deconnexion.errors import InvalidInputError
from deconnexion.release.deliver import Delivery, PermanentDeliveryError
from deconnexion.release.units import backoff_delay
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store.base import HeldMessage, HoldStore
from deconnexion.store.claimed import ClaimedMessage, release_claims


@pytest.fixture(autouse=True, params=["per delivery", "deliver_many"])
def delivery_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test twice: the recorders take one delivery per call, then whole layers of a
    batch through `deliver_many` (a `BatchDeliverer`)."""
    Recorder.batch = request.param == "deliver_many"
    try:
        yield request.param
    finally:
        Recorder.batch = False


def hold(store: HoldStore, *messages: HeldMessage) -> list[str]:
    store.insert_many(list(messages), now=T0 - 36_000)
    return [m.id for m in messages]


def make(
    store: HoldStore, clock: FakeClock, deliverer: Any = None, **kw: Any
) -> tuple[ReleaseWorker, Recorder]:
    recorder = deliverer or Recorder(clock)
    kw.setdefault("worker_id", "w1")
    return ReleaseWorker(store, recorder, clock=clock, sleep=clock.sleep, **kw), recorder


def drain(worker: ReleaseWorker, rounds: int = 50) -> int:
    async def go() -> int:
        total = 0
        for _ in range(rounds):
            n = await worker.run_once()
            total += n
            if n == 0:
                break
        return total

    return asyncio.run(go())


def state(store: HoldStore, mid: str) -> str:
    found = store.get(EST, mid)
    assert found is not None
    return found.state


# -- never early ----------------------------------------------------------------------------


def test_nothing_goes_out_before_release_at(store: HoldStore) -> None:
    clock = FakeClock(T0 - 1)
    worker, rec = make(store, clock)
    ids = hold(store, held("a"), held("b", release_at=T0 + 3600))
    assert drain(worker) == 0
    assert rec.seen == []
    clock.t = T0
    assert drain(worker) == 1
    assert rec.keys == ["a"]
    assert state(store, ids[1]) == "held"
    clock.t = T0 + 3600
    drain(worker)
    assert rec.keys == ["a", "b"]
    for _, _, at, delivery in rec.seen:
        assert at >= delivery.release_at.timestamp()


class EarlyStore:
    """A broken store that hands out messages before their release time."""

    def __init__(self, inner: HoldStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def claim_due(self, now: float, limit: int, lease: float, worker: str) -> list[HeldMessage]:
        return self.inner.claim_due(now + 86_400, limit, lease, worker)

    def claim_release(
        self, now: float, limit: int, lease: float, worker: str
    ) -> list[ClaimedMessage]:
        return release_claims(self.claim_due(now, limit, lease, worker))


def test_a_message_handed_out_early_is_not_delivered_but_given_back(store: HoldStore) -> None:
    clock = FakeClock(T0)
    late, _ = hold(
        store,
        held("in-an-hour", release_at=T0 + 3600),
        held("soon", release_at=T0 + 10, recipients=("p2",)),
    )
    worker, rec = make(store, clock)
    worker.store = EarlyStore(store)  # type: ignore[assignment]
    asyncio.run(worker.run_once())
    assert rec.keys == ["soon"]  # waited for its release time within the lease
    assert rec.seen[0][2] == T0 + 10
    row = store.get(EST, late)
    assert row is not None and row.state == "held" and row.next_attempt_at >= T0 + 3600


def test_the_last_check_before_sending_refuses_an_early_message(store: HoldStore) -> None:
    clock = FakeClock(T0)
    (mid,) = hold(store, held("in-an-hour", release_at=T0 + 3600))
    worker, rec = make(store, clock)
    worker.store = EarlyStore(store)  # type: ignore[assignment]
    worker.send_slots = lambda units, now: [now for _ in units]  # type: ignore[method-assign]
    asyncio.run(worker.run_once())
    assert rec.seen == []
    assert worker.counters["early_skipped"] == 1
    row = store.get(EST, mid)
    assert row is not None and row.state == "held" and row.next_attempt_at >= T0 + 3600


# -- failures -------------------------------------------------------------------------------


def test_failed_delivery_is_retried_with_exponential_back_off(store: HoldStore) -> None:
    clock = FakeClock()
    (mid,) = hold(store, held("a"))
    failures = iter([RuntimeError("503"), RuntimeError("503"), None])
    rec = Recorder(clock, lambda d: next(failures))
    worker, _ = make(store, clock, rec, backoff_base=2.0)
    asyncio.run(worker.run_once())
    first = store.get(EST, mid)
    assert first is not None and first.state == "held"
    wait = first.next_attempt_at - T0
    assert backoff_delay(1, base=2, cap=3600, key=mid, jitter=0) <= wait
    assert wait == pytest.approx(backoff_delay(1, base=2, cap=3600, key=mid))
    clock.t = first.next_attempt_at - 0.01
    assert drain(worker) == 0  # not yet
    clock.t = first.next_attempt_at
    drain(worker)
    second = store.get(EST, mid)
    assert second is not None and second.next_attempt_at - clock.t >= 4.0  # 2**2
    clock.t = second.next_attempt_at
    drain(worker)
    assert rec.keys == ["a"]
    assert state(store, mid) == "released"
    assert worker.counters["failed"] == 2 and worker.counters["released"] == 1
    actions = [e.action for e in store.audit(EST, message_id=mid)]
    assert actions.count("failure") == 2 and actions[-1] == "release"


def test_after_max_attempts_a_message_is_dead_and_audited(store: HoldStore) -> None:
    clock = FakeClock()
    (mid,) = hold(store, held("a"))
    rec = Recorder(clock, lambda d: RuntimeError("ENT down"))
    worker, _ = make(store, clock, rec, max_attempts=3)
    for _ in range(5):
        drain(worker)
        row = store.get(EST, mid)
        assert row is not None
        clock.t = max(clock.t, row.next_attempt_at) + 0.001
    assert state(store, mid) == "dead"
    assert rec.tries["a"] == 3
    assert worker.counters["dead"] == 1 and worker.counters["failed"] == 2
    dead = [e for e in store.audit(EST, message_id=mid) if e.action == "dead"]
    assert len(dead) == 1 and "ENT down" in dead[0].detail["error"]


def test_a_permanent_refusal_is_dead_at_once(store: HoldStore) -> None:
    clock = FakeClock()
    (mid,) = hold(store, held("a"))
    rec = Recorder(clock, lambda d: PermanentDeliveryError("HTTP 410 Gone"))
    worker, _ = make(store, clock, rec)
    drain(worker)
    assert state(store, mid) == "dead"
    assert rec.tries["a"] == 1


def test_retry_after_from_the_receiver_is_honoured(store: HoldStore) -> None:
    from deconnexion.release.deliver import DeliveryError

    clock = FakeClock()
    (mid,) = hold(store, held("a"))
    rec = Recorder(clock, lambda d: DeliveryError("HTTP 429", retry_after=600))
    worker, _ = make(store, clock, rec)
    asyncio.run(worker.run_once())
    row = store.get(EST, mid)
    assert row is not None and row.next_attempt_at >= T0 + 600


def test_a_recipients_later_messages_wait_behind_a_failed_one(store: HoldStore) -> None:
    clock = FakeClock()
    hold(store, held("m1"), held("m2"), held("m3"), held("other", recipients=("parent:2",)))
    once = {"m1"}

    def fail(d: Delivery) -> Exception | None:
        if d.idempotency_key in once:
            once.discard(d.idempotency_key)
            return RuntimeError("timeout")
        return None

    worker, rec = make(store, clock, Recorder(clock, fail))
    for _ in range(10):
        drain(worker)
        nxt = store.next_due_at()
        if nxt is None:
            break
        clock.t = max(clock.t, nxt)
    assert [k for k in rec.keys if k != "other"] == ["m1", "m2", "m3"]
    assert "other" in rec.keys


# -- leases ---------------------------------------------------------------------------------


def test_an_expired_lease_makes_the_message_claimable_again(store: HoldStore) -> None:
    clock = FakeClock()
    (mid,) = hold(store, held("a"))
    ghost = store.claim_due(T0, 10, 60.0, "ghost")  # a worker that then dies
    assert [m.id for m in ghost] == [mid]
    worker, rec = make(store, clock, lease_seconds=60.0)
    clock.t = T0 + 59
    assert drain(worker) == 0
    clock.t = T0 + 60
    assert drain(worker) == 1
    assert rec.keys == ["a"]
    row = store.get(EST, mid)
    assert row is not None and row.state == "released" and row.attempts == 2


def test_no_delivery_starts_once_most_of_the_lease_has_passed(
    store: HoldStore, delivery_path: str
) -> None:
    clock = FakeClock()
    # one delivery at a time: three recipients; `deliver_many` hands a call's deliveries over
    # at once, so the rule is checked before each call: one recipient's three, a call each
    b, c = ("parent:1", "parent:1") if delivery_path == "deliver_many" else ("parent:2", "parent:3")
    ids = hold(store, held("a"), held("b", recipients=(b,)), held("c", recipients=(c,)))
    sent: list[str] = []

    def slow_first(delivery: Delivery) -> None:  # the first delivery takes 85 % of the lease
        if not sent:
            clock.t += 51.0
        sent.append(delivery.idempotency_key)

    worker, rec = make(
        store, clock, Recorder(clock, fail=slow_first), lease_seconds=60.0, concurrency=1
    )
    assert asyncio.run(worker.run_once()) == 3
    assert rec.keys == ["a"] and worker.counters["deferred"] == 2
    for mid in ids[1:]:  # given back before their lease ended, due now, not an attempt
        row = store.get(EST, mid)
        assert row is not None and row.state == "held" and row.attempts == 0
        assert row.next_attempt_at == clock.t
    drain(worker)
    assert rec.keys == ["a", "b", "c"]


def test_a_message_that_keeps_killing_workers_ends_dead(store: HoldStore) -> None:
    clock = FakeClock()
    (mid,) = hold(store, held("poison"))
    for n in range(3):
        store.claim_due(T0 + n * 100, 10, 60.0, f"ghost{n}")
    worker, rec = make(store, clock, max_attempts=3)
    clock.t = T0 + 1000
    drain(worker)
    assert rec.seen == []
    assert state(store, mid) == "dead"


# -- waking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["wake", "store"])
def test_a_message_held_while_sleeping_and_due_sooner_wakes_the_worker(
    store: HoldStore, how: str
) -> None:
    import time

    # honoured urgencies: the worker runs on the real clock, and a plain message waits for an
    # open window (none at night)
    override = ("urgent_override",)
    hold(store, held("later", release_at=time.time() + 3600, urgent=True, reasons=override))
    delivered = asyncio.Event

    async def go() -> list[str]:
        got = delivered()
        seen: list[str] = []

        async def deliver(d: Delivery) -> None:
            seen.append(d.idempotency_key)
            got.set()

        worker = ReleaseWorker(store, deliver, poll_interval=600, worker_id="w")
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.3)  # asleep until the 1-hour message
        now = time.time()
        await asyncio.to_thread(
            store.insert_many,
            [held("now", release_at=now, created_at=now, urgent=True, reasons=override)],
            now=now,
        )
        if how == "wake":
            worker.wake()
        await asyncio.wait_for(got.wait(), 20)
        worker.stop()
        await asyncio.wait_for(task, 20)
        return seen

    assert asyncio.run(go()) == ["now"]


def test_run_returns_when_the_stop_event_is_set(store: HoldStore) -> None:
    async def go() -> None:
        stop = asyncio.Event()
        worker = ReleaseWorker(store, Recorder(lambda: 0.0), poll_interval=600)
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(go())


# -- smoothing and digests ------------------------------------------------------------------


def test_max_rate_spaces_deliveries_and_sends_timetable_changes_first(store: HoldStore) -> None:
    clock = FakeClock()
    msgs = [held(f"g{i}", recipients=(f"p{i}",)) for i in range(20)]
    msgs.append(held("tt", kind="timetable", recipients=("p99",)))
    hold(store, *msgs)
    worker, rec = make(store, clock, max_rate=10)
    drain(worker)
    assert len(rec.seen) == 21
    assert rec.keys[0] == "tt"
    times = [at for _, _, at, _ in rec.seen]
    assert all(b - a >= 0.1 - 1e-6 for a, b in itertools.pairwise(times))
    assert worker.counters["released"] == 21


def test_a_spread_window_releases_the_backlog_over_the_window(store: HoldStore) -> None:
    clock = FakeClock()
    hold(store, *[held(f"g{i}", recipients=(f"p{i}",)) for i in range(120)])
    worker, rec = make(store, clock, spread_seconds=60.0, lease_seconds=60.0)
    drain(worker, rounds=200)
    assert len(rec.seen) == 120
    times = [at for _, _, at, _ in rec.seen]
    assert times[0] == T0
    assert T0 + 45 <= times[-1] <= T0 + 60  # spread, and done within the window


def test_smoothing_never_delays_a_message_released_inside_an_open_window(
    store: HoldStore,
) -> None:
    # parents' grades released at 19:59:55 (24 h after the students'): no spreading into 20:00
    evening = T0 + 13 * 3600 - 5
    clock = FakeClock(evening)
    grades = [
        held(f"g{i}", release_at=evening, recipients=(f"p{i}",), reasons=("grade_parent_delay",))
        for i in range(5)
    ]
    hold(store, *grades)
    worker, rec = make(store, clock, spread_seconds=900.0, max_rate=0.1)
    drain(worker)
    assert sorted(rec.keys) == [f"g{i}" for i in range(5)]
    assert all(at == evening for _, _, at, _ in rec.seen)


def test_smoothing_stops_at_the_end_of_the_open_window_the_queue_recorded(
    store: HoldStore,
) -> None:
    clock = FakeClock()
    until = T0 + 30
    msgs = [held(f"m{i}", recipients=(f"p{i}",), meta={"open_until": until}) for i in range(10)]
    hold(store, *msgs)
    worker, rec = make(store, clock, max_rate=0.1)  # one per 10 s would end at T0 + 90
    drain(worker)
    assert len(rec.seen) == 10
    assert max(at for _, _, at, _ in rec.seen) <= until - 1


def test_digest_merges_one_recipients_messages_into_one_delivery(store: HoldStore) -> None:
    clock = FakeClock()
    friday_evening = T0 - 2 * 86_400 - 11 * 3600 + 1800  # Friday 20:30
    a = [held(f"a{i}", created_at=friday_evening + i) for i in range(3)]
    b = held("b", recipients=("parent:2",), kind="homework")
    ids = hold(store, *a, b)
    worker, rec = make(store, clock, digest=True)
    drain(worker)
    assert len(rec.seen) == 2
    digest = next(d for _, _, _, d in rec.seen if d.digest)
    assert digest.ids == tuple(ids[:3])
    doc = json.loads(digest.payload)
    assert doc["title"] == "3 nouveautés depuis vendredi soir"
    assert [i["idempotency_key"] for i in doc["items"]] == ["a0", "a1", "a2"]
    assert all(state(store, mid) == "released" for mid in ids)
    assert worker.counters["digests"] == 1 and worker.counters["released"] == 4


# -- stopping and reporting -----------------------------------------------------------------


def test_stop_during_a_paced_batch_gives_the_rest_back(store: HoldStore) -> None:
    clock = FakeClock()
    ids = hold(store, *[held(f"g{i}", recipients=(f"p{i}",)) for i in range(10)])
    worker = None

    async def deliver(d: Delivery) -> None:
        if d.idempotency_key == "g2" and worker is not None:
            worker.stop()

    worker, _ = make(store, clock, deliver, max_rate=1)
    asyncio.run(worker.run_once())
    states = [state(store, mid) for mid in ids]
    assert states[:3] == ["released"] * 3
    assert states[3:] == ["held"] * 7  # not lost, not stuck in a lease


def test_counters_and_prometheus_text(store: HoldStore) -> None:
    clock = FakeClock()
    hold(store, held("a"), held("b", recipients=("p2",)))
    worker, _ = make(store, clock)
    drain(worker)
    assert worker.counters["released"] == 2 and worker.counters["batches"] == 1
    assert worker.counters["last_batch_at"] == T0
    text = worker.prometheus_text()
    assert 'deconnexion_worker_released_total{worker="w1"} 2' in text
    assert "# TYPE deconnexion_worker_dead_total counter" in text


def test_one_log_line_per_batch(store: HoldStore, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    hold(store, held("a"), held("b", release_at=T0 + 86_400))
    worker, _ = make(store, clock)
    with caplog.at_level("INFO", logger="deconnexion.worker"):
        drain(worker)
    lines = [r.getMessage() for r in caplog.records if r.name == "deconnexion.worker"]
    assert lines == [lines[0]] and lines[0].startswith("released 1 (0 failed, 0 dead) in ")
    assert lines[0].endswith("next due 2025-11-04T07:00:00+01:00")


@pytest.mark.parametrize(
    ("field", "value"),
    [("batch_size", 0), ("lease_seconds", -1), ("max_rate", 0), ("backoff_base", 0.5)],
)
def test_bad_settings_are_refused_by_name(store: HoldStore, field: str, value: float) -> None:
    with pytest.raises(InvalidInputError, match=field):
        ReleaseWorker(store, Recorder(lambda: 0.0), **{field: value})


def test_something_that_is_not_a_store_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="HoldStore"):
        ReleaseWorker(object(), Recorder(lambda: 0.0))


def test_a_hold_queue_is_accepted_and_its_messages_come_out_as_held(store: HoldStore) -> None:
    from datetime import datetime

    from deconnexion.core.message import (
        Audience,
        Decision,
        Kind,
        Message,
        Provenance,
        Reason,
        ReasonCode,
    )
    from deconnexion.core.timeutil import zone
    from deconnexion.hold.queue import HoldQueue

    paris = zone("Europe/Paris")
    friday = datetime(2025, 10, 31, 21, 0, tzinfo=paris)
    monday = datetime(2025, 11, 3, 7, 0, tzinfo=paris)
    message = Message(kind=Kind.HOMEWORK, audience=Audience.STUDENTS, created_at=friday)
    decision = Decision(
        held=True,
        release_at=monday,
        created_at=friday,
        audience=Audience.STUDENTS,
        kind=Kind.HOMEWORK,
        reasons=(Reason(ReasonCode.WEEKEND, "week-end", "weekend"),),
        provenance=Provenance.OFFICIAL,
    )
    queue = HoldQueue(store, clock=lambda: friday.timestamp())
    queue.hold(
        establishment="0750001A",
        message=message,
        decision=decision,
        payload={"devoir": "exercice 3 p. 42"},
        idempotency_key="hw-1",
        recipients=("eleve:9",),
    )
    clock = FakeClock(monday.timestamp())
    worker, rec = make(queue, clock)  # type: ignore[arg-type]
    drain(worker)
    (delivery,) = [d for _, _, _, d in rec.seen]
    assert delivery.idempotency_key == "hw-1"
    assert delivery.recipients == ("eleve:9",)
    assert delivery.release_at == monday
    assert json.loads(delivery.payload) == {"devoir": "exercice 3 p. 42"}


class FlakyStore(EarlyStore):
    """A store whose first claim fails (a dropped connection)."""

    def __init__(self, inner: HoldStore) -> None:
        super().__init__(inner)
        self.failures = 1

    def claim_due(self, now: float, limit: int, lease: float, worker: str) -> list[HeldMessage]:
        if self.failures:
            self.failures -= 1
            from deconnexion.errors import StoreError

            raise StoreError("server closed the connection unexpectedly")
        return self.inner.claim_due(now, limit, lease, worker)


def test_run_survives_a_store_error_and_carries_on(
    store: HoldStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    hold(store, held("a"))
    worker, rec = make(store, clock)
    worker.store = FlakyStore(store)  # type: ignore[assignment]
    with caplog.at_level("ERROR", logger="deconnexion.worker"):
        asyncio.run(worker.run(drain=True))
    assert rec.keys == ["a"]
    assert "release batch failed" in caplog.text
    assert clock.slept and clock.slept[0] == 2.0  # backed off before trying again
