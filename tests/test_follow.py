"""Parents' grades follow the students' actual delivery (deconnexion.release.follow), on
every store: a late, retried or re-delivered students' copy pushes the parents' copy."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from _release_support import FakeClock, Recorder

from deconnexion.core.message import Audience, Kind, Message
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.errors import InvalidInputError
from deconnexion.hold.queue import HoldQueue, HoldRequest
from deconnexion.release.deliver import Delivery
from deconnexion.release.follow import SchedulerLookup, establishment_of_key
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store.base import HoldStore

PARIS = ZoneInfo("Europe/Paris")
LYCEE = Establishment(uai="0750001A")
SCHED = Scheduler(establishment=LYCEE)
DAY = 86_400.0


def at(day: int, hour: int, minute: int = 0) -> float:
    """An instant of November 2025 in Paris (Monday 3 is the first school day)."""
    return datetime(2025, 11, day, hour, minute, tzinfo=PARIS).timestamp()


def hold_grade(queue: HoldQueue, created: float, name: str = "g") -> tuple[str, str]:
    """Hold both copies of a grade entered at `created`; (students' id, parents' id)."""
    ids = []
    follows = None
    for audience in (Audience.STUDENTS, Audience.PARENTS):
        message = Message(
            kind=Kind.GRADE,
            audience=audience,
            created_at=datetime.fromtimestamp(created, PARIS),
        )
        result = queue.hold(
            establishment=LYCEE,
            message=message,
            decision=SCHED.decide(message),
            payload={"note": name, "to": audience.value},
            idempotency_key=f"{name}:{audience.value}",
            recipients=(f"{audience.value}:1",),
            follows=follows,
        )
        follows = result.id
        ids.append(result.id)
    return ids[0], ids[1]


def worker(store: HoldStore, clock: FakeClock, deliverer: Any, **kw: Any) -> ReleaseWorker:
    kw.setdefault("worker_id", "w1")
    return ReleaseWorker(store, deliverer, clock=clock, sleep=clock.sleep, **kw)


def drain(w: ReleaseWorker) -> None:
    async def go() -> None:
        for _ in range(50):
            if await w.run_once() == 0:
                break

    asyncio.run(go())


def sent(rec: Recorder, audience: str) -> list[float]:
    return [t for _, _, t, d in rec.seen if d.recipients == (f"{audience}:1",)]


def test_on_time_students_leave_the_parents_release_as_planned(store: HoldStore) -> None:
    clock = FakeClock(at(4, 7))
    queue = HoldQueue(store, clock=clock)
    hold_grade(queue, at(3, 21))
    rec = Recorder(clock)
    w = worker(store, clock, rec)
    drain(w)
    clock.t = at(5, 7)
    drain(w)
    assert sent(rec, "students") == [at(4, 7)]
    assert sent(rec, "parents") == [at(5, 7)]
    assert w.counters["waited_for_students"] == 0


def test_students_delivered_late_push_the_parents_to_24h_after_the_real_delivery(
    store: HoldStore,
) -> None:
    clock = FakeClock(at(4, 10, 30))  # the worker was down from 07:00 to 10:30
    queue = HoldQueue(store, clock=clock)
    _, parents = hold_grade(queue, at(3, 21))
    rec = Recorder(clock)
    w = worker(store, clock, rec)
    drain(w)
    clock.t = at(5, 7)  # the parents' planned release: too soon after 10:30 yesterday
    drain(w)
    assert sent(rec, "parents") == []
    row = store.get(LYCEE.key, parents)
    assert row is not None and row.state == "held" and row.next_attempt_at == at(5, 10, 30)
    assert row.attempts == 0  # waiting is not an attempt
    assert w.counters["waited_for_students"] == 1
    clock.t = at(5, 10, 30)
    drain(w)
    assert sent(rec, "parents") == [at(5, 10, 30)]
    assert sent(rec, "parents")[0] - sent(rec, "students")[0] == DAY


def test_a_delay_ending_in_a_quiet_window_moves_to_the_next_opening(store: HoldStore) -> None:
    # entered on Wednesday night: students on Thursday 07:00, parents on Friday 07:00; the
    # worker is down until Friday 19:55 and sends the students' copy then: 24 h later is
    # Saturday evening, so the parents get it on Monday 07:00
    clock = FakeClock(at(7, 19, 55))
    queue = HoldQueue(store, clock=clock)
    hold_grade(queue, at(5, 21))
    rec = Recorder(clock)
    w = worker(store, clock, rec)
    drain(w)
    assert sent(rec, "students") == [at(7, 19, 55)]
    assert sent(rec, "parents") == []
    clock.t = at(8, 19, 55)
    drain(w)
    assert sent(rec, "parents") == []
    clock.t = at(10, 7)
    drain(w)
    assert sent(rec, "parents") == [at(10, 7)]


def test_students_still_failing_keep_the_parents_waiting(store: HoldStore) -> None:
    clock = FakeClock(at(4, 7))
    queue = HoldQueue(store, clock=clock)
    hold_grade(queue, at(3, 21))
    up = {"students": False}

    def fail(d: Delivery) -> Exception | None:
        if d.recipients == ("students:1",) and not up["students"]:
            return ConnectionError("ENT down")
        return None

    rec = Recorder(clock, fail)
    w = worker(store, clock, rec, backoff_base=2.0, backoff_max=3600.0, max_attempts=100)
    while clock.t < at(5, 7, 30):  # the students' copy fails for a day and a half
        drain(w)
        due = store.next_due_at()
        assert due is not None
        clock.t = max(clock.t + 1, due)
    assert sent(rec, "parents") == []
    up["students"] = True
    while not sent(rec, "parents"):
        drain(w)
        due = store.next_due_at()
        if due is None:
            break
        clock.t = max(clock.t, due)
    (students,) = sent(rec, "students")
    (parents,) = sent(rec, "parents")
    assert parents >= students + DAY
    assert not SCHED.is_quiet(datetime.fromtimestamp(parents, PARIS), Audience.PARENTS)


class Crash(BaseException):
    """The worker process dies (not an Exception: nothing in the worker catches it)."""


def test_a_crash_after_delivery_counts_the_delay_from_the_last_delivery(
    store: HoldStore,
) -> None:
    clock = FakeClock(at(4, 7))
    queue = HoldQueue(store, clock=clock)
    hold_grade(queue, at(3, 21))
    rec = Recorder(clock)

    async def dies_after_delivering(d: Delivery) -> None:
        await rec(d)
        raise Crash

    with pytest.raises(Crash):
        asyncio.run(worker(store, clock, dies_after_delivering, worker_id="dead").run_once())
    clock.t = at(4, 9)  # its lease expired long ago; another worker delivers again at 09:00
    w = worker(store, clock, rec, worker_id="w2")
    drain(w)
    assert sent(rec, "students") == [at(4, 7), at(4, 9)]
    clock.t = at(5, 7)
    drain(w)
    clock.t = at(5, 9)
    drain(w)
    assert sent(rec, "parents") == [at(5, 9)]


def test_a_cancelled_students_copy_leaves_the_parents_as_planned(store: HoldStore) -> None:
    clock = FakeClock(at(4, 6))
    queue = HoldQueue(store, clock=clock)
    students, _ = hold_grade(queue, at(3, 21))
    assert queue.cancel(LYCEE, students)
    rec = Recorder(clock)
    clock.t = at(5, 7)
    drain(worker(store, clock, rec))
    assert sent(rec, "parents") == [at(5, 7)]


def test_the_worker_uses_the_delay_of_the_policy_it_is_given(store: HoldStore) -> None:
    from deconnexion.core.policy import Policy

    policy = Policy.national().model_copy(update={"grade_parent_delay": timedelta(days=2)})
    clock = FakeClock(at(4, 10))
    queue = HoldQueue(store, clock=clock)
    hold_grade(queue, at(3, 21))
    rec = Recorder(clock)
    w = worker(store, clock, rec, schedulers=SchedulerLookup(policy, [LYCEE]))
    drain(w)
    clock.t = at(5, 10)
    drain(w)
    assert sent(rec, "parents") == []
    clock.t = at(6, 10)
    drain(w)
    assert sent(rec, "parents") == [at(6, 10)]


# -- holding a linked copy ------------------------------------------------------------------


def _parents_request(follows: str, **kw: Any) -> HoldRequest:
    message = Message(
        kind=kw.pop("kind", Kind.GRADE),
        audience=kw.pop("audience", Audience.PARENTS),
        created_at=datetime(2025, 11, 3, 21, tzinfo=PARIS),
    )
    return HoldRequest(
        kw.pop("establishment", LYCEE),
        message,
        SCHED.decide(message),
        b"x",
        kw.pop("key", "p"),
        follows=follows,
        **kw,
    )


def test_follows_must_name_a_students_grade_of_the_same_establishment_and_sender(
    store: HoldStore,
) -> None:
    queue = HoldQueue(store, clock=lambda: at(3, 21))
    students, parents = hold_grade(queue, at(3, 21))
    with pytest.raises(InvalidInputError, match=r"requests\[1\]\.follows: 'nope' is no message"):
        queue.hold_many([_parents_request(students, key="ok"), _parents_request("nope")])
    with pytest.raises(InvalidInputError, match=r"follows: .* is a grade to parents"):
        queue.hold_many([_parents_request(parents, key="p2")])
    other = Establishment(uai="0671234X")
    with pytest.raises(
        InvalidInputError, match="is no message of this sender in establishment '0671234X'"
    ):
        queue.hold_many([_parents_request(students, establishment=other, key="p3")])
    with pytest.raises(InvalidInputError, match="is no message of this sender"):
        queue.hold_many([_parents_request(students, key="p6", actor="someone-else")])
    with pytest.raises(InvalidInputError, match="only a grade to parents follows"):
        queue.hold_many([_parents_request(students, audience=Audience.STUDENTS, key="p4")])
    with pytest.raises(InvalidInputError, match=r"meta\.follows: .*worker's"):
        queue.hold_many([_parents_request(students, key="p5", meta={"follows": "x"})])
    assert queue.stats(LYCEE).held == 2  # nothing of the refused batches was held


def test_hold_each_refuses_only_the_request_following_nothing(store: HoldStore) -> None:
    queue = HoldQueue(store, clock=lambda: at(3, 21))
    students, _ = hold_grade(queue, at(3, 21))
    good, bad = _parents_request(students, key="ok"), _parents_request("nope", key="bad")
    results = queue.hold_each([bad, good])
    assert isinstance(results[0], InvalidInputError) and "'nope' is no message" in str(results[0])
    assert not isinstance(results[1], InvalidInputError) and results[1].outcome == "held"


def test_the_link_is_kept_in_meta_and_read_back(store: HoldStore) -> None:
    queue = HoldQueue(store, clock=lambda: at(3, 21))
    students, parents = hold_grade(queue, at(3, 21))
    row = queue.get(LYCEE, parents)
    assert row is not None and row.meta["follows"] == students


def test_a_tenant_key_names_its_establishment() -> None:
    assert establishment_of_key("0750001A").uai == "0750001A"
    assert establishment_of_key("zone:Zone C").key == "zone:Zone C"


class CountingGets:
    """The real store, counting `get` (the follow check's store read)."""

    def __init__(self, store: HoldStore) -> None:
        self.store = store
        self.gets = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def get(self, establishment: str, message_id: str) -> Any:
        self.gets += 1
        return self.store.get(establishment, message_id)


def test_a_students_grade_this_queue_held_is_followed_without_reading_the_store(
    store: HoldStore,
) -> None:
    counting = CountingGets(store)
    queue = HoldQueue(counting, clock=lambda: at(3, 21))  # type: ignore[arg-type]
    students, parents = hold_grade(queue, at(3, 21))
    queue.hold_many([_parents_request(students, key="again")])
    assert counting.gets == 0  # both parents' copies: the students' copy was remembered
    # what is not remembered, or not of this sender, is still asked of the store and refused
    with pytest.raises(InvalidInputError, match="is no message of this sender"):
        queue.hold_many([_parents_request(students, key="p6", actor="someone-else")])
    with pytest.raises(InvalidInputError, match=r"follows: .* is a grade to parents"):
        queue.hold_many([_parents_request(parents, key="p2")])
    assert counting.gets == 2


def test_another_queue_or_a_new_store_reads_the_students_copy_from_the_store(
    store: HoldStore,
) -> None:
    students, _ = hold_grade(HoldQueue(store, clock=lambda: at(3, 21)), at(3, 21))
    counting = CountingGets(store)
    other = HoldQueue(counting, clock=lambda: at(3, 21))  # type: ignore[arg-type]
    other.hold_many([_parents_request(students, key="from-another-queue")])
    assert counting.gets == 1
    mine = HoldQueue(store, clock=lambda: at(3, 21))
    held, _ = hold_grade(mine, at(3, 21), name="h")
    mine.store = counting  # type: ignore[assignment]  # what it remembered was another store's
    mine.hold_many([_parents_request(held, key="after-the-swap")])
    assert counting.gets == 2
