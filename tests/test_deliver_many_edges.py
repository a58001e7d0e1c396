"""The release worker's batch delivery (`deliver_many`) and the
"found open now" shortcut of `Followers.sort`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from _release_support import EST, T0, FakeClock, Recorder, held

from deconnexion.release.deliver import Delivery
from deconnexion.release.follow import Followers, SchedulerLookup
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store.base import HoldStore
from deconnexion.store.claimed import claimed_of

OPEN = T0 + 3 * 3600  # Monday 10:00 Paris: the parents' window is open


def rows(store: HoldStore) -> dict[str, tuple[str, int]]:
    return {m.idempotency_key: (m.state, m.attempts) for m in store.list(EST, limit=100)}


# -- Followers.sort: the (establishment, policy, zone, audience) shortcut ----------------------


def test_sort_survives_a_decision_whose_timezone_is_not_hashable(store: HoldStore) -> None:
    """A stored decision whose "timezone" is not a string (a list here) is read as no zone
    recorded, as `RecordedSchedulers` always did: the open-now shortcut once hashed the raw
    value and raised TypeError, failing the whole claimed batch, other senders' included."""
    odd = replace(held("odd"), decision={"timezone": ["Europe/Paris"]})
    fine = held("fine", recipients=("parent:2",))
    followers = Followers(store, SchedulerLookup())
    split = followers.sort([claimed_of(odd), claimed_of(fine)], OPEN)
    assert [m.idempotency_key for m in split.ready] == ["odd", "fine"]


def test_one_odd_decision_does_not_stop_the_batch_it_was_claimed_with(store: HoldStore) -> None:
    """Past `Followers.sort`, the delivery's release time (`ReleaseTimes`, `_tz`) reads the
    same zone (`ClaimedMessage.timezone`): an odd one stops neither the batch nor its
    other messages (it used to raise, lease after lease)."""
    clock = FakeClock(OPEN)
    odd = replace(held("odd", release_at=OPEN), decision={"timezone": {"zone": "Europe/Paris"}})
    fine = held("fine", release_at=OPEN, recipients=("parent:2",))
    store.insert_many([odd, fine], now=OPEN - 36_000)
    rec = Recorder(clock)
    worker = ReleaseWorker(store, rec, clock=clock, sleep=clock.sleep, worker_id="w1")
    asyncio.run(worker.run_once())  # raises TypeError from Followers.sort
    assert "fine" in rec.keys
    assert rows(store)["fine"] == ("released", 1)


# -- deliver_many: bad answers, slow calls ------------------------------------------------------


class Batch:
    def __init__(self, answer: Any, clock: FakeClock | None = None, spend: float = 0.0) -> None:
        self.answer = answer
        self.clock = clock
        self.spend = spend
        self.calls: list[list[str]] = []

    async def __call__(self, delivery: Delivery) -> None:
        raise AssertionError("a BatchDeliverer is called through deliver_many")

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> Any:
        self.calls.append([d.idempotency_key for d in deliveries])
        if self.clock is not None:
            self.clock.t += self.spend
        return self.answer(deliveries)


def _two(store: HoldStore, clock: FakeClock) -> None:
    store.insert_many([held("a"), held("b", recipients=("parent:2",))], now=clock.t - 36_000)


def test_deliver_many_returning_none_is_retried_not_acknowledged(store: HoldStore) -> None:
    """Held (kept): a deliver_many that forgets its `return` (None) delivered nothing."""
    clock = FakeClock()
    _two(store, clock)
    worker = ReleaseWorker(
        store, Batch(lambda ds: None), clock=clock, sleep=clock.sleep, worker_id="w1"
    )
    asyncio.run(worker.run_once())
    assert worker.counters["released"] == 0 and worker.counters["failed"] == 2
    assert rows(store) == {"a": ("held", 1), "b": ("held", 1)}


@pytest.mark.parametrize("shape", ["generator", "dict"])
def test_deliver_many_returning_a_generator_or_a_dict_is_retried(
    store: HoldStore, shape: str
) -> None:
    """Held (kept): answers that are not a Sequence, even of the right length."""
    answers = {
        "generator": lambda ds: (None for _ in ds),
        "dict": lambda ds: {i: None for i in range(len(ds))},
    }
    clock = FakeClock()
    _two(store, clock)
    worker = ReleaseWorker(
        store, Batch(answers[shape]), clock=clock, sleep=clock.sleep, worker_id="w1"
    )
    asyncio.run(worker.run_once())
    assert worker.counters["released"] == 0 and worker.counters["failed"] == 2
    assert rows(store) == {"a": ("held", 1), "b": ("held", 1)}


def test_a_layer_after_80_percent_of_the_lease_is_not_started(store: HoldStore) -> None:
    """Held (kept): the first layer's call takes 90% of the lease; the second layer (the same
    recipient's next message) must be given back undelivered, not an attempt."""
    clock = FakeClock()
    store.insert_many([held("a"), held("b")], now=clock.t - 36_000)  # one recipient: two layers
    deliverer = Batch(lambda ds: [None] * len(ds), clock, spend=0.9 * 60)
    worker = ReleaseWorker(
        store, deliverer, clock=clock, sleep=clock.sleep, worker_id="w1", lease_seconds=60
    )
    asyncio.run(worker.run_once())
    assert deliverer.calls == [["a"]]
    assert rows(store) == {"a": ("released", 1), "b": ("held", 0)}
