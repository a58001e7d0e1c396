"""Rescheduling never releases early: each held message keeps the policy it was decided under
(recorded by the store), `deconnexion reschedule` without `--policy` uses it, and refuses to
guess for a message that has none."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from test_store_conformance import EST, T0, msg, put

from deconnexion.cli import main
from deconnexion.core.message import Message
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.errors import PolicyNotRecordedError
from deconnexion.hold.queue import HoldQueue
from deconnexion.hold.request import HoldRequest, HoldResult
from deconnexion.store import open_store
from deconnexion.store.base import HoldStore, Rescheduled

PARIS = ZoneInfo("Europe/Paris")
SCHOOL = Establishment(uai="0750001A")
TUESDAY_22H = datetime(2025, 11, 4, 22, 0, tzinfo=PARIS)
STRICTER = {
    "parents 08:00": (
        {"name": "parents-8h", "audiences": {"parents": {"open_hours": {"start": "08:00"}}}},
        "message",
        datetime(2025, 11, 5, 8, 0, tzinfo=PARIS),
    ),
    "closure": (
        {"name": "greve", "closures": [{"start": "2025-11-05", "label": "Grève"}]},
        "message",
        datetime(2025, 11, 6, 7, 0, tzinfo=PARIS),
    ),
    "36 h grade delay": (
        {"name": "36h", "grade_parent_delay": "36h"},
        "grade",
        datetime(2025, 11, 6, 19, 0, tzinfo=PARIS),
    ),
}


def hold(queue: HoldQueue, policy: Policy, kind: str, key: str) -> str:
    message = Message(kind=kind, audience="parents", created_at=TUESDAY_22H)
    decision = Scheduler(policy, SCHOOL).decide(message)
    result = queue.hold(
        establishment=SCHOOL,
        message=message,
        decision=decision,
        payload={"text": key},
        idempotency_key=key,
    )
    return result.id


def release_of(store: HoldStore, message_id: str) -> datetime:
    found = store.get(SCHOOL.key, message_id)
    assert found is not None
    return datetime.fromtimestamp(found.release_at, PARIS)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def held_under_three_stricter_policies(url: str) -> dict[str, str]:
    store = open_store(url)
    queue = HoldQueue(store)
    ids = {
        name: hold(queue, Policy.from_mapping(data), kind, name)
        for name, (data, kind, _) in STRICTER.items()
    }
    # and moved away from their policy's answer, as a stale schedule would be
    store.reschedule(SCHOOL.key, lambda m: m.release_at - 3600, now=T0)
    store.close()
    return ids


def test_reschedule_without_policy_keeps_each_message_s_stricter_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'held.db'}"
    ids = held_under_three_stricter_policies(url)
    code, out, err = run(capsys, "reschedule", "--store", url, "--json")
    assert code == 0, err
    assert json.loads(out) == {"rescheduled": {"0750001A": 3}, "total": 3}
    store = open_store(url)
    try:
        for name, (_, _, expected) in STRICTER.items():
            assert release_of(store, ids[name]) == expected, name
    finally:
        store.close()


def test_reschedule_refuses_to_guess_a_policy_nobody_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'held.db'}"
    ids = held_under_three_stricter_policies(url)
    store = open_store(url)
    put(store, msg("old", est="0671234X"))  # held before policies were recorded
    before = {name: release_of(store, i) for name, i in ids.items()}
    store.close()
    code, _, err = run(capsys, "reschedule", "--store", url)
    assert code != 0
    assert "no recorded policy" in err and "0671234X: 1" in err and "--policy" in err
    store = open_store(url)
    try:
        assert {name: release_of(store, i) for name, i in ids.items()} == before
    finally:
        store.close()


def test_reschedule_with_a_policy_file_uses_it_and_records_it_for_next_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'held.db'}"
    store = open_store(url)
    put(store, msg("old", est=EST, kind="message", created_at=TUESDAY_22H.timestamp()))
    store.close()
    strike = tmp_path / "strike.toml"
    strike.write_text('[[closures]]\nstart = "2025-11-05"\nlabel = "Grève"\n')
    assert run(capsys, "reschedule", "--store", url, "--policy", str(strike))[0] == 0
    store = open_store(url)
    (held,) = store.list(EST)
    assert held.policy is not None and store.recorded_policy(held.policy) is not None
    store.reschedule(EST, lambda m: m.release_at - 86_400, now=T0)  # stale again
    store.close()
    code, _, err = run(capsys, "reschedule", "--store", url)
    assert code == 0, err
    store = open_store(url)
    try:
        assert release_of(store, held.id) == datetime(2025, 11, 6, 7, 0, tzinfo=PARIS)
    finally:
        store.close()


def test_the_queue_reschedules_under_the_recorded_policy_not_the_national_one() -> None:
    store = open_store("memory://")
    queue = HoldQueue(store)
    data, kind, expected = STRICTER["36 h grade delay"]
    mid = hold(queue, Policy.from_mapping(data), kind, "g")
    store.reschedule(SCHOOL.key, lambda m: m.release_at - 3600, now=T0)
    assert queue.reschedule(SCHOOL) == 1
    assert release_of(store, mid) == expected
    with pytest.raises(PolicyNotRecordedError):
        put(store, msg("legacy"))
        queue.reschedule(SCHOOL)
    assert release_of(store, mid) == expected


def test_messages_held_through_the_gate_s_path_record_their_policy_too() -> None:
    """`hold_each` (the group commit's path) records the policy like `hold` does."""
    store = open_store("memory://")
    queue = HoldQueue(store)
    data, kind, expected = STRICTER["parents 08:00"]
    policy = Policy.from_mapping(data)
    message = Message(kind=kind, audience="parents", created_at=TUESDAY_22H)
    decision = Scheduler(policy, SCHOOL).decide(message)
    request = HoldRequest(SCHOOL, message, decision, {"t": 1}, "k")
    (result,) = queue.hold_each([request])
    assert isinstance(result, HoldResult)
    assert store.recorded_policy(policy.identity.digest) == policy.identity.json
    store.reschedule(SCHOOL.key, lambda m: m.release_at - 3600, now=T0)
    assert queue.reschedule(SCHOOL) == 1
    assert release_of(store, result.id) == expected


# -- on every store --------------------------------------------------------------------------------


def test_a_store_keeps_policies_by_digest_and_counts_held_messages_per_policy(
    store: HoldStore,
) -> None:
    store.record_policies({"d1": '{"name":"a"}', "d2": '{"name":"b"}'})
    store.record_policies({"d1": '{"name":"changed"}'})  # a known digest is kept as it is
    assert store.recorded_policy("d1") == '{"name":"a"}'
    assert store.recorded_policy("unknown") is None
    put(store, msg("a", policy="d1"), msg("b", policy="d1"), msg("c"), msg("d", policy="d2"))
    put(store, msg("x", est="0671234X", policy="d2"))
    assert store.held_policies(EST) == {"d1": 2, "d2": 1, None: 1}
    (got,) = [m for m in store.list(EST) if m.idempotency_key == "a"]
    assert got.policy == "d1"


def test_a_reschedule_under_another_policy_records_it_on_the_message(store: HoldStore) -> None:
    (mid,) = put(store, msg("a", policy="d1"))
    new: Any = Rescheduled(T0, None, None, ("d2", '{"name":"b"}'))
    assert store.reschedule(EST, lambda m: new, actor="ops", now=T0) == 1  # same time
    got = store.get(EST, mid)
    assert got is not None and (got.policy, got.release_at) == ("d2", T0)
    assert store.recorded_policy("d2") == '{"name":"b"}'
    (entry,) = [e for e in store.audit(EST) if e.action == "reschedule"]
    assert entry.detail == {"from": T0, "to": T0, "policy": "d2"}
    assert store.reschedule(EST, lambda m: T0 + 60, now=T0) == 1
    got = store.get(EST, mid)
    assert got is not None and got.policy == "d2"  # a bare time keeps the recorded policy


def test_a_policy_s_identity_survives_its_round_trip_and_ignores_set_order() -> None:
    for data, _, _ in STRICTER.values():
        policy = Policy.from_mapping(data)
        again = Policy.from_recorded(policy.identity)
        assert again == policy and again.identity == policy.identity
    one = Policy.from_mapping({"weekend_days": ["saturday", "sunday", "wednesday"]})
    two = Policy.from_mapping({"weekend_days": ["wednesday", "sunday", "saturday"]})
    assert one.identity == two.identity
    assert Policy.national().identity != Policy.from_mapping(STRICTER["closure"][0]).identity


@pytest.mark.parametrize("policy_file", [False, True], ids=["recorded policy", "--policy"])
def test_reschedule_keeps_an_establishment_s_own_time_zone(
    policy_file: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A collège on Nuku Hiva: Marquesas time (UTC−9:30) in a territory on Tahiti time (UTC−10).
    # The store knows it as "departement:987"; rebuilt from that key alone it would be on
    # Tahiti time and its 07:00 would come 30 minutes early.
    nuku_hiva = Establishment(departement="987", timezone="Pacific/Marquesas")
    marquesas = ZoneInfo("Pacific/Marquesas")
    tuesday_22h = datetime(2025, 11, 18, 22, 0, tzinfo=marquesas)
    wednesday_7h = datetime(2025, 11, 19, 7, 0, tzinfo=marquesas)
    url = f"sqlite:///{tmp_path / 'held.db'}"
    store = open_store(url)
    message = Message(kind="message", audience="parents", created_at=tuesday_22h)
    decision = Scheduler(Policy.national(), nuku_hiva).decide(message)
    assert decision.release_at == wednesday_7h
    held = HoldQueue(store).hold(
        establishment=nuku_hiva,
        message=message,
        decision=decision,
        payload={"text": "x"},
        idempotency_key="nuku-hiva",
    )
    store.reschedule(nuku_hiva.key, lambda m: m.release_at + 3600, now=T0)  # a stale schedule
    store.close()
    argv = ["reschedule", "--store", url, "--json"]
    if policy_file:
        national = tmp_path / "national.toml"
        national.write_text('name = "national"\n', encoding="utf-8")
        argv += ["--policy", str(national)]

    code, _, err = run(capsys, *argv)

    assert code == 0, err
    store = open_store(url)
    try:
        found = store.get(nuku_hiva.key, held.id)
        assert found is not None
        assert datetime.fromtimestamp(found.release_at, marquesas) == wednesday_7h
    finally:
        store.close()
