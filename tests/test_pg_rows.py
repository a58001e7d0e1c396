"""PostgreSQL rows: a claim (binary, JSON columns as text) reads what `get` reads (jsonb)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from deconnexion.store.base import HeldMessage
from deconnexion.store.pg_rows import copy_rows, load_json
from tests.store_fixtures import PG_DSN, drop_schema, require_postgres
from tests.test_store_conformance import EST, T0, msg


def test_load_json_reads_utf8_bytes_and_text_alike() -> None:
    text = '{"é": ["x\\"y", "\\u00e9", 1.5, null]}'
    assert load_json(text.encode()) == load_json(text) == {"é": ['x"y', "é", 1.5, None]}


@pytest.mark.postgres
def test_a_claimed_message_is_field_for_field_the_one_get_reads() -> None:
    from deconnexion.store.postgres import PostgresStore

    dsn = require_postgres(PG_DSN)
    schema = "t_pg_rows_claim"
    drop_schema(dsn, schema)
    store = PostgresStore(dsn, schema=schema)
    try:
        shared = {"held": True, "reasons": [{"code": "night", "label": "nuit « calme » \\ ok"}]}
        messages = [
            msg(
                recipients=("parent:1", 'parent:"2"', "élève:3"),
                payload=bytes(range(256)),
                meta={"http": {"headers": [["x-a", "é\n"]]}, "n": 10**20},
                reasons=("night", "weekend"),
                decision=shared,
            ),
            msg(recipients=(), meta={}, reasons=(), decision=shared, expires_at=T0 + 60),
        ]
        store.insert_many(messages, now=T0 - 10)
        claimed = store.claim_due(T0, 10, 30, "w")
        assert len(claimed) == 2
        for got in claimed:
            read = store.get(EST, got.id)
            assert read is not None
            assert got == read
            original = next(m for m in messages if m.id == got.id)
            expected: HeldMessage = replace(
                original, seq=got.seq, state="claimed", attempts=1, lease_until=T0 + 30,
                worker_id="w",
            )  # fmt: skip
            assert got == expected
        assert claimed[0].decision is not claimed[1].decision  # never shared
    finally:
        store.close()
        drop_schema(dsn, schema)


@pytest.mark.postgres
def test_an_ack_by_seq_still_checks_the_worker_and_the_lease() -> None:
    from deconnexion.store.postgres import PostgresStore

    dsn = require_postgres(PG_DSN)
    schema = "t_pg_rows_ack"
    drop_schema(dsn, schema)
    first, second = PostgresStore(dsn, schema=schema), PostgresStore(dsn, schema=schema)
    try:
        a, b = msg(), msg()
        first.insert_many([a, b], now=T0 - 10)
        assert len(first.claim_due(T0, 10, 30, "w1")) == 2
        # w1's lease runs out; w2 (another store object) takes both over
        assert len(second.claim_due(T0 + 31, 10, 30, "w2")) == 2
        assert first.ack([a.id], "w1", T0 + 32) == 0  # known seq, but no longer w1's
        assert second.ack([a.id], "w2", T0 + 32) == 1  # by seq
        assert first.ack([b.id], "w2", T0 + 32) == 1  # unknown to first's seqs: by id
        assert {m.state for m in second.list(EST, limit=10)} == {"released"}
    finally:
        first.close()
        second.close()
        drop_schema(dsn, schema)


def test_claimed_seqs_hand_each_seq_out_once_and_start_again_past_their_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deconnexion.store.common import ClaimedSeqs

    seqs = ClaimedSeqs()
    a, b = msg(seq=7), msg(seq=8)
    seqs.remember([a, b])
    assert seqs.take([a.id, "unknown"]) == ([7], ["unknown"])
    assert seqs.take([a.id]) == ([], [a.id])  # handed out once
    seqs.forget([b.id])
    assert seqs.take([b.id]) == ([], [b.id])
    monkeypatch.setattr(ClaimedSeqs, "LIMIT", 2)
    seqs.remember([a, b])
    seqs.remember([msg(seq=9)])  # at the limit: the unsettled a and b are dropped
    assert seqs.take([a.id, b.id]) == ([], [a.id, b.id])


@pytest.mark.postgres
def test_binary_copy_writes_whole_number_instants_and_empty_optional_fields() -> None:
    from deconnexion.store.postgres import PostgresStore

    dsn = require_postgres(PG_DSN)
    schema = "t_pg_rows_copy"
    drop_schema(dsn, schema)
    store = PostgresStore(dsn, schema=schema)
    try:
        m = msg(release_at=int(T0), next_attempt_at=int(T0), priority=0, urgent=True)
        store.insert_many([m], now=int(T0) - 10)
        got = store.get(EST, m.id)
        assert got is not None
        assert (got.release_at, got.next_attempt_at, got.expires_at) == (T0, T0, None)
        assert (got.priority, got.urgent, got.collapse_key) == (0, True, None)
    finally:
        store.close()
        drop_schema(dsn, schema)


def test_copy_rows_writes_each_row_its_own_json_whether_shared_or_not() -> None:
    from deconnexion.store.base import held_fields
    from deconnexion.store.codec import dumps
    from deconnexion.store.common import COLUMNS

    shared = {"held": True, "timezone": "Europe/Paris"}
    other = {"held": True, "timezone": "Europe/Paris", "note": "é"}
    decisions = [shared, shared, other, shared, {}, {}]
    reasons = [("night",), ("night",), ("night", "weekend"), ("night",), (), ("a\\b",)]
    metas = [{}, {"open_until": T0}, {"open_until": T0}, {}, {"k": [1]}, {}]
    rows = [
        held_fields(msg(decision=d, reasons=r, meta=m))
        for d, r, m in zip(decisions, reasons, metas, strict=True)
    ]
    heads, bodies = copy_rows(rows, ["held"] * len(rows), list(range(1, 7)), T0)
    reasons_at, meta_at, decision_at = (COLUMNS.index(c) for c in ("reasons", "meta", "decision"))
    for row, head, body in zip(rows, heads, bodies, strict=True):
        jsonb = [b"\x01" + dumps(row[n]).encode() for n in (reasons_at, meta_at, decision_at)]
        assert [head[15], *body[2:]] == jsonb  # reasons: the 16th field of copy_held
