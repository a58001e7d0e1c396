"""`ReleaseWorker.run(drain=True)` (`deconnexion worker --once`): it releases the backlog and
returns, never sleeping between batches, so it starts no change watcher (whose blocked
`wait_for_change` it used to wait for: at least a second per run)."""

from __future__ import annotations

import asyncio
from typing import Any

from _release_support import EST, T0, FakeClock, Recorder, held

from deconnexion.release.worker import ReleaseWorker
from deconnexion.store.base import HoldStore


class CountedWaits:
    """A store counting the calls to its `wait_for_change`."""

    def __init__(self, inner: HoldStore) -> None:
        self.inner = inner
        self.waits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def wait_for_change(self, timeout: float) -> bool:
        self.waits += 1
        return bool(self.inner.wait_for_change(timeout))


def test_a_drain_releases_everything_without_watching_the_store(store: HoldStore) -> None:
    messages = [held(f"k{i}", release_at=T0 - 60, recipients=(f"p{i}",)) for i in range(7)]
    store.insert_many(messages, now=T0 - 36_000)
    counted = CountedWaits(store)
    clock = FakeClock(T0)
    recorder = Recorder(clock)
    worker = ReleaseWorker(
        counted, recorder, clock=clock, sleep=clock.sleep, worker_id="w1", batch_size=3
    )
    asyncio.run(worker.run(drain=True))
    assert sorted(recorder.keys) == [f"k{i}" for i in range(7)]
    assert worker.counters["released"] == 7 and worker.counters["batches"] == 3
    assert counted.waits == 0
    assert all(
        (got := store.get(EST, m.id)) is not None and got.state == "released" for m in messages
    )
