"""A claimed message is the stored message as it is after the claim, field for field, on every
store: the SQLite claim builds its records from what its UPDATE returns plus the values the
claim itself set (state, lease, worker; released_at empty), not from a read of the row."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from _claim_support import claimed_after_a_retry
from test_store_conformance import EST, T0, msg

from deconnexion.store.base import HeldMessage, HoldStore


def _stored(store: HoldStore, m: HeldMessage) -> HeldMessage:
    got = store.get(EST, m.id)
    assert got is not None
    return got


def _claim_due(store: HoldStore, now: float, limit: int, lease: float, worker: str) -> list[Any]:
    return store.claim_due(now, limit, lease, worker)


def test_claimed_messages_equal_their_stored_rows_after_the_claim(store: HoldStore) -> None:
    full, claimed = claimed_after_a_retry(store, _claim_due, "Europe/Paris")
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
