"""Whose clock says "due": on PostgreSQL the database's. A worker whose clock runs 5 minutes
fast (an injected clock) releases nothing before its release time by the database clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from _release_support import EST, held

from deconnexion.release.deliver import Delivery
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

FAST = 300.0  # the worker's clock is 5 minutes ahead


@pytest.fixture
def pg(pg_schema: tuple[str, str]) -> Iterator[PostgresStore]:
    dsn, schema = pg_schema
    store = PostgresStore(dsn, schema=schema)
    yield store
    store.close()


def db_now(store: PostgresStore) -> float:
    with store._tx() as c:  # the database's own clock, as the claim reads it
        found = c.execute("SELECT extract(epoch FROM clock_timestamp())::double precision")
        row = found.fetchone()
    assert row is not None
    return float(row[0])


def test_a_claim_with_a_clock_5_minutes_fast_takes_only_what_the_database_finds_due(
    pg: PostgresStore,
) -> None:
    now = db_now(pg)
    due, soon = held("due", release_at=now - 1), held("soon", release_at=now + 120)
    pg.insert_many([due, soon], now=now - 3600)
    claimed = pg.claim_due(now + FAST, 10, 30, "fast")
    assert [m.idempotency_key for m in claimed] == ["due"]
    assert pg.count_due(now + FAST) == 1  # the worker still sees the other as due soon


def test_a_worker_whose_clock_runs_5_minutes_fast_releases_nothing_early(
    pg: PostgresStore,
) -> None:
    now = db_now(pg)
    # honoured urgencies go at any hour: what is judged is the release time alone, not whether
    # the real time of day (+ 5 minutes) falls in an open window (at 19:55 Paris it does not)
    override = ("urgent_override",)
    pg.insert_many(
        [
            held("past", release_at=now - 60, urgent=True, reasons=override),
            held("in 1 min", release_at=now + 60, urgent=True, reasons=override),
            held("in 4 min", release_at=now + 240, urgent=True, reasons=override),
        ],
        now=now - 3600,
    )
    delivered: list[tuple[str, float, float]] = []  # (key, release_at, database clock)

    async def deliver(delivery: Delivery) -> None:
        release_at = delivery.release_at.timestamp()
        delivered.append((delivery.idempotency_key, release_at, db_now(pg)))

    worker = ReleaseWorker(
        pg, deliver, clock=lambda: time.time() + FAST, worker_id="fast", poll_interval=600
    )
    assert asyncio.run(worker.run_once()) == 1
    assert asyncio.run(worker.run_once()) == 0
    assert [key for key, _, _ in delivered] == ["past"]
    assert all(at >= release_at for _, release_at, at in delivered)
    assert {m.idempotency_key for m in pg.list(EST, ["held"])} == {"in 1 min", "in 4 min"}
