"""`stored_decision` builds a decision's record and its JSON text in one go: the record is
`decision_record(d)`, the text is byte for byte what the store's encoder writes for it, and a
hold refuses exactly the decisions it refused when it checked the record with `check_strings`."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deconnexion import Establishment, HoldQueue, HoldRequest, Message, Policy, Scheduler
from deconnexion.core.codes import Audience, Kind, Provenance, ReasonCode
from deconnexion.core.message import Decision, Reason
from deconnexion.errors import InvalidInputError
from deconnexion.hold.request import CheckedInputs, build_row, check_strings
from deconnexion.hold.stored_decision import (
    decision_record,
    instant,
    open_until_meta,
    stored_decision,
    with_follows,
)
from deconnexion.store.codec import JSONDict, dumps, write_encoder
from deconnexion.store.common import COLUMNS
from deconnexion.store.memory import MemoryStore
from deconnexion.store.sqlite import SQLiteStore

TEXT = st.text(alphabet=st.sampled_from(["a", "é", " ", "\x00", "\ud800", '"', "\\", "\n", "€"]))
INSTANTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
REASONS = st.builds(Reason, st.sampled_from(list(ReasonCode)), TEXT, TEXT)
DECISIONS = st.builds(
    Decision,
    held=st.booleans(),
    release_at=INSTANTS,
    created_at=INSTANTS,
    audience=st.sampled_from(list(Audience)),
    kind=st.sampled_from(list(Kind)),
    reasons=st.lists(REASONS, max_size=3).map(tuple),
    provenance=st.sampled_from(list(Provenance)),
    students_release_at=st.none() | INSTANTS,
    timezone=st.sampled_from(["Europe/Paris", "Indian/Reunion"]) | TEXT,
    notes=st.lists(TEXT, max_size=2).map(tuple),
    open_until=st.none() | INSTANTS,
    expires_at=st.none() | INSTANTS,
)


def refusal(d: Decision) -> str | None:
    try:
        check_strings(decision_record(d), "decision")
    except InvalidInputError as exc:
        return str(exc)
    return None


@given(DECISIONS)
def test_the_record_and_its_text_are_what_the_store_wrote_and_refusals_are_unchanged(
    d: Decision,
) -> None:
    stored = stored_decision(d)
    if stored is None:
        assert refusal(d) is not None
        return
    assert refusal(d) is None
    assert stored == decision_record(d)
    assert stored.text == dumps(decision_record(d))
    assert write_encoder()(stored) == stored.text


def test_a_scheduler_decision_is_stored_with_its_text() -> None:
    where = Establishment(uai="0750001A")
    sched = Scheduler(Policy.national(), where)
    start = datetime(2025, 11, 14, 16, tzinfo=UTC)
    for hours in range(0, 72, 5):
        for kind, audience in [("grade", "parents"), ("homework", "students")]:
            m = Message(kind=kind, audience=audience, created_at=start + timedelta(hours=hours))
            d = sched.decide(m)
            stored = stored_decision(d)
            assert stored is not None
            assert stored == decision_record(d)
            assert stored.text == dumps(decision_record(d))


def test_a_hand_built_decision_of_other_types_goes_the_general_way() -> None:
    where = Establishment(uai="0750001A")
    m = Message(
        kind="homework", audience="students", created_at=datetime(2025, 11, 14, 22, tzinfo=UTC)
    )
    d = Scheduler(Policy.national(), where).decide(m)
    odd: Any = dataclasses.replace(d, audience="students")  # a str, not an Audience
    assert stored_decision(odd) is None
    with pytest.raises(AttributeError):  # what a hold raised before: nothing new accepted
        CheckedInputs().decision(odd, "")
    plain_code: Any = Reason("night", "Nuit", "Night")  # type: ignore[arg-type]
    assert stored_decision(dataclasses.replace(d, reasons=(plain_code,))) is None


def test_a_nul_in_a_reason_label_is_refused_and_named() -> None:
    where = Establishment(uai="0750001A")
    m = Message(
        kind="homework", audience="students", created_at=datetime(2025, 11, 14, 22, tzinfo=UTC)
    )
    d = Scheduler(Policy.national(), where).decide(m)
    bad = dataclasses.replace(d, reasons=(Reason(ReasonCode.CLOSURE, "grève\x00", "strike"),))
    assert stored_decision(bad) is None
    with pytest.raises(InvalidInputError, match=r"decision\.reasons\[0\]\.label_fr"):
        CheckedInputs().decision(bad, "")


def test_open_until_meta_is_its_own_json() -> None:
    at = datetime(2025, 11, 17, 20, tzinfo=UTC).timestamp() + 0.125
    meta = open_until_meta(at)
    assert meta == {"open_until": at} and meta.text == dumps({"open_until": at})


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_a_held_decision_reads_back_as_its_record(store_kind: str) -> None:
    store = MemoryStore() if store_kind == "memory" else SQLiteStore()
    where = Establishment(uai="0750001A")
    m = Message(kind="grade", audience="parents", created_at=datetime(2025, 11, 14, 22, tzinfo=UTC))
    d = Scheduler(Policy.national(), where).decide(m)
    queue = HoldQueue(store, clock=lambda: d.created_at.timestamp())
    result = queue.hold_many([HoldRequest(where, m, d, {"a": 1}, "k1")])[0]
    row, _ = build_row(HoldRequest(where, m, d, b"", "k2"), CheckedInputs())
    assert isinstance(
        row[COLUMNS.index("decision")], JSONDict
    )  # the row's decision carries its text
    held = queue.get(where, result.id)
    assert held is not None
    assert held.decision == json.loads(dumps(decision_record(d)))
    assert held.meta == {"open_until": d.open_until.timestamp()}  # type: ignore[union-attr]
    assert type(held.decision) is dict


ZONES = [
    ZoneInfo("Europe/Paris"),
    ZoneInfo("Pacific/Marquesas"),
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=1), "CET"),
]
WALLS = st.datetimes(min_value=datetime(2025, 3, 29), max_value=datetime(2025, 11, 2))
AROUND_CHANGES = st.sampled_from(
    [datetime(2025, 3, 30, 2, 30), datetime(2025, 10, 26, 2, 30), datetime(2025, 10, 26, 1, 59)]
)


@given(
    st.lists(
        st.tuples(WALLS | AROUND_CHANGES, st.sampled_from(ZONES), st.sampled_from([0, 1])),
        max_size=12,
    )
)
def test_a_remembered_instant_reads_as_the_datetime_itself(
    walls: list[tuple[datetime, Any, int]],
) -> None:
    instants = [wall.replace(tzinfo=tz, fold=fold) for wall, tz, fold in walls]
    for at in instants + instants[::-1]:  # the second pass reads what the first remembered
        assert instant(at) == (at.isoformat(), at.timestamp())


@given(
    st.one_of(
        st.just({}),
        st.floats(min_value=0, max_value=4e9, allow_nan=False).map(open_until_meta),
        st.dictionaries(st.sampled_from(["a", "open_until"]), st.integers(), max_size=2),
    ),
    st.text(alphabet=st.sampled_from(["a", "0", "é", '"', "\\", ":", "€"]), min_size=1),
)
def test_a_meta_with_follows_is_written_as_dumps_writes_it(
    meta: dict[str, Any], follows: str
) -> None:
    out = with_follows(meta, follows)
    assert out == {**meta, "follows": follows}
    assert list(out) == [*meta, "follows"]
    assert write_encoder()(out) == dumps(out)


class _Instant(datetime):
    """A datetime subclass: it may write its own `isoformat`."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return 'quoted "' + super().isoformat(sep, timespec)


def test_a_decision_at_instants_of_a_datetime_subclass_is_recorded_the_general_way() -> None:
    where = Establishment(uai="0750001A")
    m = Message(kind="grade", audience="parents", created_at=datetime(2025, 11, 14, 22, tzinfo=UTC))
    d = Scheduler(Policy.national(), where).decide(m)
    at = d.release_at
    odd = dataclasses.replace(
        d, release_at=_Instant(at.year, at.month, at.day, at.hour, tzinfo=at.tzinfo)
    )
    assert stored_decision(odd) is None
    record, _, _ = CheckedInputs().decision(odd, "")
    assert record == decision_record(odd)
    assert record["release_at"].startswith('quoted "')
    assert write_encoder()(record) == dumps(decision_record(odd))
