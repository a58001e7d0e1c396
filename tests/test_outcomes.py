"""`decide()`'s lookup of a plain message by the stretch of the day it was created in
(`CompiledWindows.outcome`, `deconnexion.core.outcomes`) answers what the full computation does,
at every bound of every day, on DST days and at the edges of the compiled range."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from test_decide_fast import outcome, reference_decide, scheduler

from deconnexion.core.message import Audience, Kind, Message, SenderRole
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.windows import CompiledWindows


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def probes(w: CompiledWindows, day: date) -> list[datetime]:
    """Wall times of `day` at and around each of its bounds, its midnight and its last
    microsecond, with both folds."""
    start = datetime.combine(day, time(0), w.tz)
    end = datetime.combine(day + timedelta(days=1), time(0), w.tz)
    walls = [time(0), time(23, 59, 59, 999_999), time(2, 30), time(12)]
    for b in w.bounds:
        if start.timestamp() - 7200 <= b < end.timestamp() + 7200:
            at = datetime.fromtimestamp(b, w.tz)
            for delta in (-1, 0, 1):
                walls.append((at + timedelta(microseconds=delta)).time())
    return [
        datetime.combine(day, wall.replace(fold=fold), w.tz) for wall in walls for fold in (0, 1)
    ]


# plain messages, grades (the parents' copy follows the students'), refused urgencies
MESSAGES = ((Kind.MESSAGE, False), (Kind.GRADE, False), (Kind.MESSAGE, True), (Kind.GRADE, True))


def check_day(s: Scheduler, day: date) -> None:
    for audience in Audience:
        w = s.windows(audience)
        for at in probes(w, day):
            for kind, urgent in MESSAGES:
                message = Message(
                    kind=kind,
                    audience=audience,
                    created_at=at,
                    urgent=urgent,
                    sender_role=SenderRole.TEACHER,  # urgency not honoured: held, with a reason
                )
                fast = outcome(s, message, Scheduler.decide)
                slow = outcome(s, message, reference_decide)
                assert fast == slow, at
                if not isinstance(fast, tuple):
                    assert fast.to_dict() == slow.to_dict(), at  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("zone", "first", "last"),
    [
        ("C", date(2025, 3, 24), date(2025, 4, 8)),  # spring change, then spring holidays
        ("C", date(2025, 10, 15), date(2025, 11, 12)),  # autumn change inside the holidays
        ("C", date(2025, 12, 18), date(2026, 1, 6)),  # Christmas, New Year
        ("Saint-Pierre-et-Miquelon", date(2025, 3, 5), date(2025, 3, 12)),
        ("Saint-Pierre-et-Miquelon", date(2025, 10, 29), date(2025, 11, 5)),
        ("Réunion", date(2025, 8, 10), date(2025, 8, 30)),  # its own calendar, no DST
    ],
)
def test_every_stretch_of_a_day_decides_as_the_full_computation(
    zone: str, first: date, last: date
) -> None:
    s = scheduler(zone, "national")
    for day in days(first, last):
        check_day(s, day)


@pytest.mark.parametrize("policy", ["national", "strict", "expiry", "publication"])
@pytest.mark.parametrize("zone", ["C", "Réunion", "Nouvelle-Calédonie"])
def test_the_first_and_last_compiled_days_decide_as_the_full_computation(
    zone: str, policy: str
) -> None:
    """Past the last opening (the last days are off) the full computation says why; a day
    without an official calendar under a strict policy raises as it does."""
    s = scheduler(zone, policy)
    w = s.windows()
    for day in (*days(w.first_day, w.first_day + timedelta(days=3)),
                *days(w.last_day - timedelta(days=12), w.last_day)):  # fmt: skip
        check_day(s, day)


def test_a_plain_message_is_looked_up_except_on_the_days_the_offset_changes() -> None:
    s = scheduler("C", "national")
    w = s.windows(Audience.STUDENTS)
    regular = datetime(2025, 11, 14, 21, tzinfo=w.tz)
    found = w.outcome(regular)
    assert found is not None and found.held
    assert found.release_at == datetime(2025, 11, 17, 7, tzinfo=w.tz)
    assert w.outcome(datetime(2025, 10, 26, 21, tzinfo=w.tz)) is None  # autumn change (Sunday)
    assert w.outcome(regular.astimezone(scheduler("Réunion", "national").tz)) is None
    assert w.outcome(datetime(2017, 1, 1, tzinfo=w.tz)) is None  # before the compiled range


def test_the_parents_copy_of_a_grade_follows_the_students_outcome() -> None:
    s = scheduler("C", "national")
    friday_evening = datetime(2025, 11, 14, 21, tzinfo=s.tz)
    students = s.windows(Audience.STUDENTS).outcome(friday_evening)
    assert students is not None
    parents = s._after_delay(students)
    assert parents is not None and parents is s._after_delay(students)  # kept
    assert parents.release_at == datetime(2025, 11, 18, 7, tzinfo=s.tz)  # Monday 7:00 + 24 h
