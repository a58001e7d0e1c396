"""Keys belong to their sender, on every store (memory, SQLite, PostgreSQL): another sender's
idempotency or collapse key never suppresses, replaces or reveals a message; an anonymous
sender's keys match nothing; an idempotency key names a pending message only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from test_store_conformance import EST, T0, msg, put

from deconnexion.store.base import HoldStore
from deconnexion.store.common import load_queries, statements
from deconnexion.store.sqlite import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, SQLiteStore


def state_of(store: HoldStore, message_id: str) -> str | None:
    found = store.get(EST, message_id)
    return None if found is None else found.state


def test_another_sender_s_idempotency_key_holds_a_message_of_its_own(store: HoldStore) -> None:
    (mine,) = put(store, msg("k", actor="prof.a", key_scope="prof.a"))
    theirs = msg("k", actor="prof.b", key_scope="prof.b", release_at=T0 + 60)
    (outcome,) = store.insert_many([theirs], now=T0 - 10)
    assert (outcome.outcome, outcome.id, outcome.release_at) == ("held", theirs.id, T0 + 60)
    assert {state_of(store, mine), state_of(store, theirs.id)} == {"held"}


def test_the_same_sender_s_key_is_still_a_duplicate_of_its_own_message(store: HoldStore) -> None:
    (mine,) = put(store, msg("k", actor="prof.a", key_scope="prof.a"))
    (outcome,) = store.insert_many([msg("k", actor="prof.a", key_scope="prof.a")], now=T0)
    assert (outcome.outcome, outcome.id) == ("duplicate", mine)


def test_a_sender_sending_first_with_someone_else_s_key_suppresses_nothing(
    store: HoldStore,
) -> None:
    attacker = msg("their-key", actor="prof.b", key_scope="prof.b")
    victim = msg("their-key", actor="prof.a", key_scope="prof.a")
    outcomes = store.insert_many([attacker, victim], now=T0 - 10)
    assert [(o.outcome, o.id) for o in outcomes] == [("held", attacker.id), ("held", victim.id)]


def test_a_collapse_key_only_replaces_a_message_of_the_same_sender(store: HoldStore) -> None:
    (mine,) = put(store, msg("a", actor="prof.a", key_scope="prof.a", collapse_key="c"))
    (outcome,) = store.insert_many(
        [msg("b", actor="prof.b", key_scope="prof.b", collapse_key="c")], now=T0 - 10
    )
    assert (outcome.outcome, outcome.replaced_id) == ("held", None)
    assert state_of(store, mine) == "held"
    (again,) = store.insert_many(
        [msg("c", actor="prof.a", key_scope="prof.a", collapse_key="c")], now=T0 - 5
    )
    assert (again.outcome, again.replaced_id) == ("replaced", mine)


def test_an_anonymous_sender_never_replaces_pre_empts_or_sees_a_message(
    store: HoldStore,
) -> None:
    (mine,) = put(store, msg("k", actor="prof.a", key_scope="prof.a", collapse_key="c"))
    (app,) = put(store, msg("k2", actor=None, key_scope="", collapse_key="c2"))
    anonymous = [
        msg("k", actor=None, key_scope=None, collapse_key="c"),
        msg("k2", actor=None, key_scope=None, collapse_key="c2"),
        msg("k2", actor=None, key_scope=None, collapse_key="c2"),
    ]
    outcomes = store.insert_many(anonymous, now=T0 - 10)
    assert [(o.outcome, o.id, o.replaced_id) for o in outcomes] == [
        ("held", m.id, None) for m in anonymous
    ]
    assert {state_of(store, i) for i in (mine, app, *(m.id for m in anonymous))} == {"held"}
    after = msg("k", actor="prof.a", key_scope="prof.a", collapse_key="c")
    (outcome,) = store.insert_many([after], now=T0 - 5)
    assert (outcome.outcome, outcome.id) == ("duplicate", mine)  # its own, not an anonymous one


def test_a_retry_is_not_superseded_by_another_sender_s_collapse_key(store: HoldStore) -> None:
    (mine,) = put(store, msg("v1", actor="prof.a", key_scope="prof.a", collapse_key="g"))
    store.claim_due(T0, 10, 30, "w")
    put(store, msg("x", actor="prof.b", key_scope="prof.b", collapse_key="g"))
    put(store, msg("y", actor=None, key_scope=None, collapse_key="g"))
    assert store.fail(mine, "w", T0 + 1, "HTTP 503", T0 + 60) is True
    assert state_of(store, mine) == "held"
    store.claim_due(T0 + 60, 10, 30, "w2")
    assert store.give_back([mine], "w2", T0 + 61, T0 + 120) == 1
    assert state_of(store, mine) == "held"


def test_a_delivered_message_s_key_holds_the_same_message_again(store: HoldStore) -> None:
    """The same reminder on Monday 21:00 and the next Monday 21:00: two deliveries."""
    (first,) = put(store, msg("weekly", release_at=T0))
    assert [m.id for m in store.claim_due(T0, 10, 30, "w")] == [first]
    (in_flight,) = store.insert_many([msg("weekly", release_at=T0 + 5)], now=T0 + 1)
    assert (in_flight.outcome, in_flight.id) == ("duplicate", first)  # not delivered yet
    assert store.ack([first], "w", T0 + 2) == 1
    week_later = msg("weekly", release_at=T0 + 7 * 86_400)
    (outcome,) = store.insert_many([week_later], now=T0 + 7 * 86_400 - 36_000)
    assert (outcome.outcome, outcome.id) == ("held", week_later.id)
    assert (state_of(store, first), state_of(store, week_later.id)) == ("released", "held")
    (again,) = store.insert_many([msg("weekly")], now=T0 + 7 * 86_400 - 30_000)
    assert (again.outcome, again.id) == ("duplicate", week_later.id)


def test_a_cancelled_replaced_or_dead_message_s_key_is_free_again(store: HoldStore) -> None:
    cancelled, dead = put(store, msg("c"), msg("d"))
    assert store.cancel(EST, cancelled, "chef", T0 - 100) is True
    store.claim_due(T0, 10, 30, "w")
    assert store.fail(dead, "w", T0 + 1, "HTTP 410", None) is True
    replaced, newer = msg("r", collapse_key="x"), msg("n", collapse_key="x")
    put(store, replaced, newer)
    outcomes = store.insert_many([msg("c"), msg("d"), msg("r")], now=T0 + 2)
    assert [o.outcome for o in outcomes] == ["held", "held", "held"]


def test_a_key_freed_by_a_replacement_in_the_same_batch_holds_anew(store: HoldStore) -> None:
    first, newer, again = msg("k", collapse_key="x"), msg("k2", collapse_key="x"), msg("k")
    outcomes = store.insert_many([first, newer, again], now=T0)
    assert [o.outcome for o in outcomes] == ["held", "replaced", "held"]
    assert [state_of(store, m.id) for m in (first, newer, again)] == ["replaced", "held", "held"]


# -- migration of stores written before keys had a sender ------------------------------------------


def test_a_version_1_sqlite_store_migrates_and_scopes_old_keys_by_their_actor(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for stmt in statements(MIGRATIONS[1]):
        conn.execute(stmt)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    old = (
        "INSERT INTO held (seq, id, establishment, idempotency_key, kind, audience, sender_role, "
        "urgent, priority, recipients, content_type, created_at, release_at, next_attempt_at, "
        "reasons, state, actor, held_at, held_release_at) VALUES (?, ?, ?, 'k', 'message', "
        "'parents', 'teacher', 0, 2, '[]', 'text/plain', 0, ?, ?, '[]', 'held', ?, 0, ?)"
    )
    conn.execute(old, (1, "a" * 32, EST, T0, T0, "prof.a", T0))
    conn.execute(old, (2, "b" * 32, "0671234X", T0, T0, None, T0))
    conn.execute("INSERT INTO held_body VALUES (1, x'', '{}', '{}'), (2, x'', '{}', '{}')")
    conn.close()
    store = SQLiteStore(path)
    try:
        got = store.get(EST, "a" * 32)
        assert got is not None and got.key_scope == "prof.a"
        assert got.policy is None  # held before policies were recorded
        assert store.held_policies(EST) == {None: 1}
        other = store.get("0671234X", "b" * 32)
        assert other is not None and other.key_scope == ""
        (dup,) = store.insert_many([msg("k", actor="prof.a", key_scope="prof.a")], now=T0)
        (new,) = store.insert_many([msg("k", actor="prof.b", key_scope="prof.b")], now=T0)
        assert (dup.outcome, dup.id, new.outcome) == ("duplicate", "a" * 32, "held")
    finally:
        store.close()
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION


def test_a_version_1_postgres_schema_migrates_and_scopes_old_keys_by_their_actor(
    pg_schema: tuple[str, str],
) -> None:
    import psycopg

    from deconnexion.store.postgres import PostgresStore

    dsn, schema = pg_schema
    q = load_queries("postgres.sql", schema=f'"{schema}"', channel='"x"', columns="*", claimed="*")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(q["create_schema"])
        conn.execute(q["version_table"])
        conn.execute(q["schema_v1"])
        conn.execute(q["version_set"], {"version": 1})
        conn.execute(
            f'INSERT INTO "{schema}".held (id, establishment, idempotency_key, kind, audience, '
            "sender_role, urgent, priority, recipients, content_type, created_at, release_at, "
            "next_attempt_at, reasons, state, actor, held_at, held_release_at) VALUES "
            "(%s, %s, 'k', 'message', 'parents', 'teacher', false, 2, '[]', 'text/plain', 0, "
            "%s, %s, '[]', 'held', 'prof.a', 0, %s) RETURNING seq",
            ("a" * 32, EST, T0, T0, T0),
        )
        conn.execute(
            f"INSERT INTO \"{schema}\".held_body SELECT seq, '', '{{}}', '{{}}' "
            f'FROM "{schema}".held'
        )
    store = PostgresStore(dsn, schema=schema)
    try:
        got = store.get(EST, "a" * 32)
        assert got is not None and got.key_scope == "prof.a"
        assert got.policy is None  # held before policies were recorded
        assert store.held_policies(EST) == {None: 1}
        (dup,) = store.insert_many([msg("k", actor="prof.a", key_scope="prof.a")], now=T0)
        (new,) = store.insert_many([msg("k", actor="prof.b", key_scope="prof.b")], now=T0)
        assert (dup.outcome, dup.id, new.outcome) == ("duplicate", "a" * 32, "held")
    finally:
        store.close()
