"""The worker delivers only inside an open window: a retry or an expired lease that brings a
message back after 20:00 waits for the next opening (only an honoured urgency goes at night)."""

from __future__ import annotations

import asyncio

from _release_support import EST, T0, FakeClock, Recorder, held

from deconnexion.release.worker import ReleaseWorker
from deconnexion.store.base import HoldStore

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
