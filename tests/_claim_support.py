"""The claim scenario shared by the claim tests (tests/test_claimed_records.py for `claim_due`,
tests/test_release_claims.py for `claim_release`): three messages, one of them claimed, failed
and claimed again with the others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from test_store_conformance import T0, msg

from deconnexion.store.base import HeldMessage, HoldStore

Claim = Callable[[HoldStore, float, int, float, str], list[Any]]


def full_message(zone: str) -> HeldMessage:
    """A message with every optional field set, its decision recorded in `zone`."""
    return msg(
        "full",
        release_at=T0 - 10,
        recipients=("parent:1", "parent:2"),
        payload=b"\x00\xffbinary",
        meta={"follows": "x", "tags": ["a"]},
        reasons=("night", "weekend"),
        decision={"held": True, "timezone": zone, "reasons": [{"code": "night"}]},
        collapse_key="grade:42",
        urgent=True,
        justification="alerte",
        publish_to_students_at=T0 - 100.5,
        actor="prof.b",
        key_scope="prof.b",
        policy="d" * 64,
        expires_at=T0 + 3600.0,
    )


def claimed_after_a_retry(
    store: HoldStore, claim: Claim, zone: str
) -> tuple[HeldMessage, list[Any]]:
    """Hold a plain message, `full_message(zone)` and one that is claimed by "w1" and failed
    ("HTTP 503", due again at T0 - 25); then claim all three by "w2" at T0 with a 60 s lease.
    Returns the full message and that claim, checked to be in claim order (the retried one,
    plain, full)."""
    plain = msg("plain", release_at=T0 - 20)
    full = full_message(zone)
    retried = msg("retried", release_at=T0 - 30)
    store.insert_many([plain, full, retried], now=T0 - 36_000)
    (first,) = claim(store, T0 - 30, 1, 60, "w1")
    assert first.id == retried.id
    assert store.fail(retried.id, "w1", T0 - 29, "HTTP 503", T0 - 25)  # last_error kept
    claimed = claim(store, T0, 10, 60, "w2")
    assert [m.id for m in claimed] == [retried.id, plain.id, full.id]
    return full, claimed
