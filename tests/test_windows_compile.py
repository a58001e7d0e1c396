"""`CompiledWindows` computes the bounds of a day of one UTC offset from its local midnight
(`_at`): they are exactly the bounds the zone itself gives, on every compiled day of every zone
served, DST days and odd open hours included."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from deconnexion.core.calendar import build_days
from deconnexion.core.policy import OpenHours, Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.core.windows import CompiledWindows

PLACES = [
    {"zone": "C"},
    {"zone": "Réunion"},
    {"zone": "Guadeloupe"},
    {"departement": "973"},
    {"departement": "976"},
    {"zone": "Wallis-et-Futuna"},
]
HOURS = [
    OpenHours(),
    OpenHours(start=time(0, 0), end=time(23, 59, 59, 999_999)),
    OpenHours(start=time(2, 30), end=time(3, 0, 0, 1)),  # inside the spring gap in Paris
    OpenHours(start=time(6, 59, 59, 500_000), end=time(19, 0, 0, 250_000)),
]


def zone_bounds(sheet_windows: CompiledWindows, hours: OpenHours) -> list[float]:
    """The bounds as the zone gives them: one tz-aware `timestamp()` per opening and close."""
    w = sheet_windows
    out: list[float] = []
    for ordinal in range(w.first_day.toordinal(), w.last_day.toordinal() + 1):
        if ordinal in w.days_off:
            continue
        day = date.fromordinal(ordinal)
        opens = datetime.combine(day, hours.start, w.tz).timestamp()
        closes = datetime.combine(day, hours.end, w.tz).timestamp()
        if out and out[-1] == opens:
            out[-1] = closes
        else:
            out += [opens, closes]
    return out


@pytest.mark.parametrize("hours", HOURS, ids=lambda h: h.label())
@pytest.mark.parametrize("where", PLACES, ids=lambda w: next(iter(w.values())))
def test_compiled_bounds_are_the_zones_own(where: dict[str, str], hours: OpenHours) -> None:
    establishment = Establishment(**where)
    sched = Scheduler(Policy.national(), establishment)
    loc = establishment.location
    sheet = build_days(
        calendar=sched.calendar,
        calendar_zone=loc.calendar_zone,
        calendar_place=loc.calendar_place,
        school_subdiv=loc.school_subdiv,
        public_subdiv=loc.public_subdiv,
        population="students",
        level=establishment.level,
        weekend_days=frozenset({5, 6}),
        school_holidays=True,
        public_holidays=True,
        closures=(),
    )
    w = CompiledWindows(sheet, hours, sched.tz)
    assert w.bounds == zone_bounds(w, hours)
