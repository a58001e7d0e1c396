"""The raw floor of the hold queue's paths: the same rows written and claimed with plain SQL.

No deconnexion code runs here. The tables have the columns and indexes of the SQLite store
(narrow `held` row, `held_body` for payload/meta/decision), SQLite in WAL with
`synchronous=FULL` like the store, and the rows are built before the clock starts: what is left
is what the database itself costs. `benchmarks/queue.py` prints these figures next to the
library's and the ratio.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

CHUNK = 5_000  # rows per transaction, like HoldQueue.hold_many calls in queue.py
BATCH = 500  # rows per claim, like the worker's default batch

SQLITE_SCHEMA = """
CREATE TABLE held (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, establishment TEXT NOT NULL,
    idempotency_key TEXT NOT NULL, collapse_key TEXT, kind TEXT NOT NULL,
    audience TEXT NOT NULL, sender_role TEXT NOT NULL, urgent INTEGER NOT NULL,
    priority INTEGER NOT NULL, recipients TEXT NOT NULL, content_type TEXT NOT NULL,
    created_at REAL NOT NULL, release_at REAL NOT NULL, next_attempt_at REAL NOT NULL,
    reasons TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    lease_until REAL, worker_id TEXT, released_at REAL,
    UNIQUE (establishment, idempotency_key)
);
CREATE TABLE held_body (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, meta TEXT NOT NULL,
                        decision TEXT NOT NULL);
CREATE INDEX held_due ON held (release_at, priority, seq) WHERE state = 'held';
CREATE INDEX held_lease ON held (lease_until) WHERE state = 'claimed';
CREATE INDEX held_tenant ON held (establishment, seq) WHERE state = 'held';
"""

_DECISION = json.dumps({"held": True, "reasons": ["weekend"], "provenance": "official"})


def _rows(n: int, due: float) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    run = uuid.uuid4().hex[:8]
    for i in range(n):
        payload = json.dumps({"type": "grade", "course": "maths", "value": 14.5, "n": i})
        narrow = (
            i + 1, f"{run}{i:08d}", "0750001A", f"{run}-{i}", None, "grade", "parents",
            "system", 0, 5, json.dumps([f"parent:{i % 50_000}"]), "application/json",
            due - 36_000, due, due, '["weekend"]', "held",
        )  # fmt: skip
        yield narrow, (i + 1, payload.encode(), "{}", _DECISION)


def sqlite_floor(path: str, n: int, due: float) -> dict[str, float]:
    """Hold n rows (executemany, CHUNK per transaction), then claim + ack them all in BATCHes."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(SQLITE_SCHEMA)
    rows = list(_rows(n, due))
    insert = "INSERT INTO held VALUES (" + ",".join("?" * 17) + ",0,NULL,NULL,NULL)"
    started = time.perf_counter()
    for start in range(0, n, CHUNK):
        chunk = rows[start : start + CHUNK]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert, [narrow for narrow, _ in chunk])
        conn.executemany("INSERT INTO held_body VALUES (?,?,?,?)", [body for _, body in chunk])
        conn.execute("COMMIT")
    hold_s = time.perf_counter() - started

    claim = (
        "UPDATE held SET state = 'claimed', lease_until = ?, worker_id = 'floor', "
        "attempts = attempts + 1 WHERE seq IN (SELECT seq FROM held WHERE state = 'held' "
        "AND release_at <= ? ORDER BY release_at, priority, seq LIMIT ?) "
        "RETURNING seq, id, idempotency_key, recipients, release_at, attempts"
    )
    released = 0
    started = time.perf_counter()
    while True:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        claimed = conn.execute(claim, (now + 60, now, BATCH)).fetchall()
        seqs = [r[0] for r in claimed]
        marks = ",".join("?" * len(seqs))
        bodies = conn.execute(
            f"SELECT seq, payload, meta, decision FROM held_body WHERE seq IN ({marks})", seqs
        ).fetchall()
        conn.execute("COMMIT")
        if not claimed:
            break
        if len(bodies) != len(claimed):
            raise SystemExit("floor: a claimed row has no body")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            f"UPDATE held SET state = 'released', released_at = ?, lease_until = NULL "
            f"WHERE seq IN ({marks})",
            [time.time(), *seqs],
        )
        conn.execute("COMMIT")
        released += len(claimed)
    release_s = time.perf_counter() - started
    conn.close()
    if released != n:
        raise SystemExit(f"floor: released {released} of {n}")
    return {"hold_per_s": n / hold_s, "release_per_s": n / release_s}


