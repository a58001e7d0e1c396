"""A claimed message is the stored message as it is after the claim, field for field, on every
store: the SQLite claim builds its records from what its UPDATE returns plus the values the
claim itself set (state, lease, worker; released_at empty), not from a read of the row."""

from __future__ import annotations

from dataclasses import replace

from test_store_conformance import EST, T0, msg

from deconnexion.store.base import HeldMessage, HoldStore


def _stored(store: HoldStore, m: HeldMessage) -> HeldMessage:
    got = store.get(EST, m.id)
    assert got is not None
    return got


def test_claimed_messages_equal_their_stored_rows_after_the_claim(store: HoldStore) -> None:
    plain = msg("plain", release_at=T0 - 20)
    full = msg(
        "full",
        release_at=T0 - 10,
        recipients=("parent:1", "parent:2"),
        payload=b"\x00\xffbinary",
        meta={"follows": "x", "tags": ["a"]},
        reasons=("night", "weekend"),
        decision={"held": True, "timezone": "Europe/Paris", "reasons": [{"code": "night"}]},
        collapse_key="grade:42",
        urgent=True,
        justification="alerte",
        publish_to_students_at=T0 - 100.5,
        actor="prof.b",
        key_scope="prof.b",
        policy="d" * 64,
        expires_at=T0 + 3600.0,
    )
    retried = msg("retried", release_at=T0 - 30)
    store.insert_many([plain, full, retried], now=T0 - 36_000)
    (first,) = store.claim_due(T0 - 30, 1, 60, "w1")
    assert first.id == retried.id
    assert store.fail(retried.id, "w1", T0 - 29, "HTTP 503", T0 - 25)  # last_error kept
    claimed = store.claim_due(T0, 10, 60, "w2")
    assert [m.id for m in claimed] == [retried.id, plain.id, full.id]
    for m in claimed:
        assert m == _stored(store, m)
        assert (m.state, m.lease_until, m.worker_id, m.released_at) == (
            "claimed",
            T0 + 60,
            "w2",
            None,
        )
    assert claimed[0].attempts == 2 and claimed[0].last_error == "HTTP 503"
    assert replace(claimed[2], state="held", attempts=0, lease_until=None, worker_id=None) == (
        replace(full, seq=claimed[2].seq)
    )


def test_a_lease_taken_back_reads_as_claimed_by_the_new_worker(store: HoldStore) -> None:
    late = msg("late", release_at=T0 + 5)
    early = msg("early", release_at=T0 - 5)
    store.insert_many([late, early], now=T0 - 36_000)
    (leased,) = store.claim_due(T0, 10, 30, "w1")
    assert leased.id == early.id
    again = store.claim_due(T0 + 30, 10, 60, "w2")  # the lease is over, the later one due
    assert [m.id for m in again] == [early.id, late.id]
    for m in again:
        assert m == _stored(store, m)
        assert (m.worker_id, m.lease_until) == ("w2", T0 + 90)
    assert [m.attempts for m in again] == [2, 1]
