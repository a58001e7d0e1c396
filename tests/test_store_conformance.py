"""One suite, every store: memory, SQLite, PostgreSQL (the `store` fixture is parametrized)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from deconnexion.errors import StoreError
from deconnexion.store.base import AuditEntry, HeldMessage, HoldStore, Rescheduled, priority_for

T0 = 1_762_149_600.0  # Monday 2025-11-03 07:00 Paris
EST = "0750001A"
OTHER = "0671234X"
_n = itertools.count()


def msg(
    key: str | None = None,
    *,
    est: str = EST,
    release_at: float = T0,
    kind: str = "grade",
    urgent: bool = False,
    **fields: Any,
) -> HeldMessage:
    n = next(_n)
    values: dict[str, Any] = dict(
        id=f"{n:012x}{'ab' * 10}",
        establishment=est,
        idempotency_key=key or f"key-{n}",
        collapse_key=None,
        kind=kind,
        audience="parents",
        sender_role="teacher",
        urgent=urgent,
        priority=priority_for(kind, urgent),
        recipients=("parent:1",),
        payload=b'{"grade": 14}',
        content_type="application/json",
        meta={},
        created_at=T0 - 36_000,
        release_at=release_at,
        next_attempt_at=release_at,
        reasons=("night",),
        decision={"held": True, "timezone": "Europe/Paris"},
        actor="prof.martin",
    )
    values.update(fields)
    return HeldMessage(**values)


def put(store: HoldStore, *messages: HeldMessage, now: float = T0 - 36_000) -> list[str]:
    store.insert_many(list(messages), now=now)
    return [m.id for m in messages]


def states(store: HoldStore, est: str = EST) -> dict[str, str]:
    return {m.idempotency_key: m.state for m in store.list(est, limit=1000)}


# -- inserting ------------------------------------------------------------------------------------


def test_a_held_message_reads_back_field_for_field(store: HoldStore) -> None:
    m = msg(
        recipients=("parent:1", "parent:2"),
        payload=b"\x00\xffbinary",
        meta={"http": {"method": "POST", "headers": [["x-a", "1"]]}},
        reasons=("night", "weekend"),
        decision={"held": True, "reasons": [{"code": "night"}]},
        collapse_key="grade:42",
        urgent=True,
        justification="alerte",
        publish_to_students_at=T0 - 100.5,
    )
    (outcome,) = store.insert_many([m], now=T0 - 10)
    assert (outcome.id, outcome.outcome, outcome.release_at) == (m.id, "held", T0)
    got = store.get(EST, m.id)
    assert got is not None
    assert got.seq > 0
    assert replace(got, seq=0) == m


def test_one_batch_mixing_empty_and_given_optional_fields_reads_back_field_for_field(
    store: HoldStore,
) -> None:
    # SQLite writes the rows leaving the same optional columns empty with one statement each
    # (NULL in its SQL): every combination in one batch, each row must read back as given
    given = {
        "collapse_key": "c",
        "actor": "prof.b",
        "justification": "alerte",
        "publish_to_students_at": T0 - 5.5,
        "key_scope": "prof.b",
        "policy": "d" * 64,
        "expires_at": T0 + 99.0,
    }
    batch = []
    for n, empty in enumerate(itertools.product((False, True), repeat=len(given))):
        fields = {f: None if e else v for (f, v), e in zip(given.items(), empty, strict=True)}
        if fields["collapse_key"] is not None:
            fields["collapse_key"] = f"c{n}"
        batch.append(msg(f"mix-{n}", **fields))
    outcomes = store.insert_many(batch, now=T0 - 10)
    assert [o.outcome for o in outcomes] == ["held"] * len(batch)
    for m in batch:
        got = store.get(EST, m.id)
        assert got is not None and replace(got, seq=0) == m


def test_empty_meta_and_decision_read_back_as_empty_dicts(store: HoldStore) -> None:
    (mid,) = put(store, msg(meta={}, decision={}))
    got = store.get(EST, mid)
    assert got is not None and (got.meta, got.decision) == ({}, {})
    (claimed,) = store.claim_due(T0, 1, 30, "w")
    assert (claimed.meta, claimed.decision) == ({}, {})


def test_messages_sharing_a_decision_read_back_with_their_own_dicts(store: HoldStore) -> None:
    decision = {"held": True, "reasons": [{"code": "night", "label_fr": "nuit"}]}
    meta = {"open_until": T0 + 46_800, "tags": ["a"]}
    put(store, *[msg(decision=decision, meta=meta) for _ in range(3)])
    claimed = store.claim_due(T0, 10, 30, "w")
    assert [(m.decision, m.meta) for m in claimed] == [(decision, meta)] * 3
    claimed[0].decision["reasons"][0]["code"] = "changed"
    claimed[1].meta["tags"].append("b")
    assert claimed[2].decision == decision and claimed[2].meta == meta
    assert claimed[0].meta == meta and claimed[1].decision == decision


@pytest.mark.parametrize(
    "recipients",
    [("parent:1",), ('a"b',), ("x\\y",), ("élève:Zoé",), ("a", "b"), (), (" ", "[1]")],
)
def test_recipient_ids_read_back_exactly(store: HoldStore, recipients: tuple[str, ...]) -> None:
    (mid,) = put(store, msg(recipients=recipients, reasons=recipients))
    got = store.get(EST, mid)
    assert got is not None and (got.recipients, got.reasons) == (recipients, recipients)
    (claimed,) = store.claim_due(T0, 1, 30, "w")
    assert (claimed.recipients, claimed.reasons) == (recipients, recipients)


def test_holding_the_same_idempotency_key_twice_keeps_the_first(store: HoldStore) -> None:
    first = msg("k")
    put(store, first)
    second = msg("k", release_at=T0 + 999)
    (outcome,) = store.insert_many([second], now=T0 - 5)
    assert (outcome.outcome, outcome.id, outcome.release_at) == ("duplicate", first.id, T0)
    assert [m.id for m in store.list(EST)] == [first.id]
    assert store.get(EST, second.id) is None


def test_a_batch_ending_with_a_known_key_holds_the_others_once(store: HoldStore) -> None:
    first = msg("k")
    put(store, first)
    batch = [msg(f"new-{n}") for n in range(50)] + [msg("k")]
    outcomes = store.insert_many(batch, now=T0)
    assert [o.outcome for o in outcomes] == ["held"] * 50 + ["duplicate"]
    assert outcomes[-1].id == first.id
    held = store.list(EST, limit=1000)
    assert [m.id for m in held] == [first.id] + [m.id for m in batch[:50]]
    assert len({m.seq for m in held}) == 51


def test_the_same_key_twice_in_one_batch_is_held_once(store: HoldStore) -> None:
    a, b = msg("k"), msg("k")
    outcomes = store.insert_many([a, b], now=T0)
    assert [o.outcome for o in outcomes] == ["held", "duplicate"]
    assert outcomes[1].id == a.id
    assert len(store.list(EST)) == 1


def test_idempotency_keys_are_per_establishment(store: HoldStore) -> None:
    outcomes = store.insert_many([msg("k"), msg("k", est=OTHER)], now=T0)
    assert [o.outcome for o in outcomes] == ["held", "held"]


def test_a_grade_corrected_three_times_gives_one_notification(store: HoldStore) -> None:
    versions = [msg(f"v{i}", collapse_key="grade:42") for i in range(3)]
    out1 = store.insert_many(versions[:1], now=T0 - 300)
    out2 = store.insert_many(versions[1:], now=T0 - 200)
    assert out1[0].outcome == "held"
    assert [(o.outcome, o.replaced_id) for o in out2] == [
        ("replaced", versions[0].id),
        ("replaced", versions[1].id),
    ]
    assert states(store) == {"v0": "replaced", "v1": "replaced", "v2": "held"}
    assert [m.id for m in store.claim_due(T0, 10, 60, "w")] == [versions[2].id]


def test_a_batch_of_new_collapse_keys_is_held_and_one_already_held_replaces_only_its_own(
    store: HoldStore,
) -> None:
    first = [msg(f"a{i}", collapse_key=f"c{i}") for i in range(3)]
    assert [(o.outcome, o.id) for o in store.insert_many(first, now=T0 - 300)] == [
        ("held", m.id) for m in first
    ]
    second = [
        msg("b0", collapse_key="new"),
        msg("b1", collapse_key="c1"),  # held by a1
        msg("b2", collapse_key="twice"),
        msg("b3", collapse_key="twice"),  # the one before, in the same batch
    ]
    outcomes = store.insert_many(second, now=T0 - 200)
    assert [(o.outcome, o.replaced_id) for o in outcomes] == [
        ("held", None),
        ("replaced", first[1].id),
        ("held", None),
        ("replaced", second[2].id),
    ]
    assert states(store) == {
        "a0": "held", "a1": "replaced", "a2": "held",
        "b0": "held", "b1": "held", "b2": "replaced", "b3": "held",
    }  # fmt: skip
    replaced = [e.message_id for e in store.audit(EST, None, 100) if e.action == "replace"]
    assert replaced == [first[1].id, second[2].id]


def test_a_collapse_key_does_not_replace_a_message_in_flight(store: HoldStore) -> None:
    (a,) = put(store, msg("a", collapse_key="c"))
    assert [m.id for m in store.claim_due(T0, 10, 60, "w")] == [a]
    (outcome,) = store.insert_many([msg("b", collapse_key="c")], now=T0)
    assert (outcome.outcome, outcome.replaced_id) == ("held", None)
    assert states(store) == {"a": "claimed", "b": "held"}


def test_collapse_keys_are_per_establishment(store: HoldStore) -> None:
    put(store, msg("a", collapse_key="c"))
    (outcome,) = store.insert_many([msg("b", est=OTHER, collapse_key="c")], now=T0)
    assert outcome.outcome == "held"
    assert states(store) == {"a": "held"}


def test_a_batch_with_a_repeated_id_writes_nothing(store: HoldStore) -> None:
    (first,) = put(store, msg("a"))
    clash = msg("b", id=first)
    with pytest.raises(StoreError):
        store.insert_many([msg("c"), clash], now=T0)
    assert states(store) == {"a": "held"}


# -- tenants --------------------------------------------------------------------------------------


def test_one_establishment_never_sees_or_touches_another_s_messages(store: HoldStore) -> None:
    (mine,) = put(store, msg("mine", est=OTHER))
    assert store.get(EST, mine) is None
    assert store.list(EST) == []
    assert store.cancel(EST, mine, "intrus", T0) is False
    assert store.release_now(EST, mine, "intrus", T0) is False
    assert store.stats(EST).held == 0
    assert store.audit(EST) == []
    assert store.reschedule(EST, lambda m: T0 + 1, now=T0) == 0
    got = store.get(OTHER, mine)
    assert got is not None and got.state == "held" and got.release_at == T0


# -- claiming -------------------------------------------------------------------------------------


def test_claims_come_by_release_time_then_priority_then_insertion(store: HoldStore) -> None:
    late = msg("late", release_at=T0 + 10)
    grade1 = msg("grade1")
    timetable = msg("timetable", kind="timetable")
    absence = msg("absence", kind="absence")
    grade2 = msg("grade2")
    urgent = msg("urgent", urgent=True)
    put(store, late, grade1, timetable, absence)
    put(store, grade2, urgent)
    claimed = store.claim_due(T0 + 10, 100, 60, "w")
    assert [m.idempotency_key for m in claimed] == [
        "timetable",
        "urgent",
        "absence",
        "grade1",
        "grade2",
        "late",
    ]


def test_nothing_is_claimed_before_its_release_time(store: HoldStore) -> None:
    put(store, msg("now"), msg("later", release_at=T0 + 60))
    assert [m.idempotency_key for m in store.claim_due(T0 - 0.001, 10, 600, "w")] == []
    assert [m.idempotency_key for m in store.claim_due(T0, 10, 600, "w")] == ["now"]
    assert [m.idempotency_key for m in store.claim_due(T0 + 59, 10, 600, "w")] == []
    assert [m.idempotency_key for m in store.claim_due(T0 + 60, 10, 600, "w")] == ["later"]


def test_claim_takes_at_most_the_limit(store: HoldStore) -> None:
    put(store, *(msg(f"m{i}") for i in range(5)))
    assert len(store.claim_due(T0, 3, 60, "w")) == 3
    assert len(store.claim_due(T0, 3, 60, "w")) == 2
    assert store.claim_due(T0, 3, 60, "w") == []


def test_a_claim_sets_state_lease_worker_and_attempts(store: HoldStore) -> None:
    put(store, msg("a"))
    (m,) = store.claim_due(T0 + 1, 10, 30, "w1")
    assert (m.state, m.lease_until, m.worker_id, m.attempts) == ("claimed", T0 + 31, "w1", 1)
    stored = store.get(EST, m.id)
    assert stored is not None and stored.state == "claimed"


def test_a_lease_that_expires_makes_the_message_claimable_again(store: HoldStore) -> None:
    put(store, msg("a"))
    (first,) = store.claim_due(T0, 10, 30, "w1")
    assert store.claim_due(T0 + 29, 10, 30, "w2") == []
    (again,) = store.claim_due(T0 + 30, 10, 30, "w2")
    assert (again.id, again.worker_id, again.attempts) == (first.id, "w2", 2)


def test_an_ack_from_a_worker_whose_lease_was_taken_over_changes_nothing(
    store: HoldStore,
) -> None:
    (mid,) = put(store, msg("a"))
    store.claim_due(T0, 10, 30, "w1")
    store.claim_due(T0 + 31, 10, 30, "w2")
    assert store.ack([mid], "w1", T0 + 32) == 0
    assert store.fail(mid, "w1", T0 + 32, "late", None) is False
    got = store.get(EST, mid)
    assert got is not None and (got.state, got.worker_id) == ("claimed", "w2")
    assert store.ack([mid], "w2", T0 + 33) == 1
    got = store.get(EST, mid)
    assert got is not None and (got.state, got.released_at) == ("released", T0 + 33)


def test_ack_releases_only_claimed_messages(store: HoldStore) -> None:
    a, b = put(store, msg("a"), msg("b", release_at=T0 + 100))
    store.claim_due(T0, 10, 30, "w")
    assert store.ack([a, b, "unknown"], "w", T0 + 1) == 1
    assert states(store) == {"a": "released", "b": "held"}
    assert store.ack([a], "w", T0 + 2) == 0  # already released


def test_a_failed_attempt_is_retried_not_before_its_retry_time(store: HoldStore) -> None:
    (mid,) = put(store, msg("a"))
    store.claim_due(T0, 10, 30, "w")
    assert store.fail(mid, "w", T0 + 1, "HTTP 503", T0 + 120) is True
    got = store.get(EST, mid)
    assert got is not None
    assert (got.state, got.next_attempt_at, got.last_error) == ("held", T0 + 120, "HTTP 503")
    assert (got.lease_until, got.release_at) == (None, T0)
    assert store.claim_due(T0 + 119, 10, 30, "w") == []
    (again,) = store.claim_due(T0 + 120, 10, 30, "w")
    assert (again.id, again.attempts) == (mid, 2)


def test_a_message_that_cannot_be_delivered_is_dead(store: HoldStore) -> None:
    (mid,) = put(store, msg("a"))
    store.claim_due(T0, 10, 30, "w")
    assert store.fail(mid, "w", T0 + 1, "HTTP 410 Gone", None) is True
    assert states(store) == {"a": "dead"}
    assert store.claim_due(T0 + 10_000, 10, 30, "w") == []
    assert store.next_due_at() is None


def test_a_retry_superseded_by_a_newer_version_is_replaced_not_retried(store: HoldStore) -> None:
    (old,) = put(store, msg("v1", collapse_key="grade:42"))
    store.claim_due(T0, 10, 30, "w")
    put(store, msg("v2", collapse_key="grade:42"))  # v1 in flight: both exist
    assert store.fail(old, "w", T0 + 1, "HTTP 503", T0 + 60) is True
    assert states(store) == {"v1": "replaced", "v2": "held"}
    actions = [e.action for e in store.audit(EST, message_id=old)]
    assert actions == ["hold", "failure", "replace"]


def test_a_message_given_back_untried_waits_and_keeps_its_attempts(store: HoldStore) -> None:
    a, b = put(store, msg("a"), msg("b"))
    store.claim_due(T0, 10, 30, "w1")
    assert store.give_back([a, b], "w2", T0 + 1, T0 + 60) == 0  # not w2's
    assert store.give_back([a, "unknown"], "w1", T0 + 1, T0 + 60) == 1
    got = store.get(EST, a)
    assert got is not None
    assert (got.state, got.attempts, got.next_attempt_at, got.lease_until) == (
        "held",
        0,
        T0 + 60,
        None,
    )
    assert store.next_due_at() == T0 + 30  # b's lease ends first
    store.ack([b], "w1", T0 + 2)
    assert store.next_due_at() == T0 + 60
    assert store.claim_due(T0 + 59, 10, 30, "w1") == []
    (again,) = store.claim_due(T0 + 60, 10, 30, "w1")
    assert (again.id, again.attempts) == (a, 1)
    assert [e.action for e in store.audit(EST, message_id=a)] == ["hold"]


def test_a_message_is_never_given_back_before_its_release_time(store: HoldStore) -> None:
    (a,) = put(store, msg("a"))
    store.claim_due(T0, 10, 30, "w")
    store.give_back([a], "w", T0 + 1, T0 - 3600)
    got = store.get(EST, a)
    assert got is not None and got.next_attempt_at == T0


def test_a_message_given_back_after_a_newer_version_arrived_is_replaced(store: HoldStore) -> None:
    (old,) = put(store, msg("v1", collapse_key="c"))
    store.claim_due(T0, 10, 30, "w")
    put(store, msg("v2", collapse_key="c"))
    assert store.give_back([old], "w", T0 + 1, T0 + 60) == 1
    assert states(store) == {"v1": "replaced", "v2": "held"}


def test_release_now_makes_a_held_message_due_at_once(store: HoldStore) -> None:
    (mid,) = put(store, msg("a", release_at=T0 + 86_400))
    assert store.release_now(EST, mid, "principal", T0) is True
    got = store.get(EST, mid)
    assert got is not None and (got.release_at, got.next_attempt_at) == (T0, T0)
    assert [m.id for m in store.claim_due(T0, 10, 30, "w")] == [mid]
    assert store.release_now(EST, mid, "principal", T0) is False  # no longer held


def test_cancel_only_applies_to_held_messages(store: HoldStore) -> None:
    a, b = put(store, msg("a"), msg("b"))
    assert store.cancel(EST, a, "prof.martin", T0 - 5) is True
    assert store.cancel(EST, a, "prof.martin", T0 - 4) is False
    store.claim_due(T0, 10, 30, "w")
    assert store.cancel(EST, b, "prof.martin", T0 + 1) is False  # in flight
    assert states(store) == {"a": "cancelled", "b": "claimed"}


# -- rescheduling ---------------------------------------------------------------------------------


def test_reschedule_moves_held_messages_and_never_touches_released_ones(store: HoldStore) -> None:
    released, in_flight, held1, held2 = put(
        store, msg("released"), msg("in_flight"), msg("h1", release_at=T0 + 50), msg("h2")
    )
    store.claim_due(T0, 1, 300, "w")
    store.ack([released], "w", T0)
    store.claim_due(T0, 1, 86_400, "w")  # in_flight stays claimed
    seen: list[str] = []

    def later(m: HeldMessage) -> float:
        seen.append(m.idempotency_key)
        return m.release_at + 3600

    assert store.reschedule(EST, later, actor="admin", now=T0 + 1) == 2
    assert seen == ["h1", "h2"]
    by_key = {m.idempotency_key: m for m in store.list(EST)}
    assert by_key["released"].released_at == T0
    assert by_key["in_flight"].state == "claimed"
    assert (by_key["h1"].release_at, by_key["h1"].next_attempt_at) == (T0 + 3650, T0 + 3650)
    assert by_key["h2"].release_at == T0 + 3600
    assert store.claim_due(T0 + 3599, 10, 30, "w") == []
    assert [e.detail for e in store.audit(EST) if e.action == "reschedule"] == [
        {"from": T0 + 50, "to": T0 + 3650},
        {"from": T0, "to": T0 + 3600},
    ]
    assert {held1, held2} == {m.id for m in store.claim_due(T0 + 3650, 10, 30, "w")}
    assert in_flight not in {held1, held2}


def test_reschedule_can_replace_reasons_and_decision(store: HoldStore) -> None:
    (mid,) = put(store, msg("a"))
    new = Rescheduled(T0 + 86_400, ("closure",), {"held": True, "reasons": ["closure"]})
    assert store.reschedule(EST, lambda m: new, now=T0 - 100) == 1
    got = store.get(EST, mid)
    assert got is not None
    assert (got.release_at, got.reasons, got.decision) == (T0 + 86_400, ("closure",), new.decision)
    assert store.stats(EST).by_reason == {"closure": 1}


def test_reschedule_that_changes_nothing_writes_nothing(store: HoldStore) -> None:
    put(store, msg("a"))
    assert store.reschedule(EST, lambda m: m.release_at, now=T0 - 100) == 0
    assert [e.action for e in store.audit(EST)] == ["hold"]


def test_a_reschedule_that_raises_changes_nothing(store: HoldStore) -> None:
    put(store, msg("a"), msg("b"))

    def boom(m: HeldMessage) -> float:
        if m.idempotency_key == "b":
            raise RuntimeError("calendar unavailable")
        return T0 + 999

    with pytest.raises(RuntimeError):
        store.reschedule(EST, boom, now=T0 - 100)
    assert {m.release_at for m in store.list(EST)} == {T0}


def test_reschedule_keeps_a_pending_retry(store: HoldStore) -> None:
    (mid,) = put(store, msg("a"))
    store.claim_due(T0, 10, 30, "w")
    store.fail(mid, "w", T0 + 1, "503", T0 + 500)
    store.reschedule(EST, lambda m: T0 + 100, now=T0 + 2)
    got = store.get(EST, mid)
    assert got is not None and (got.release_at, got.next_attempt_at) == (T0 + 100, T0 + 500)
    store.reschedule(EST, lambda m: T0 + 900, now=T0 + 3)
    got = store.get(EST, mid)
    assert got is not None and (got.release_at, got.next_attempt_at) == (T0 + 900, T0 + 900)


# -- reading --------------------------------------------------------------------------------------


def test_next_due_at_is_the_earliest_release_retry_or_lease_end(store: HoldStore) -> None:
    assert store.next_due_at() is None
    a, _ = put(store, msg("a", release_at=T0 + 100), msg("b", release_at=T0 + 200))
    assert store.next_due_at() == T0 + 100
    store.claim_due(T0 + 100, 1, 30, "w")
    assert store.next_due_at() == T0 + 130  # the lease ends before b is due
    store.fail(a, "w", T0 + 101, "503", T0 + 150)
    assert store.next_due_at() == T0 + 150


def test_count_due_counts_due_held_and_expired_leases_not_future_ones(store: HoldStore) -> None:
    a, _, _ = put(
        store,
        msg("a", release_at=T0 + 100),
        msg("b", release_at=T0 + 200),
        msg("c", release_at=T0 + 9999),
    )
    assert store.count_due(T0) == 0
    assert store.count_due(T0 + 200) == 2
    store.claim_due(T0 + 100, 1, 30, "w")  # a is claimed until T0 + 130
    assert store.count_due(T0 + 110) == 0
    assert store.count_due(T0 + 200) == 2  # a's lease has expired, b is due
    store.fail(a, "w", T0 + 101, "503", T0 + 500)
    assert store.count_due(T0 + 200) == 1  # a waits for its retry
    assert store.count_due(T0 + 10_000) == 3


def test_stats_count_held_messages_by_reason_with_oldest_and_next(store: HoldStore) -> None:
    put(
        store,
        msg("a", reasons=("night",), created_at=T0 - 500, release_at=T0 + 10),
        msg("b", reasons=("night", "weekend"), created_at=T0 - 900, release_at=T0 + 20),
        msg("c", est=OTHER, reasons=("closure",), created_at=T0 - 9999, release_at=T0 + 5),
        msg("d", reasons=("weekend",), created_at=T0 - 99_999, release_at=T0 + 1),
    )
    (d,) = store.claim_due(T0 + 1, 1, 30, "w")
    assert d.idempotency_key == "d"
    mine = store.stats(EST)
    assert (mine.establishment, mine.held) == (EST, 2)
    assert mine.by_reason == {"night": 2, "weekend": 1}
    assert mine.by_state == {"claimed": 1, "held": 2}
    assert (mine.oldest_held_created_at, mine.next_release_at) == (T0 - 900, T0 + 10)
    everyone = store.stats()
    assert (everyone.establishment, everyone.held) == (None, 3)
    assert everyone.by_reason == {"closure": 1, "night": 2, "weekend": 1}
    assert everyone.next_release_at == T0 + 5
    empty = store.stats("nobody")
    assert (empty.held, empty.by_reason, empty.oldest_held_created_at) == (0, {}, None)


def test_list_filters_by_state_and_pages_in_insertion_order(store: HoldStore) -> None:
    ids = put(store, *(msg(f"m{i}") for i in range(5)))
    store.cancel(EST, ids[1], None, T0 - 1)
    assert [m.id for m in store.list(EST, limit=2, offset=1)] == ids[1:3]
    assert [m.id for m in store.list(EST, states=["held"])] == [ids[0], *ids[2:]]
    assert [m.id for m in store.list(EST, states=["cancelled", "dead"])] == [ids[1]]
    assert store.list(EST, states=[]) == []


def test_establishments_with_held_lists_only_those_with_waiting_messages(
    store: HoldStore,
) -> None:
    put(store, msg("a"), msg("b", est=OTHER), msg("c", est="zone:Zone C"))
    store.cancel("zone:Zone C", store.list("zone:Zone C")[0].id, None, T0)
    assert store.establishments_with_held() == sorted([EST, OTHER])


def test_the_audit_trail_records_every_step_with_time_and_actor(store: HoldStore) -> None:
    a, b, c, _ = put(
        store,
        msg("a", collapse_key="c1"),
        msg("b"),
        msg("c"),
        msg("d", release_at=T0 + 86_400),
        now=T0 - 100,
    )
    store.insert_many([msg("a"), msg("a2", collapse_key="c1", actor="prof.durand")], now=T0 - 90)
    store.cancel(EST, b, "prof.martin", T0 - 80)
    override = AuditEntry(T0 - 70, EST, None, "urgent_override", "principal", {"why": "fire"})
    store.append_audit([override])
    store.claim_due(T0, 10, 30, "w1")
    store.ack([c], "w1", T0 + 1)
    a2 = next(m.id for m in store.list(EST) if m.idempotency_key == "a2")
    store.fail(a2, "w1", T0 + 2, "HTTP 500", None)
    entries = store.audit(EST)
    assert [(e.at, e.action, e.message_id, e.actor) for e in entries] == [
        (T0 - 100, "hold", a, "prof.martin"),
        (T0 - 100, "hold", b, "prof.martin"),
        (T0 - 100, "hold", c, "prof.martin"),
        (T0 - 100, "hold", entries[3].message_id, "prof.martin"),
        (T0 - 90, "hold", a2, "prof.durand"),
        (T0 - 90, "duplicate", a, "prof.martin"),
        (T0 - 90, "replace", a, "prof.durand"),
        (T0 - 80, "cancel", b, "prof.martin"),
        (T0 - 70, "urgent_override", None, "principal"),
        (T0 + 1, "release", c, "w1"),
        (T0 + 2, "dead", a2, "w1"),
    ]
    assert entries[0].detail == {"release_at": T0, "reasons": ["night"]}
    assert entries[6].detail == {"replaced_by": a2}
    assert entries[8].detail == {"why": "fire"}
    assert entries[9].detail == {"attempts": 1}
    assert entries[10].detail == {"error": "HTTP 500", "attempts": 1}
    assert [e.action for e in store.audit(EST, since=T0 - 80)] == [
        "cancel",
        "urgent_override",
        "release",
        "dead",
    ]
    assert [e.action for e in store.audit(EST, message_id=a)] == ["hold", "duplicate", "replace"]
    assert len(store.audit(EST, limit=3)) == 3
    assert store.audit(OTHER) == []


# -- durability and concurrency -------------------------------------------------------------------


def test_held_messages_survive_closing_and_reopening(
    store_kind: str, open_same: Callable[[], HoldStore]
) -> None:
    if store_kind == "memory":
        pytest.skip("the memory store lives and dies with the process")
    first = open_same()
    a, b = put(first, msg("a"), msg("b", release_at=T0 + 60, collapse_key="c"))
    first.claim_due(T0, 10, 30, "w")
    first.ack([a], "w", T0 + 1)
    first.close()
    again = open_same()
    assert states(again) == {"a": "released", "b": "held"}
    assert again.next_due_at() == T0 + 60
    (dup,) = again.insert_many([msg("b")], now=T0 + 2)
    assert (dup.outcome, dup.id) == ("duplicate", b)
    assert [e.action for e in again.audit(EST, message_id=a)] == ["hold", "release"]


def test_two_claimers_at_once_never_get_the_same_message(
    open_same: Callable[[], HoldStore],
) -> None:
    setup = open_same()
    total = 600
    for start in range(0, total, 200):
        put(setup, *(msg(f"m{i}") for i in range(start, start + 200)))
    stores = [open_same(), open_same()]
    got: list[list[str]] = [[], []]
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def claim(n: int) -> None:
        try:
            go.wait()
            while batch := stores[n].claim_due(T0, 7, 300, f"w{n}"):
                got[n].extend(m.id for m in batch)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert not set(got[0]) & set(got[1])
    assert len(got[0]) + len(got[1]) == total
    assert setup.stats(EST).by_state == {"claimed": total}


def test_wait_for_change_wakes_when_a_message_is_held(open_same: Callable[[], HoldStore]) -> None:
    waiter, writer = open_same(), open_same()
    waiter.wait_for_change(0)  # PostgreSQL: start listening
    woke: list[bool] = []
    thread = threading.Thread(target=lambda: woke.append(waiter.wait_for_change(30)))
    thread.start()
    threading.Event().wait(0.2)  # let the waiter block (the result does not depend on it)
    put(writer, msg("a"))
    thread.join(timeout=60)
    assert woke == [True]


def test_close_wakes_a_waiting_thread(open_same: Callable[[], HoldStore]) -> None:
    store = open_same()
    store.wait_for_change(0)
    woke: list[bool] = []
    thread = threading.Thread(target=lambda: woke.append(store.wait_for_change(30)))
    thread.start()
    threading.Event().wait(0.2)
    store.close()
    thread.join(timeout=60)
    assert not thread.is_alive()
