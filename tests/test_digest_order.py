"""A digest that expires while it waits has its fresh items given back; the same recipient's
later units must then wait behind them, on both delivery paths (one delivery per call and
`deliver_many`). They used to go in the same wave and overtake the given-back items."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest
from _release_support import EST, T0, FakeClock, Recorder, held

from deconnexion.release.worker import ReleaseWorker
from deconnexion.store.base import HoldStore


class Ticking(FakeClock):
    """Each reading of the clock is one second later: d1 is fresh when the batch is claimed
    and sorted, expired when its digest is about to be sent."""

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


@pytest.fixture(params=["per delivery", "deliver_many"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    Recorder.batch = request.param == "deliver_many"
    try:
        yield request.param
    finally:
        Recorder.batch = False


def test_a_recipients_later_messages_do_not_overtake_a_digests_given_back_item(
    store: HoldStore, path: str
) -> None:
    clock = Ticking()
    d1 = replace(held("d1"), expires_at=T0 + 3)  # digest [d1, d2] to parent:1
    d2 = held("d2")
    x = held("x", recipients=("parent:1", "parent:2"))  # interrupts the digest
    d3 = held("d3")
    store.insert_many([d1, d2, x, d3], now=T0 - 36_000)
    rec = Recorder(clock)
    worker = ReleaseWorker(store, rec, clock=clock, sleep=clock.sleep, worker_id="w1", digest=True)
    asyncio.run(worker.run_once())
    states = {m.idempotency_key: m.state for m in store.list(EST, limit=10)}
    assert states["d1"] == "expired" and states["d2"] == "held"  # given back, not lost
    # d2 was claimed before x and d3, for the same recipient: neither may go before it
    assert rec.keys == [], f"{rec.keys} delivered while d2, before them, was given back"
