"""The release worker with a `BatchDeliverer`: layers of a claimed batch in one call each, a
recipient's messages still one after the other, per-delivery outcomes, bad answers refused."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from _release_support import EST, FakeClock, held

from deconnexion.errors import PermanentDeliveryError
from deconnexion.release.deliver import BatchDeliverer, Delivery, NullDeliverer
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store.base import HoldStore


class Layers:
    """A batch deliverer recording each call's idempotency keys; `answer` gives the outcomes
    (default: all delivered)."""

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[list[str]] = []
        self.single: list[str] = []
        self.answer = answer

    async def __call__(self, delivery: Delivery) -> None:
        self.single.append(delivery.idempotency_key)

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> Any:
        keys = [d.idempotency_key for d in deliveries]
        self.calls.append(keys)
        if self.answer is None:
            return [None] * len(deliveries)
        return self.answer(keys)


def run(store: HoldStore, deliverer: Any, clock: FakeClock) -> ReleaseWorker:
    worker = ReleaseWorker(store, deliverer, clock=clock, sleep=clock.sleep, worker_id="w1")
    asyncio.run(worker.run_once())
    return worker


def state(store: HoldStore, key: str) -> tuple[str, int]:
    found = [m for m in store.list(EST, limit=100) if m.idempotency_key == key]
    return found[0].state, found[0].attempts


def test_null_and_layers_are_batch_deliverers() -> None:
    assert isinstance(NullDeliverer(), BatchDeliverer)
    assert isinstance(Layers(), BatchDeliverer)
    assert asyncio.run(NullDeliverer().deliver_many([])) == []


def test_a_batch_goes_in_one_call_per_layer_of_each_recipients_messages(store: HoldStore) -> None:
    clock = FakeClock()
    messages = [
        held("a"),
        held("b", recipients=("parent:2",)),
        held("c"),
        held("d", recipients=("parent:3",)),
        held("e"),
    ]  # parent:1 has a, c, e: three layers
    store.insert_many(messages, now=clock.t - 36_000)
    deliverer = Layers()
    worker = run(store, deliverer, clock)
    assert deliverer.calls == [["a", "b", "d"], ["c"], ["e"]]
    assert deliverer.single == []
    assert worker.counters["released"] == 5
    assert {state(store, k) for k in "abcde"} == {("released", 1)}


def test_a_failure_in_a_layer_holds_back_that_recipients_later_messages(store: HoldStore) -> None:
    clock = FakeClock()
    messages = [held("a"), held("b", recipients=("parent:2",)), held("c"), held("d")]
    store.insert_many(messages, now=clock.t - 36_000)

    def answer(keys: list[str]) -> list[BaseException | None]:
        return [PermanentDeliveryError("gone") if k == "b" else None for k in keys]

    deliverer = Layers(answer)
    worker = run(store, deliverer, clock)
    assert deliverer.calls == [["a", "b"], ["c"], ["d"]]
    assert state(store, "b") == ("dead", 1)
    assert worker.counters["released"] == 3 and worker.counters["dead"] == 1

    clock2 = FakeClock()
    other = [held("x"), held("y"), held("z", recipients=("parent:2",))]
    store.insert_many(other, now=clock2.t - 36_000)

    def retry_x(keys: list[str]) -> list[BaseException | None]:
        return [RuntimeError("busy") if k == "x" else None for k in keys]

    deliverer = Layers(retry_x)
    worker = run(store, deliverer, clock2)
    assert deliverer.calls == [["x", "z"]]  # y waits behind x's retry, never overtakes it
    assert state(store, "x") == ("held", 1) and state(store, "y") == ("held", 0)
    assert state(store, "z") == ("released", 1)
    assert worker.counters["failed"] == 1 and worker.counters["deferred"] == 1


def test_a_wrong_answer_fails_the_call_and_nothing_is_acknowledged(store: HoldStore) -> None:
    clock = FakeClock()
    store.insert_many([held("a"), held("b", recipients=("parent:2",))], now=clock.t - 36_000)
    worker = run(store, Layers(lambda keys: [None]), clock)  # one answer for two deliveries
    assert worker.counters["released"] == 0 and worker.counters["failed"] == 2
    assert state(store, "a") == ("held", 1) and state(store, "b") == ("held", 1)
    clock.t += 3600
    worker = run(store, Layers(lambda keys: ["ok"] * len(keys)), clock)  # not None: not delivered
    assert worker.counters["released"] == 0 and worker.counters["failed"] == 2


def test_a_raising_call_fails_each_of_its_deliveries(store: HoldStore) -> None:
    clock = FakeClock()
    store.insert_many([held("a"), held("b", recipients=("parent:2",))], now=clock.t - 36_000)

    def boom(keys: list[str]) -> list[None]:
        raise RuntimeError("bus down")

    worker = run(store, Layers(boom), clock)
    assert worker.counters["failed"] == 2
    rows = store.list(EST, limit=10)
    assert all(m.state == "held" and m.last_error == "RuntimeError: bus down" for m in rows)
