"""The SQLite store's claim and acknowledgement paths: a claim without expired leases takes
the due held messages alone (`claim_held`), an expired lease brings in the full `claim_due`; an
acknowledgement finds the rows its store object claimed by seq (`ClaimedSeqs`) and any other
by id. Whatever the path, the same messages are claimed and released."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from deconnexion.store.base import HeldMessage
from deconnexion.store.common import ClaimedSeqs
from deconnexion.store.sqlite import SQLiteStore

T0 = 1_800_000_000.0


def _message(n: int, **fields: object) -> HeldMessage:
    base = HeldMessage(
        f"{n:032x}", "0750001A", f"k{n}", None, "grade", "parents", "teacher", False, 2,
        (f"p:{n}",), b"{}", "application/json", {}, T0 - 3600, T0, T0, ("night",),
        {"held": True},
    )  # fmt: skip
    return replace(base, **fields)


def _states(store: SQLiteStore) -> dict[str, str]:
    return {m.idempotency_key: m.state for m in store.list("0750001A", limit=1000)}


def test_an_ack_through_another_store_object_on_the_same_file_finds_its_rows_by_id(
    tmp_path: Path,
) -> None:
    claimer, acker = SQLiteStore(tmp_path / "held.db"), SQLiteStore(tmp_path / "held.db")
    try:
        claimer.insert_many([_message(n) for n in range(3)], now=T0 - 3600)
        claimed = claimer.claim_due(T0, 10, 60, "w")
        assert acker.ack([m.id for m in claimed], "w", T0 + 1) == 3
        assert claimer.ack([m.id for m in claimed], "w", T0 + 2) == 0  # released already
        assert set(_states(claimer).values()) == {"released"}
    finally:
        claimer.close()
        acker.close()


def test_an_ack_by_seq_is_refused_once_another_worker_took_the_lease(tmp_path: Path) -> None:
    first, second = SQLiteStore(tmp_path / "held.db"), SQLiteStore(tmp_path / "held.db")
    try:
        first.insert_many([_message(0), _message(1)], now=T0 - 3600)
        mine = first.claim_due(T0, 10, 30, "w1")
        taken = second.claim_due(T0 + 31, 1, 30, "w2")  # the first lease is over
        assert [m.id for m in taken] == [mine[0].id]
        assert first.ack([m.id for m in mine], "w1", T0 + 32) == 1  # only the one still its
        assert _states(first) == {"k0": "claimed", "k1": "released"}
        assert second.ack([taken[0].id], "w2", T0 + 33) == 1
    finally:
        first.close()
        second.close()


def test_a_claim_takes_expired_leases_and_due_messages_in_claim_order(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "held.db")
    try:
        store.insert_many(
            [_message(0), _message(1, release_at=T0 + 50, next_attempt_at=T0 + 50)],
            now=T0 - 3600,
        )
        (leased,) = store.claim_due(T0, 1, 60, "w1")
        again = store.claim_due(T0 + 60, 10, 60, "w2")
        assert [(m.idempotency_key, m.attempts) for m in again] == [("k0", 2), ("k1", 1)]
        assert store.ack([m.id for m in again], "w2", T0 + 61) == 2
        assert store.ack([leased.id], "w1", T0 + 62) == 0
    finally:
        store.close()


def test_claimed_seqs_give_what_they_know_once_and_name_the_rest() -> None:
    seqs = ClaimedSeqs()
    seqs.remember([_message(0, seq=7), _message(1, seq=9)])
    assert seqs.take([f"{0:032x}", "unknown", f"{1:032x}"]) == ([7, 9], ["unknown"])
    assert seqs.take([f"{0:032x}"]) == ([], [f"{0:032x}"])


def test_claimed_seqs_forget_everything_past_their_limit() -> None:
    class Small(ClaimedSeqs):
        LIMIT = 2

    seqs = Small()
    seqs.remember([_message(0, seq=1), _message(1, seq=2)])
    seqs.remember([_message(2, seq=3)])
    assert seqs.take([f"{n:032x}" for n in range(3)]) == ([3], [f"{0:032x}", f"{1:032x}"])
