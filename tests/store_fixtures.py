"""Store fixtures: `store` runs a test on memory, SQLite and PostgreSQL; `open_same` opens more
store objects on the same backing database (reopening, concurrent claimers).

PostgreSQL: DSN from DECONNEXION_PG_DSN (default postgresql://postgres@127.0.0.1:5432/postgres),
one fresh schema per test, dropped afterwards. Server unreachable: the test fails when CI is
set, else it is skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deconnexion.store import MemoryStore
from deconnexion.store.base import HoldStore
from deconnexion.store.sqlite import SQLiteStore

PG_DSN = os.environ.get("DECONNEXION_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
STORE_KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

_reachable: dict[str, str | None] = {}  # dsn → None if reachable, else the error


def require_postgres(dsn: str = PG_DSN) -> str:
    """The DSN, once the server answers; otherwise fail (CI) or skip."""
    if dsn not in _reachable:
        try:
            import psycopg
        except ImportError as exc:  # the [postgres] extra is missing
            _reachable[dsn] = f"psycopg not installed: {exc}"
        else:
            try:
                psycopg.connect(dsn, connect_timeout=3).close()
                _reachable[dsn] = None
            except psycopg.Error as exc:
                _reachable[dsn] = str(exc).strip()
    error = _reachable[dsn]
    if error is not None:
        message = f"PostgreSQL unreachable at {dsn}: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: PostgreSQL tests must run)")
        pytest.skip(message)
    return dsn


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """(dsn, schema): a schema of its own for one test, dropped afterwards."""
    dsn = require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield dsn, schema
    drop_schema(dsn, schema)


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def open_same(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], HoldStore]]:
    """A function opening one more store object on this test's database (memory: the same
    object each time, since nothing else can share it). All are closed at teardown."""
    opened: list[HoldStore] = []
    if store_kind == "memory":
        shared = MemoryStore()

        def make() -> HoldStore:
            return shared

    elif store_kind == "sqlite":
        path = tmp_path / "held.db"

        def make() -> HoldStore:
            return SQLiteStore(path)

    else:
        dsn, schema = request.getfixturevalue("pg_schema")
        from deconnexion.store.postgres import PostgresStore

        def make() -> HoldStore:
            return PostgresStore(dsn, schema=schema)

    def opener() -> HoldStore:
        store = make()
        opened.append(store)
        return store

    yield opener
    for store in reversed(opened):
        store.close()


@pytest.fixture
def store(open_same: Callable[[], HoldStore]) -> HoldStore:
    """A fresh, empty store: memory, SQLite file, PostgreSQL schema (parametrized)."""
    return open_same()
