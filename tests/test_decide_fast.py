"""`decide()`'s fast paths give exactly what the plain computation gives.

`reference_decide` below is `decide()` written the straightforward way (`datetime.timestamp()`,
attribute reads, the `Decision` constructor, no precomputed tables): the oracle. Instants are
drawn in the establishment's zone (where `CompiledWindows.epoch` takes its shortcut), in
another zone and in UTC, often on the days the UTC offset changes, including the wall times
that do not exist or happen twice (PEP 495 `fold`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from deconnexion.core.message import (
    Audience,
    Decision,
    Kind,
    Message,
    Provenance,
    Reason,
    ReasonCode,
    SenderRole,
)
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler, _delay_reason, _publication_reason, _refusal
from deconnexion.core.territories import Establishment
from deconnexion.errors import DeconnexionError

ZONES = (
    "C",
    "Corse",
    "Saint-Pierre-et-Miquelon",  # DST, North American dates
    "Guadeloupe",
    "Réunion",
    "Mayotte",
    "Nouvelle-Calédonie",
    "Polynésie",
)
POLICIES = {
    "national": Policy.national(),
    "publication": Policy.from_mapping(
        {"name": "publication", "grade_publication": ["07:30", "17:00"]}
    ),
    "expiry": Policy.from_mapping({"name": "expiry", "expires_after": {"timetable": "12h"}}),
    "strict": Policy.from_mapping({"name": "strict", "calendar_mode": "strict"}),
}
EXAMPLES = settings(max_examples=400, deadline=None)


@cache
def scheduler(zone: str, policy: str) -> Scheduler:
    return Scheduler(POLICIES[policy], Establishment(zone=zone))


def reference_decide(s: Scheduler, message: Message) -> Decision:
    """The rules of docs/RULES.md §1–3, computed plainly (the oracle of the fast paths)."""
    policy = s.policy
    tz = s.tz
    w = s.windows(message.audience)
    created = message.created_at.timestamp()
    common = {
        "created_at": message.created_at,
        "audience": message.audience,
        "kind": message.kind,
        "timezone": s.establishment.timezone,
        "policy": policy.identity,
    }
    if (
        message.urgent
        and message.kind is not Kind.GRADE
        and message.sender_role in policy.urgent_roles
        and (message.justification or not policy.urgent_requires_justification)
    ):
        label = message.justification or "urgence"
        w.check(created, "created_at")
        role = message.sender_role.value
        return Decision(
            held=False,
            release_at=message.created_at.astimezone(tz),
            reasons=(
                Reason(
                    ReasonCode.URGENT_OVERRIDE,
                    f"Urgence ({role}) : {label}",
                    f"Urgent ({role}): {label}",
                ),
            ),
            provenance=w.provenance(created, created),
            **common,
        )
    start = created
    if message.kind is Kind.GRADE and message.publish_to_students_at is not None:
        start = max(created, message.publish_to_students_at.timestamp())
    students_release = None
    if message.kind is Kind.GRADE and message.audience is Audience.PARENTS:
        students = s.windows(Audience.STUDENTS)
        if policy.grade_publication:
            students_release = s._publication(students, start)
        else:
            students_release = students.next_open(start)
        start = students_release + policy.grade_parent_delay.total_seconds()
        release = w.next_open(start)
        reasons: tuple[Reason, ...] = (_delay_reason(policy),)
        if release > start:
            reasons += w.reasons(start, release)
    elif (
        message.kind is Kind.GRADE
        and message.audience is Audience.STUDENTS
        and policy.grade_publication
    ):
        release = s._publication(w, start)
        reasons = ()
        if release > start:
            until = w.open_until(start)
            if until is None or until < release:
                reasons = w.reasons(start, release)
            hour = datetime.fromtimestamp(release, tz).time()
            reasons += (_publication_reason(hour),)
    else:
        release = w.next_open(start)
        reasons = w.reasons(start, release) if release > start else ()
    held = release > created
    if message.urgent and held:
        reasons += (_refusal(vars(message), policy),)
    provenance = w.provenance(created, release)
    if policy.calendar_mode == "strict":
        s._guard(w, created, release)  # no official calendar: CalendarUnknownError
    notes: tuple[str, ...] = ()
    if provenance is Provenance.UNKNOWN and w.estimated_from:
        notes = (f"calendrier scolaire non publié : vacances estimées d'après {w.estimated_from}",)
    until = w.open_until(release)
    after = policy.expires_after.get(message.kind)
    return Decision(
        held=held,
        release_at=datetime.fromtimestamp(release, tz)
        if held
        else message.created_at.astimezone(tz),
        reasons=reasons,
        provenance=provenance,
        students_release_at=None
        if students_release is None
        else datetime.fromtimestamp(students_release, tz),
        notes=notes,
        open_until=None if until is None else datetime.fromtimestamp(until, tz),
        expires_at=None
        if after is None
        else datetime.fromtimestamp(created + after.total_seconds(), tz),
        **common,
    )


def offset_change_days(tz: ZoneInfo, first: int, last: int) -> list[date]:
    """The local days in [2024, 2030] on which `tz` changes its UTC offset."""
    out = []
    for ordinal in range(first, last):
        day = date.fromordinal(ordinal)
        a = datetime.combine(day, time(0), tz).utcoffset()
        b = datetime.combine(day + timedelta(days=1), time(0), tz).utcoffset()
        if a != b:
            out.append(day)
    return out


FIRST_DAY = date(2024, 8, 1).toordinal()
LAST_DAY = date(2030, 6, 1).toordinal()
PARIS = ZoneInfo("Europe/Paris")
MIQUELON = ZoneInfo("America/Miquelon")
CHANGES = offset_change_days(PARIS, FIRST_DAY, LAST_DAY) + offset_change_days(
    MIQUELON, FIRST_DAY, LAST_DAY
)


@st.composite
def wall_times(draw: st.DrawFn, tz: ZoneInfo) -> datetime:
    """A wall time in `tz`: any day of the range, or a DST day (often in its changed hour)."""
    if draw(st.booleans()):
        day = draw(st.sampled_from(CHANGES))
        hour = draw(st.sampled_from([0, 1, 2, 3, 23, *range(24)]))
    else:
        day = date.fromordinal(draw(st.integers(FIRST_DAY, LAST_DAY)))
        hour = draw(st.integers(0, 23))
    minute = draw(st.sampled_from([0, 0, 30, 59, *range(60)]))
    second = draw(st.sampled_from([0, 0, 59, *range(60)]))
    micro = draw(st.sampled_from([0, 0, 1, 999_999, 500_000]) | st.integers(0, 999_999))
    fold = draw(st.integers(0, 1))
    return datetime.combine(day, time(hour, minute, second, micro, fold=fold), tz)


@st.composite
def created_instants(draw: st.DrawFn, s: Scheduler) -> datetime:
    """In the establishment's own zone (the fast path) most of the time, else elsewhere."""
    own = draw(wall_times(s.tz))
    return draw(
        st.sampled_from(
            [
                own,
                own,
                own,
                own.astimezone(UTC),
                own.astimezone(PARIS),
                own.astimezone(timezone(timedelta(hours=-3))),
                draw(wall_times(PARIS)),
            ]
        )
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[Scheduler, Message]:
    s = scheduler(draw(st.sampled_from(ZONES)), draw(st.sampled_from(sorted(POLICIES))))
    created = draw(created_instants(s))
    publish = None
    if draw(st.integers(0, 3)) == 0:
        publish = created + timedelta(seconds=draw(st.integers(-86400, 9 * 86400)))
    message = Message(
        kind=draw(st.sampled_from(list(Kind))),
        audience=draw(st.sampled_from(list(Audience))),
        created_at=created,
        sender_role=draw(st.sampled_from(list(SenderRole))),
        urgent=draw(st.booleans()),
        justification=draw(st.sampled_from([None, "alerte météo"])),
        publish_to_students_at=publish,
    )
    return s, message


def outcome(s: Scheduler, message: Message, decide: object) -> object:
    try:
        return decide(s, message)  # type: ignore[operator]
    except DeconnexionError as exc:
        return type(exc), str(exc)


@EXAMPLES
@given(cases())
@example(
    (
        scheduler("C", "national"),
        Message(
            kind="message",
            audience="students",
            created_at=datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS),
        ),
    )
)
def test_decide_gives_what_the_plain_computation_gives(case: tuple[Scheduler, Message]) -> None:
    s, message = case
    fast = outcome(s, message, Scheduler.decide)
    slow = outcome(s, message, reference_decide)
    assert fast == slow
    if isinstance(fast, Decision):
        assert isinstance(slow, Decision)
        assert type(fast) is Decision
        # Same instants *and* same offsets (datetimes of one zone compare by wall time only).
        assert fast.to_dict() == slow.to_dict()
        assert fast.policy == slow.policy
        assert fast.explanation_en() == slow.explanation_en()


