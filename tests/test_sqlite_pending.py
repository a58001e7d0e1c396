"""The SQLite store's `pending` column (schema version 5): 1 while a message is held or
claimed, 0 once it is anything else, so that held_key, the unique index of pending keys, reads
it instead of `state` and a claim (held → claimed) leaves the index alone. Every way a message
changes state keeps it right, and a version 4 file is migrated with every message in it."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import replace
from pathlib import Path

from deconnexion.store.base import HeldMessage, Rescheduled
from deconnexion.store.common import statements
from deconnexion.store.sqlite import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, SQLiteStore

T0 = 1_800_000_000.0
EST = "0750001A"


def _message(key: str, **fields: object) -> HeldMessage:
    base = HeldMessage(
        key.encode().hex().ljust(32, "0"), EST, key, None, "grade", "parents", "teacher", False,
        2, (f"p:{key}",), b"{}", "application/json", {}, T0 - 3600, T0, T0, ("night",),
        {"held": True},
    )  # fmt: skip
    return replace(base, **fields)


def _fresh(key: str) -> HeldMessage:
    """A new message (its own id) with the idempotency key `key`."""
    return replace(_message(key), id=uuid.uuid4().hex)


def _wrong_pending(path: Path) -> list[tuple[str, str, int]]:
    """(key, state, pending) of every row whose `pending` does not follow its state."""
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT idempotency_key, state, pending FROM held "
            "WHERE pending != (state IN ('held', 'claimed'))"
        ).fetchall()


def test_pending_follows_every_change_of_state(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    store = SQLiteStore(path)
    try:
        put = store.insert_many
        put(
            [
                _message("ack"),
                _message("cancel"),
                _message("retry"),
                _message("dead"),
                _message("back"),
                _message("expire", expires_at=T0 + 5),
                _message("late", release_at=T0 + 50, next_attempt_at=T0 + 50, expires_at=T0 + 60),
                _message("old", collapse_key="c", release_at=T0 + 90, next_attempt_at=T0 + 90),
                _message("gone", expires_at=T0 - 10, release_at=T0 + 1, next_attempt_at=T0 + 1),
            ],
            now=T0 - 3600,
        )
        assert _wrong_pending(path) == []
        assert store.cancel(EST, _message("cancel").id, "chef", T0 - 60) is True
        claimed = {m.idempotency_key: m for m in store.claim_due(T0 + 10, 10, 60, "w")}
        assert set(claimed) == {"ack", "retry", "dead", "back", "expire"}
        assert store.ack([claimed["ack"].id], "w", T0 + 11) == 1
        assert store.fail(claimed["retry"].id, "w", T0 + 11, "HTTP 503", T0 + 30) is True
        assert store.fail(claimed["dead"].id, "w", T0 + 11, "HTTP 410", None) is True
        assert store.give_back([claimed["back"].id], "w", T0 + 11, T0 + 20) == 1
        assert store.expire([claimed["expire"].id], "w", T0 + 11) == 1
        assert store.reschedule(EST, lambda m: Rescheduled(T0 + 100), now=T0 + 12) >= 1
        put([_message("new", collapse_key="c")], now=T0 + 13)  # replaces "old"
        states = {m.idempotency_key: m.state for m in store.list(EST, limit=100)}
        assert states == {
            "ack": "released",
            "cancel": "cancelled",
            "retry": "held",
            "dead": "dead",
            "back": "held",
            "expire": "expired",
            "late": "expired",  # rescheduled past its expires_at
            "old": "replaced",
            "gone": "expired",  # held already past its expires_at
            "new": "held",
        }
        assert _wrong_pending(path) == []
        again = put([_fresh(k) for k in states], now=T0 + 14)
        held = {"retry", "back", "new"}  # still pending: their keys name them
        assert [o.outcome for o in again] == ["duplicate" if k in held else "held" for k in states]
        assert _wrong_pending(path) == []
    finally:
        store.close()


def test_a_replaced_message_given_back_stops_being_pending(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    store = SQLiteStore(path)
    try:
        store.insert_many([_message("first", collapse_key="c")], now=T0 - 3600)
        (first,) = store.claim_due(T0, 10, 60, "w")
        store.insert_many([_message("second", collapse_key="c")], now=T0 + 1)
        assert store.give_back([first.id], "w", T0 + 2, T0 + 2) == 1
        got = store.get(EST, first.id)
        assert got is not None and got.state == "replaced"
        assert _wrong_pending(path) == []
        (again,) = store.insert_many([_fresh("first")], now=T0 + 3)
        assert again.outcome == "held"
    finally:
        store.close()


def test_a_version_4_file_is_migrated_with_every_message_and_key(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for version in range(1, 5):
        for stmt in statements(MIGRATIONS[version]):
            conn.execute(stmt)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 4")
    old = (
        "INSERT INTO held (seq, id, establishment, idempotency_key, kind, audience, sender_role, "
        "urgent, priority, recipients, content_type, created_at, release_at, next_attempt_at, "
        "reasons, state, worker_id, lease_until, held_at, held_release_at, key_scope) "
        "VALUES (?, ?, ?, ?, 'grade', 'parents', 'teacher', 0, 2, '[]', 'text/plain', 0, ?, ?, "
        "'[]', ?, ?, ?, 0, ?, '')"
    )
    rows = [("held", None, None), ("claimed", "w", T0 + 60), ("released", None, None)]
    rows += [("cancelled", None, None)]
    for seq, (state, worker, lease) in enumerate(rows, start=1):
        mid = _message(state).id
        conn.execute(old, (seq, mid, EST, state, T0, T0, state, worker, lease, T0))
        conn.execute("INSERT INTO held_body VALUES (?, x'', '{}', '{}')", (seq,))
    conn.close()
    store = SQLiteStore(path)
    try:
        found = {m.idempotency_key: m.state for m in store.list(EST, limit=100)}
        assert found == {state: state for state, _, _ in rows}
        assert _wrong_pending(path) == []
        again = store.insert_many([_fresh(state) for state, _, _ in rows], now=T0)
        assert [o.outcome for o in again] == ["duplicate", "duplicate", "held", "held"]
        claimed = store.claim_due(T0, 10, 60, "w2")  # the old held one and the two new ones
        assert _message("held").id in {m.id for m in claimed} and len(claimed) == 3
        assert store.ack([_message("claimed").id], "w", T0 + 1) == 1
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
