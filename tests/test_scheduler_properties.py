"""Invariants of the scheduler, over zones (overseas included), audiences, kinds and instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise

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
