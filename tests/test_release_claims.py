"""`claim_release` is `claim_due` read as the release reads it (`store.claimed`), on every
store: the same rows claimed in the same order, each record the `ClaimedMessage` of the stored
message after the claim, the decision's time zone in place of the decision."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from _claim_support import claimed_after_a_retry
from _release_support import FakeClock, Recorder
from test_store_conformance import EST, T0, msg

from deconnexion.release.worker import ReleaseWorker
from deconnexion.store.base import HeldMessage, HoldStore
from deconnexion.store.claimed import RELEASE_HEAD, ClaimedMessage, ReleaseClaims, claimed_of
from deconnexion.store.common import CLAIMED_HEAD


def _claim(store: HoldStore, now: float, limit: int, lease: float, worker: str) -> list[Any]:
    assert isinstance(store, ReleaseClaims)
    return store.claim_release(now, limit, lease, worker)


def _as_stored(store: HoldStore, m: ClaimedMessage) -> ClaimedMessage:
    got = store.get(EST, m.id)
    assert got is not None and got.state == "claimed"
    return claimed_of(got)


def test_released_records_equal_their_stored_rows_after_the_claim(store: HoldStore) -> None:
    _, claimed = claimed_after_a_retry(store, _claim, "Pacific/Noumea")
    for m in claimed:
        assert type(m) is ClaimedMessage and m == _as_stored(store, m)
    assert [m.attempts for m in claimed] == [2, 1, 1]
    assert claimed[2].timezone == "Pacific/Noumea" and claimed[2].urgent is True
    assert claimed[2].recipients == ("parent:1", "parent:2") and claimed[2].meta["tags"] == ["a"]
    assert store.ack([m.id for m in claimed], "w2", T0 + 1) == 3  # acknowledged by seq


@pytest.mark.parametrize("zone", [None, "", 7, ["Europe/Paris"], {"zone": "Europe/Paris"}])
def test_a_decision_without_a_zone_name_reads_as_none(store: HoldStore, zone: object) -> None:
    decision: dict[str, object] = {"held": True}
    if zone is not None:
        decision["timezone"] = zone
    store.insert_many([msg("odd", release_at=T0 - 1, decision=decision)], now=T0 - 36_000)
    (m,) = _claim(store, T0, 10, 60, "w1")
    assert m.timezone is None and m == _as_stored(store, m)


def test_a_lease_taken_back_is_claimed_again_by_the_new_worker(store: HoldStore) -> None:
    late = msg("late", release_at=T0 + 5)
    early = msg("early", release_at=T0 - 5)
    store.insert_many([late, early], now=T0 - 36_000)
    (leased,) = _claim(store, T0, 10, 30, "w1")
    assert leased.id == early.id
    again = _claim(store, T0 + 30, 10, 60, "w2")  # the lease is over, the later one due
    assert [m.id for m in again] == [early.id, late.id]
    assert [m.attempts for m in again] == [2, 1]
    for m in again:
        assert m == _as_stored(store, m)
        got = store.get(EST, m.id)
        assert got is not None and (got.worker_id, got.lease_until) == ("w2", T0 + 90)


def test_claimed_rows_begin_with_the_claim_order() -> None:
    """The SQL stores sort the claimed rows into claim order by their first three values."""
    assert RELEASE_HEAD[:3] == CLAIMED_HEAD[:3] == ("release_at", "priority", "seq")


ODD_TEXT = 'clé "x" \\ \n\t\x01 é 😀 \u2028'


def test_any_text_and_any_float_come_back_as_stored(store: HoldStore) -> None:
    """Quotes, backslashes, control characters, non-ASCII text; floats with every digit."""
    m = msg(
        ODD_TEXT,
        release_at=T0 - 0.123456789012,
        created_at=T0 - 36_000.987654321098,
        expires_at=T0 + 3600.000000000001,
        recipients=(ODD_TEXT, "parent:[1]"),
        reasons=("night", ODD_TEXT),
        content_type='text/plain; charset="utf-8"',
        policy=ODD_TEXT,
        decision={"timezone": "America/Cayenne", "note": ODD_TEXT},
    )
    store.insert_many([m], now=T0 - 40_000)
    (got,) = _claim(store, T0, 10, 60, "w1")
    assert got == _as_stored(store, got)
    assert (got.idempotency_key, got.recipients, got.reasons) == (
        ODD_TEXT,
        (ODD_TEXT, "parent:[1]"),
        ("night", ODD_TEXT),
    )
    assert (got.release_at, got.created_at, got.expires_at) == (
        m.release_at,
        m.created_at,
        m.expires_at,
    )
    assert got.timezone == "America/Cayenne" and got.policy == ODD_TEXT


class WithoutReleaseClaims:
    """A store of the `HoldStore` protocol alone: no `claim_release`."""

    def __init__(self, inner: HoldStore) -> None:
        self.inner = inner
        self.claims = 0

    def __getattr__(self, name: str) -> Any:
        if name == "claim_release":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def claim_due(self, now: float, limit: int, lease: float, worker: str) -> list[HeldMessage]:
        self.claims += 1
        return self.inner.claim_due(now, limit, lease, worker)


def test_the_worker_releases_from_a_store_without_claim_release(store: HoldStore) -> None:
    m = msg("plain", release_at=T0 - 10, decision={"timezone": "Pacific/Noumea"})
    store.insert_many([m], now=T0 - 36_000)
    plain = WithoutReleaseClaims(store)
    assert isinstance(plain, HoldStore) and not isinstance(plain, ReleaseClaims)
    clock = FakeClock(T0)
    recorder = Recorder(clock)
    worker = ReleaseWorker(plain, recorder, clock=clock, sleep=clock.sleep, worker_id="w1")
    assert asyncio.run(worker.run_once()) == 1
    assert plain.claims == 1 and recorder.keys == ["plain"]
    (delivery,) = [d for _, _, _, d in recorder.seen]
    assert delivery.release_at.tzinfo is not None
    assert delivery.release_at.utcoffset() == timedelta(hours=11)  # Nouméa's recorded zone
    got = store.get(EST, m.id)
    assert got is not None and got.state == "released"
