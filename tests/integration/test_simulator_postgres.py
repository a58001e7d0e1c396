"""The simulator on PostgreSQL (`--store postgresql://…`): same invariants as on SQLite."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date

import pytest

from deconnexion.errors import StoreError
from examples.simulator.run import RunOptions, simulate
from examples.simulator.summary import summarize
from examples.simulator.traffic import TrafficConfig

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    dsn = os.environ.get("DECONNEXION_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL unreachable at {dsn} and CI is set: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {dsn}: {exc}")
    schema = f"sim_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in dsn else "?"
    yield f"{dsn}{sep}schema={schema}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_simulation_on_postgres_keeps_every_invariant(pg_url: str) -> None:
    config = TrafficConfig(start=date(2025, 10, 13), end=date(2025, 11, 9), messages=800)
    run = simulate(config, options=RunOptions(store_url=pg_url), progress=False)
    summary = summarize(run)
    assert summary["quiet_window_check"]["ok"], summary["quiet_window_check"]
    assert summary["exactly_once"]["ok"], summary["exactly_once"]
    assert summary["store_check"]["ok"], summary["store_check"]
    assert summary["store_check"]["audit"]["urgent_override"] == summary["urgent"]["honoured"]
    assert summary["ok"]
    # a second simulation refuses to mix its counts with the first one's
    with pytest.raises(StoreError, match="already holds messages"):
        simulate(config, options=RunOptions(store_url=pg_url), progress=False)