@EXAMPLES
@given(cases(), st.data())
def test_decide_at_gives_what_decide_gives_for_the_message_created_then(
    case: tuple[Scheduler, Message], data: st.DataObject
) -> None:
    s, like = case
    at = data.draw(created_instants(s))
    fields = {k: v for k, v in vars(like).items() if k != "created_at"}
    expected = outcome(s, Message(created_at=at, **fields), Scheduler.decide)
    found = outcome(s, like, lambda s, like: s.decide_at(at, like))
    assert found == expected
    if isinstance(found, Decision):
        assert isinstance(expected, Decision)
        assert found.to_dict() == expected.to_dict()
        assert found.policy == expected.policy


def test_decide_at_refuses_a_naive_creation_like_a_message_does() -> None:
    s = scheduler("C", "national")
    like = Message(
        kind="message", audience="parents", created_at=datetime(2025, 11, 14, tzinfo=UTC)
    )
    with pytest.raises(DeconnexionError, match="created_at: naive datetime"):
        s.decide_at(datetime(2025, 11, 14, 21), like)
    with pytest.raises(DeconnexionError, match="created_at: naive datetime"):
        Message(kind="message", audience="parents", created_at=datetime(2025, 11, 14, 21))


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(ZONES), st.data())
def test_epoch_of_a_wall_time_is_its_timestamp(zone: str, data: st.DataObject) -> None:
    w = scheduler(zone, "national").windows(Audience.STUDENTS)
    at = data.draw(st.one_of(wall_times(w.tz), wall_times(PARIS)))
    assert w.epoch(at) == at.timestamp()


