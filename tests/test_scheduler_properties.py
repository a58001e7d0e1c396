"""Invariants of the scheduler, over zones (overseas included), audiences, kinds and instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from deconnexion.core.message import Audience, Kind, Message, SenderRole
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment

ZONES = ("A", "B", "C", "Corse", "Guadeloupe", "Réunion", "Mayotte", "Nouvelle-Calédonie")
# Three school years of official data plus projected/estimated ones, clear of the range ends.
FIRST = datetime(2024, 8, 1, tzinfo=UTC).timestamp()
LAST = datetime(2030, 6, 1, tzinfo=UTC).timestamp()
EXAMPLES = settings(max_examples=200, deadline=None)


@cache
def scheduler(zone: str) -> Scheduler:
    return Scheduler(Policy.national(), Establishment(zone=zone))


zones = st.sampled_from(ZONES)
audiences = st.sampled_from(list(Audience))
# Whole milliseconds: datetime holds microseconds, so arbitrary floats would be rounded on the
# way in and could cross a boundary (…399.9999998 becomes …400.0, a closing instant).
epochs = st.integers(int(FIRST * 1000), int(LAST * 1000)).map(lambda ms: ms / 1000)


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """An aware instant, often exactly on a quarter hour (where the boundaries are)."""
    epoch = draw(epochs)
    if draw(st.booleans()):
        epoch -= epoch % 900
    return datetime.fromtimestamp(epoch, UTC)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    return Message(
        kind=draw(st.sampled_from(list(Kind))),
        audience=draw(audiences),
        created_at=draw(instants()),
        sender_role=draw(st.sampled_from(list(SenderRole))),
        urgent=draw(st.booleans()),
        justification=draw(st.sampled_from([None, "", "alerte météo"])),
    )


@EXAMPLES
@given(zones, messages())
def test_a_release_is_never_inside_a_quiet_window(zone: str, message: Message) -> None:
    s = scheduler(zone)
    d = s.decide(message)
    if "urgent_override" not in d.codes:
        assert not s.is_quiet(d.release_at, audience=message.audience)


@EXAMPLES
@given(zones, messages())
def test_a_release_is_never_before_creation(zone: str, message: Message) -> None:
    d = scheduler(zone).decide(message)
    assert d.release_at >= message.created_at
    assert d.held is (d.release_at > message.created_at)
    assert str(d.release_at.tzinfo) == scheduler(zone).establishment.timezone


@EXAMPLES
@given(zones, messages())
def test_deciding_again_at_the_release_instant_is_not_held(zone: str, message: Message) -> None:
    s = scheduler(zone)
    d = s.decide(message)
    again = s.decide(message.model_copy(update={"created_at": d.release_at}))
    if "urgent_override" in again.codes:
        assert not again.held
    elif message.kind is Kind.GRADE and message.audience is Audience.PARENTS:
        # A grade created then still waits its delay after the students' release.
        assert again.held
    else:
        assert not again.held
        assert again.release_at == d.release_at


@EXAMPLES
@given(zones, audiences, st.sampled_from(list(Kind)), instants(), st.floats(0, 40 * 86400))
def test_later_creation_never_gives_an_earlier_release(
    zone: str, audience: Audience, kind: Kind, created: datetime, later_by: float
) -> None:
    s = scheduler(zone)
    first = s.decide(Message(kind=kind, audience=audience, created_at=created))
    later = created + timedelta(seconds=later_by)
    second = s.decide(Message(kind=kind, audience=audience, created_at=later))
    assert second.release_at >= first.release_at


@EXAMPLES
@given(zones, instants())
def test_parents_get_a_grade_at_least_24h_after_students(zone: str, created: datetime) -> None:
    s = scheduler(zone)
    parents = s.decide(Message(kind=Kind.GRADE, audience=Audience.PARENTS, created_at=created))
    students = s.decide(Message(kind=Kind.GRADE, audience=Audience.STUDENTS, created_at=created))
    assert parents.students_release_at == students.release_at
    assert students.release_at is not None
    assert parents.release_at.timestamp() - students.release_at.timestamp() >= 24 * 3600
    assert not s.is_quiet(parents.release_at, audience=Audience.PARENTS)


@EXAMPLES
@given(zones, audiences, instants())
def test_next_open_is_idempotent_and_open(zone: str, audience: Audience, t: datetime) -> None:
    s = scheduler(zone)
    opened = s.next_open(t, audience=audience)
    assert opened >= t
    assert s.next_open(opened, audience=audience) == opened
    assert not s.is_quiet(opened, audience=audience)
    assert s.is_quiet(t, audience=audience) is (opened > t)


@EXAMPLES
@given(zones, audiences, st.lists(epochs, max_size=50))
def test_next_open_many_matches_next_open(
    zone: str, audience: Audience, batch: list[float]
) -> None:
    s = scheduler(zone)
    expected = [
        s.next_open(datetime.fromtimestamp(e, UTC), audience=audience).timestamp() for e in batch
    ]
    assert s.next_open_many(batch, audience=audience) == expected


@EXAMPLES
@given(zones, audiences, instants(), st.floats(3600, 21 * 86400))
def test_quiet_windows_are_exactly_the_quiet_moments(
    zone: str, audience: Audience, start: datetime, length: float
) -> None:
    s = scheduler(zone)
    end = start + timedelta(seconds=length)
    windows = s.quiet_windows(start, end, audience=audience)
    # Compared as instants: two datetimes of one zone compare by wall time, fold ignored, so
    # the 02:00 before and after the autumn change would compare equal.
    for w in windows:
        assert start.timestamp() <= w.start.timestamp() < w.end.timestamp() <= end.timestamp()
        assert w.reasons
        assert s.is_quiet(w.start, audience=audience)
        if w.end < end:
            assert not s.is_quiet(w.end, audience=audience)
    for a, b in pairwise(windows):
        assert a.end.timestamp() < b.start.timestamp()


def _but_the_creation(decision_text: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in decision_text.items() if k != "created_at"}


@EXAMPLES
@given(
    zones,
    audiences,
    st.sampled_from([Kind.MESSAGE, Kind.GRADE]),
    epochs,
    st.integers(0, 20 * 86400),
    st.sampled_from([timedelta(0), timedelta(hours=1), timedelta(hours=-5)]),
)
def test_messages_decided_alike_in_one_span_get_the_same_decision_but_their_creation(
    zone, audience, kind, epoch, later, offset
):
    # cli/lean.py shares one answer among the days of a span that `decided_alike` reads alike.
    sched = scheduler(zone)
    by_span = sched.decided_by_span(kind, audience)
    if by_span is None:
        return
    windows = by_span[0]
    first = datetime.fromtimestamp(epoch, UTC).astimezone(timezone(offset))
    second = first + timedelta(seconds=later)
    where = windows.span(first.timestamp()), windows.span(second.timestamp())
    if where[0] is None or where[1] is None or where[0][0] != where[1][0]:
        return
    alike = [sched.decided_alike(kind, audience, *at) for at in where]
    if first.year != second.year or alike[0] is None or alike[0] != alike[1]:
        return
    one, two = (
        sched.decide(Message(created_at=at, kind=kind, audience=audience)) for at in (first, second)
    )
    assert one.held and two.held
    assert _but_the_creation(one.to_dict()) == _but_the_creation(two.to_dict())


def test_a_weekend_and_a_night_are_each_decided_alike_across_midnights():
    sched = scheduler("C")
    windows = sched.windows(Audience.PARENTS)
    friday = datetime(2025, 11, 14, 20, 0, tzinfo=ZoneInfo("Europe/Paris"))  # term time

    def alike(*hours: int) -> set[object]:
        spans = (windows.span((friday + timedelta(hours=h)).timestamp()) for h in hours)
        return {sched.decided_alike(Kind.MESSAGE, Audience.PARENTS, *s) for s in spans if s}

    weekend = alike(0, 15, 39)  # Friday 20 h, Saturday and Sunday 11 h: the weekend's reasons
    night = alike(97, 105)  # Tuesday 21 h, Wednesday 5 h
    assert len(weekend) == 1 and None not in weekend
    assert len(night) == 1 and None not in night
    # Monday 6 h: the same span as the weekend, but a night's reason
    assert weekend != alike(58)
    assert alike(62) == {None}  # open on Monday at 10 h
    grade = windows.span(friday.timestamp())
    assert grade is not None
    assert sched.decided_alike(Kind.GRADE, Audience.PARENTS, *grade) is None
