"""The worker delivers only inside an open window: a retry or an expired lease that brings a
message back after 20:00 waits for the next opening (only an honoured urgency goes at night)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from _release_support import EST, T0, FakeClock, Recorder, held

from deconnexion.core.policy import Policy
from deconnexion.core.territories import Establishment
from deconnexion.release.follow import FOLLOWS, Followers, SchedulerLookup
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store.base import HeldMessage, HoldStore
from deconnexion.store.claimed import claimed_of

MONDAY_20H = T0 + 13 * 3600  # T0 is Monday 2025-11-03 07:00 Paris
TUESDAY_7H = T0 + 24 * 3600


def run_at(store: HoldStore, clock: FakeClock, recorder: Recorder) -> int:
    worker = ReleaseWorker(store, recorder, clock=clock, sleep=clock.sleep, worker_id="w1")
    return asyncio.run(worker.run_once())


def test_a_message_due_again_at_night_waits_for_the_next_morning(store: HoldStore) -> None:
    # released Monday 07:00 (weekend), its retry comes due at 20:05: not at night
    (message,) = [held("retry", release_at=T0)]
    store.insert_many([message], now=T0 - 36_000)
    clock = FakeClock(MONDAY_20H + 300)
    recorder = Recorder(clock)

    run_at(store, clock, recorder)

    assert recorder.seen == []
    row = store.get(EST, message.id)
    assert row is not None and row.state == "held" and row.attempts == 0
    assert row.next_attempt_at == TUESDAY_7H
    clock.t = TUESDAY_7H
    run_at(store, clock, recorder)
    assert [(key, at) for key, _, at, _ in recorder.seen] == [("retry", TUESDAY_7H)]


def test_a_failed_delivery_retried_after_20h_goes_out_at_7h(store: HoldStore) -> None:
    message = held("late", release_at=MONDAY_20H - 1)
    store.insert_many([message], now=T0)
    clock = FakeClock(MONDAY_20H - 1)
    recorder = Recorder(clock, fail=lambda d: None if recorder.tries["late"] > 1 else OSError())
    worker = ReleaseWorker(store, recorder, clock=clock, sleep=clock.sleep, worker_id="w1")

    async def until_delivered() -> None:
        for _ in range(50):
            await worker.run_once()
            if recorder.seen:
                return
            due = store.next_due_at()
            clock.t = max(clock.t, due if due is not None else clock.t)

    asyncio.run(until_delivered())

    (seen,) = recorder.seen  # the retry's back-off ended after 20:00: it waited for 07:00
    assert seen[2] == TUESDAY_7H
    assert worker.counters["waited_for_open"] == 1


def test_an_honoured_urgency_goes_out_at_night(store: HoldStore) -> None:
    urgent = held(
        "alerte", release_at=MONDAY_20H + 3600, kind="message", urgent=True,
        reasons=("urgent_override",),
    )  # fmt: skip
    store.insert_many([urgent], now=MONDAY_20H + 3600)
    clock = FakeClock(MONDAY_20H + 3600)
    recorder = Recorder(clock)

    run_at(store, clock, recorder)

    assert recorder.keys == ["alerte"]


def _held_under(policy: Policy, key: str, release_at: float, **fields: Any) -> HeldMessage:
    return replace(held(key, release_at=release_at, **fields), policy=policy.identity.digest)


STRICT = Policy.from_mapping(
    {"open_hours": {"start": "08:00", "end": "18:00"}, "grade_parent_delay": "PT48H"}
)
MONDAY_18H30 = T0 + 11.5 * 3600
TUESDAY_8H = T0 + 25 * 3600


def test_a_retry_is_checked_against_the_policy_the_message_was_held_under(
    store: HoldStore,
) -> None:
    # held under 08:00-18:00; the worker runs the national 07:00-20:00: a retry due at 18:30
    # is open for the worker's policy, not for the message's: it waits for Tuesday 08:00
    store.record_policies({STRICT.identity.digest: STRICT.identity.json})
    message = _held_under(STRICT, "strict", MONDAY_18H30)
    store.insert_many([message], now=T0)
    clock = FakeClock(MONDAY_18H30)
    recorder = Recorder(clock)

    run_at(store, clock, recorder)

    assert recorder.seen == []
    row = store.get(EST, message.id)
    assert row is not None and row.state == "held" and row.next_attempt_at == TUESDAY_8H
    clock.t = TUESDAY_7H  # open for the national policy, still quiet for this message
    run_at(store, clock, recorder)
    assert recorder.seen == []
    clock.t = TUESDAY_8H
    run_at(store, clock, recorder)
    assert [(key, at) for key, _, at, _ in recorder.seen] == [("strict", TUESDAY_8H)]


def test_the_parents_delay_is_the_one_the_message_was_held_under(store: HoldStore) -> None:
    # students' copy delivered Monday 08:00; held under a 48 h parents' delay, the parents'
    # copy planned for Tuesday 08:00 (24 h, national) waits for Wednesday 08:00
    store.record_policies({STRICT.identity.digest: STRICT.identity.json})
    students = replace(_held_under(STRICT, "eleves", T0 + 3600), audience="students")
    parents = _held_under(STRICT, "parents", TUESDAY_8H, meta={FOLLOWS: students.id})
    store.insert_many([students, parents], now=T0)
    clock = FakeClock(T0 + 3600)
    recorder = Recorder(clock)
    run_at(store, clock, recorder)
    assert recorder.keys == ["eleves"]

    clock.t = TUESDAY_8H
    run_at(store, clock, recorder)

    assert recorder.keys == ["eleves"]
    row = store.get(EST, parents.id)
    assert row is not None and row.next_attempt_at == TUESDAY_8H + 24 * 3600


def test_a_policy_the_store_does_not_know_is_never_guessed(store: HoldStore) -> None:
    message = _held_under(STRICT, "unknown", MONDAY_18H30)  # its policy was never recorded
    store.insert_many([message], now=T0)
    clock = FakeClock(MONDAY_18H30)
    recorder = Recorder(clock)

    run_at(store, clock, recorder)

    assert recorder.seen == []
    row = store.get(EST, message.id)
    assert row is not None and row.state == "held" and row.next_attempt_at > MONDAY_18H30


def test_a_retry_is_checked_in_the_time_zone_the_message_was_decided_in(store: HoldStore) -> None:
    # a collège on Nuku Hiva keeps Marquesas time (UTC-9:30); its key names only the territory
    # (Tahiti, UTC-10): 20:10 on Nuku Hiva is 19:40 in Tahiti, open there, night here
    polynesie = Establishment(zone="Polynésie")
    marquesas = ZoneInfo("Pacific/Marquesas")
    night = datetime(2025, 11, 18, 20, 10, tzinfo=marquesas).timestamp()  # a Tuesday
    seven = datetime(2025, 11, 19, 7, 0, tzinfo=marquesas).timestamp()
    message = replace(
        held("nuku-hiva", release_at=night), establishment=polynesie.key,
        decision={"timezone": "Pacific/Marquesas"},
    )  # fmt: skip
    store.insert_many([message], now=night - 36_000)
    clock = FakeClock(night)
    recorder = Recorder(clock)

    run_at(store, clock, recorder)

    assert recorder.seen == []
    row = store.get(polynesie.key, message.id)
    assert row is not None and row.next_attempt_at == seven


def test_each_recorded_zone_and_audience_is_asked_on_its_own(store: HoldStore) -> None:
    """`Followers.sort` answers a message from an earlier one found open now only when both
    share establishment, policy, recorded zone and audience: 11:00 in Paris is 21:00 in
    Nouméa, where a message recorded in that zone waits (and a students' copy at 11:00 goes)."""
    now = T0 + 4 * 3600  # Monday 11:00 in Paris
    paris = [held("a"), held("c")]
    noumea = replace(held("b"), decision={"timezone": "Pacific/Noumea"})
    students = replace(held("d"), audience="students")
    batch = [paris[0], noumea, paris[1], students]
    split = Followers(store, SchedulerLookup()).sort([claimed_of(m) for m in batch], now)
    assert [m.idempotency_key for m in split.ready] == ["a", "c", "d"]
    assert [[m.idempotency_key for m in ms] for ms, _ in split.quiet] == [["b"]]
    waits_until = split.quiet[0][1]
    assert datetime.fromtimestamp(waits_until, ZoneInfo("Pacific/Noumea")).hour == 7
