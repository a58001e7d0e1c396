"""Regenerate the golden files of the test suite.

    python tests/golden/regenerate.py

`holidays_vs_snapshot.json`: every day on which the `holidays` package's school calendar
(category `school`, subdivisions "Zone A" … "Zone C") and the ministry's snapshot
(`fr-en-calendrier-scolaire.csv`, students' calendar) disagree, over every school year both
cover. The snapshot is the reference (docs/RULES.md §4); each disagreement is a finding to
report, and `tests/test_calendar_crosscheck.py` fails when the set changes.

Both are read as the dataset defines them: `start_date` is the last day of classes, the days off
are those strictly before `end_date` (`Period.start`/`Period.end`). `holidays` counts a weekend
`start_date` (the mainland's Saturdays) as a day off, where the snapshot counts it as the last
day of classes; neither reading changes a quiet window (a Saturday is a weekend day), so those
dates are listed apart, under `weekend_start_dates`, not as disagreements.
"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import holidays

from deconnexion.core.calendar_data import SchoolCalendar, packaged_calendar_path

HERE = Path(__file__).resolve().parent
CROSSCHECK = HERE / "holidays_vs_snapshot.json"
ZONES = ("Zone A", "Zone B", "Zone C")
STUDENTS = ("-", "Élèves")


def school_year(day: date) -> str:
    start = day.year if day.month >= 9 else day.year - 1
    return f"{start}-{start + 1}"


def _weekend_start_dates(calendar: SchoolCalendar, zone: str) -> set[date]:
    return {
        p.start_date
        for p in calendar.periods_of(zone)
        if p.population in STUDENTS and p.start_date < p.start and p.start_date.weekday() >= 5
    }


def _snapshot_days(calendar: SchoolCalendar, zone: str) -> dict[date, tuple[str, str]]:
    days: dict[date, tuple[str, str]] = {}
    for p in calendar.periods_of(zone):
        if p.open_ended or p.population not in STUDENTS:
            continue
        for ordinal in range(p.start.toordinal(), p.end.toordinal()):
            days[date.fromordinal(ordinal)] = (p.description, p.school_year)
    return days


def crosscheck(calendar: SchoolCalendar | None = None) -> dict[str, Any]:
    """Days off in only one of the two sources, grouped in runs, per zone."""
    calendar = calendar or SchoolCalendar.from_csv(packaged_calendar_path())
    compared: dict[str, dict[str, str]] = {}
    runs: list[dict[str, Any]] = []
    weekend_starts: dict[str, list[str]] = {}
    for zone in ZONES:
        known_from, known_until = calendar.known_from(zone), calendar.known_until(zone)
        if known_from is None or known_until is None:
            continue
        years = range(known_from.year, known_until.year + 1)
        package = holidays.country_holidays(
            "FR", subdiv=zone, categories=("school",), years=years, language="fr"
        )
        public = holidays.country_holidays("FR", years=years)
        official = _snapshot_days(calendar, zone)
        starts = _weekend_start_dates(calendar, zone)
        weekend_starts[zone] = []
        first = max(known_from, min(package))
        compared[zone] = {
            "from": first.isoformat(),
            "until": (known_until - timedelta(1)).isoformat(),
        }
        day = first
        while day < known_until:
            if day in starts and day in package and day not in official:
                weekend_starts[zone].append(day.isoformat())
            elif (day in official) != (day in package):
                only_in = "snapshot" if day in official else "holidays"
                label, year = official[day] if day in official else (package[day], school_year(day))
                key = (zone, year, only_in, label)
                last = runs[-1] if runs else None
                if (
                    last is not None
                    and last["_key"] == key
                    and date.fromisoformat(last["last"]) == day - timedelta(days=1)
                ):
                    last["last"] = day.isoformat()
                    last["days"] += 1
                else:
                    last = {
                        "_key": key,
                        "zone": zone,
                        "school_year": year,
                        "only_in": only_in,
                        "label": label,
                        "first": day.isoformat(),
                        "last": day.isoformat(),
                        "days": 1,
                        "school_days": [],
                    }
                    runs.append(last)
                if day.weekday() < 5 and day not in public:
                    # A weekday that is not a public holiday: the sources disagree on whether
                    # diffusion is open there (weekends and jours fériés are quiet either way).
                    last["school_days"].append(f"{day.isoformat()} {day.strftime('%a')}")
            day += timedelta(days=1)
    for run in runs:
        del run["_key"]
    return {
        "reference": "fr-en-calendrier-scolaire.csv (students: population '-' or 'Élèves')",
        "compared_with": f"holidays {version('holidays')}, France, categories=('school',)",
        "compared": compared,
        "disagreements": runs,
        "weekend_start_dates": weekend_starts,
    }


def main() -> int:
    CROSSCHECK.write_text(
        json.dumps(crosscheck(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {CROSSCHECK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