@pytest.mark.parametrize(
    "at",
    [
        datetime(2025, 3, 30, 2, 30, tzinfo=PARIS),  # does not exist (spring gap)
        datetime(2025, 3, 30, 2, 30, fold=1, tzinfo=PARIS),
        datetime(2025, 10, 26, 2, 30, tzinfo=PARIS),  # happens twice (autumn fold)
        datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=PARIS),
        datetime(2025, 10, 27, 0, 0, tzinfo=PARIS),  # the day after
        datetime(2025, 10, 25, 23, 59, 59, 999_999, tzinfo=PARIS),  # the day before
        datetime(2017, 1, 1, tzinfo=PARIS),  # before the compiled range
        datetime(2040, 1, 1, tzinfo=PARIS),  # after it
        datetime(2025, 11, 3, 7, tzinfo=timezone(timedelta(hours=1))),
        datetime(2025, 11, 3, 7, 0, 0, 123_457, tzinfo=PARIS),
    ],
)
def test_epoch_on_and_around_the_offset_changes(at: datetime) -> None:
    assert scheduler("C", "national").windows().epoch(at) == at.timestamp()


@pytest.mark.parametrize("zone", (*ZONES, "Wallis-et-Futuna", "Guyane", "Martinique"))
def test_no_zone_changes_its_offset_and_back_within_one_day(zone: str) -> None:
    """The premise of `CompiledWindows.epoch`: on a day that lasts 24 h, the UTC offset is the
    same at every hour (checked over every compiled day of every zone served)."""
    w = scheduler(zone, "national").windows()
    ordinal = w.first_day.toordinal()
    for i, start in enumerate(w._day_starts):
        if i in w._offset_change_days:
            continue
        offset = datetime.fromtimestamp(start, w.tz).utcoffset()
        for hour in range(1, 24):
            at = datetime.combine(date.fromordinal(ordinal + i), time(hour), w.tz)
            assert at.utcoffset() == offset, at