PG_SCHEMA = """
CREATE TABLE held (
    seq BIGINT PRIMARY KEY, id TEXT NOT NULL UNIQUE, establishment TEXT NOT NULL,
    idempotency_key TEXT NOT NULL, collapse_key TEXT, kind TEXT NOT NULL,
    audience TEXT NOT NULL, sender_role TEXT NOT NULL, urgent BOOLEAN NOT NULL,
    priority INTEGER NOT NULL, recipients TEXT NOT NULL, content_type TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, release_at DOUBLE PRECISION NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL, reasons TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, lease_until DOUBLE PRECISION, worker_id TEXT,
    released_at DOUBLE PRECISION, payload BYTEA NOT NULL, meta TEXT NOT NULL,
    decision TEXT NOT NULL, UNIQUE (establishment, idempotency_key)
);
CREATE INDEX held_due ON held (release_at, priority, seq) WHERE state = 'held';
CREATE INDEX held_lease ON held (lease_until) WHERE state = 'claimed';
"""

_COLUMNS = (
    "seq, id, establishment, idempotency_key, collapse_key, kind, audience, sender_role, "
    "urgent, priority, recipients, content_type, created_at, release_at, next_attempt_at, "
    "reasons, state, payload, meta, decision"
)


def postgres_floor_hold(dsn: str, schema: str, n: int, due: float) -> float:
    """COPY n rows into a fresh table, CHUNK per transaction; messages held per second."""
    import psycopg

    rows = [
        (*narrow[:8], bool(narrow[8]), *narrow[9:], *body[1:]) for narrow, body in _rows(n, due)
    ]
    with psycopg.connect(dsn, options=f"-c search_path={schema}") as conn:
        conn.execute(PG_SCHEMA)
        conn.commit()
        started = time.perf_counter()
        for start in range(0, n, CHUNK):
            with conn.cursor() as cur, cur.copy(f"COPY held ({_COLUMNS}) FROM STDIN") as copy:
                for row in rows[start : start + CHUNK]:
                    copy.write_row(row)
            conn.commit()
        return n / (time.perf_counter() - started)


def postgres_floor_worker(dsn: str, schema: str) -> int:
    """One release loop: claim BATCH (FOR UPDATE SKIP LOCKED) + ack, until nothing is due."""
    import psycopg

    claim = (
        "UPDATE held SET state = 'claimed', lease_until = %(lease)s, worker_id = 'floor', "
        "attempts = attempts + 1 WHERE seq IN (SELECT seq FROM held WHERE state = 'held' "
        "AND release_at <= %(now)s ORDER BY release_at, priority, seq LIMIT %(n)s "
        "FOR UPDATE SKIP LOCKED) "
        "RETURNING seq, id, idempotency_key, recipients, release_at, attempts, payload, meta, "
        "decision"
    )
    ack = (
        "UPDATE held SET state = 'released', released_at = %s, lease_until = NULL "
        "WHERE seq = ANY(%s)"
    )
    released = 0
    with psycopg.connect(dsn, options=f"-c search_path={schema}") as conn:
        while True:
            now = time.time()
            claimed = conn.execute(claim, {"lease": now + 60, "now": now, "n": BATCH}).fetchall()
            conn.commit()
            if not claimed:
                return released
            conn.execute(ack, (time.time(), [r[0] for r in claimed]))
            conn.commit()
            released += len(claimed)
