"""An independent oracle: the official CSV read with `csv` and `zoneinfo`, against the scheduler.

Nothing of the package's calendar code is used here: the rows are read again, the dataset's own
definition applied again (« Le départ en vacances a lieu après la classe des jours indiqués. La
reprise des cours s'effectue le matin des jours indiqués. »), and every day each of the 13
calendars describes is probed at 06:59, 07:00, 10:00, 19:59 and 20:00 local time, for students
and for staff. Public holidays come from the `holidays` package, weekends are Saturday and
Sunday, open hours 07:00–20:00 (the national policy).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest

from deconnexion.core.message import Audience
from deconnexion.core.scheduler import Scheduler

CSV = Path(__file__).parent.parent / "deconnexion" / "data" / "fr-en-calendrier-scolaire.csv"
PARIS = ZoneInfo("Europe/Paris")
FIRST = date(2018, 9, 1)  # the compiled horizon starts in 2018
PROBES = (time(6, 59), time(7, 0), time(10, 0), time(19, 59), time(20, 0))

# dataset zone → (a name the package resolves, IANA zone, holidays subdivision)
ZONES = {
    "Zone A": ("A", "Europe/Paris", None),
    "Zone B": ("B", "Europe/Paris", None),
    "Zone C": ("C", "Europe/Paris", None),
    "Corse": ("Corse", "Europe/Paris", None),
    "Guadeloupe": ("Guadeloupe", "America/Guadeloupe", "971"),
    "Martinique": ("Martinique", "America/Martinique", "972"),
    "Guyane": ("Guyane", "America/Cayenne", "973"),
    "Réunion": ("Réunion", "Indian/Reunion", "974"),
    "Mayotte": ("Mayotte", "Indian/Mayotte", "976"),
    "Nouvelle Calédonie": ("Nouvelle-Calédonie", "Pacific/Noumea", "NC"),
    "Polynésie": ("Polynésie", "Pacific/Tahiti", "PF"),
    "Saint Pierre et Miquelon": ("Saint-Pierre-et-Miquelon", "America/Miquelon", "PM"),
    "Wallis et Futuna": ("Wallis-et-Futuna", "Pacific/Wallis", "WF"),
}


def _paris_day(stamp: str) -> date:
    return datetime.fromisoformat(stamp).astimezone(PARIS).date()


def _applies(population: str, audience: Audience, zone: str) -> bool:
    text = population.lower()
    if zone == "Guadeloupe" and any(p in text for p in ("guadeloupe", "martin", "barth")):
        # Rows of the académie's places: the Guadeloupe calendar keeps those naming Guadeloupe.
        return "guadeloupe" in text
    if text.startswith("élèves"):
        return audience is not Audience.STAFF
    if text.startswith("enseignants"):
        return audience is Audience.STAFF
    return True  # "-", and level variants (a zone-wide establishment: every level applies)


def _days_off(start: date, end: date) -> Iterator[date]:
    if end <= start + timedelta(days=1):  # single-day rows: that day
        yield start
        return
    last = end if end.weekday() == 6 else end - timedelta(days=1)  # a Sunday end is off
    day = start + timedelta(days=1)  # the start date is the last day of classes
    while day <= last:
        yield day
        day += timedelta(days=1)


@cache
def oracle(zone: str, audience: Audience) -> tuple[frozenset[date], date]:
    """Days off of `zone` for `audience`, and the first day the dataset no longer describes."""
    off: set[date] = set()
    starts_left_open: dict[str, list[date]] = {}
    last_end = date.min
    last_year = ""
    with CSV.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f, delimiter=";"):
            if row["zones"] != zone:
                continue
            start, end = _paris_day(row["start_date"]), _paris_day(row["end_date"])
            last_year = max(last_year, row["annee_scolaire"])
            if start == end and row["description"].lower().startswith("début"):
                starts_left_open.setdefault(row["annee_scolaire"], []).append(start)
                continue
            last_end = max(last_end, end)
            if _applies(row["population"], audience, zone):
                off.update(_days_off(start, end))
    open_starts = starts_left_open.get(last_year)
    until = min(open_starts) + timedelta(days=1) if open_starts else last_end + timedelta(days=1)
    return frozenset(off), until


@cache
def scheduler(zone: str) -> Scheduler:
    return Scheduler(zone=ZONES[zone][0])


@cache
def public_holidays(zone: str) -> frozenset[date]:
    years = range(FIRST.year, 2029)
    return frozenset(holidays.country_holidays("FR", subdiv=ZONES[zone][2], years=years))


def expected_open(zone: str, audience: Audience, moment: datetime) -> bool:
    off, _ = oracle(zone, audience)
    day = moment.date()
    if day.weekday() >= 5 or day in public_holidays(zone) or day in off:
        return False
    return time(7, 0) <= moment.time() < time(20, 0)


@pytest.mark.parametrize("audience", [Audience.STUDENTS, Audience.STAFF])
@pytest.mark.parametrize("zone", sorted(ZONES))
def test_scheduler_agrees_with_an_independent_reading_of_the_dataset(
    zone: str, audience: Audience
) -> None:
    s = scheduler(zone)
    tz = ZoneInfo(ZONES[zone][1])
    assert s.establishment.timezone == ZONES[zone][1]
    _, until = oracle(zone, audience)
    disagreements = []
    probed = 0
    day = FIRST
    while day < until:
        for probe in PROBES:
            moment = datetime.combine(day, probe, tz)
            probed += 1
            if s.is_quiet(moment, audience) == expected_open(zone, audience, moment):
                disagreements.append(f"{moment.isoformat()} {day:%a}")
        day += timedelta(days=1)
    assert probed > 5 * 365 * 5  # at least five school years of every calendar
    assert disagreements == [], f"{len(disagreements)} disagreements: {disagreements[:20]}"
