"""Local midnights of a zone's days, and the days its UTC offset changes: the clock the
compiled windows (`deconnexion.core.windows`) read an instant's local day and epoch from."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from deconnexion.core.caches import CACHES

__all__ = ["at_wall_time", "local_midnights", "offset_change_days"]


def at_wall_time(midnight: float, wall: time) -> float:
    """The epoch of the wall-clock time `wall` on the day whose local midnight is `midnight`,
    on a day of one UTC offset: `datetime.combine(day, wall, tz).timestamp()` exactly (integer
    seconds, then one correctly rounded division for microseconds, as `CompiledWindows.epoch`;
    measured: compiling an establishment's windows 7 times faster than asking the zone)."""
    seconds = midnight + (wall.hour * 3600 + wall.minute * 60 + wall.second)
    if wall.microsecond:
        return (seconds * 1e6 + wall.microsecond) / 1e6
    return seconds


@CACHES.memoize("calendar pieces")
def local_midnights(tz: ZoneInfo, first: int, end: int) -> tuple[list[float], frozenset[int]]:
    """The epoch of local midnight in `tz` of each day from ordinal `first` to `end`
    (exclusive), and the indices of the days whose UTC offset changes (`offset_change_days`).
    One list per zone and range, shared by its compiled windows (never changed after)."""
    starts = [
        datetime.combine(date.fromordinal(o), time(0), tz).timestamp() for o in range(first, end)
    ]
    cover_end = datetime.combine(date.fromordinal(end), time(0), tz).timestamp()
    return starts, offset_change_days(starts, cover_end)


def offset_change_days(day_starts: list[float], end: float) -> frozenset[int]:
    """Indices of the days (in `day_starts`, local midnights) that do not last exactly 24 h: the
    days the UTC offset changes (DST), where `CompiledWindows.epoch` asks the zone instead.

    Every other day has one offset from midnight to midnight, given that no zone changes its
    offset twice within one day and back (true of every zone deconnexion serves, over every
    compiled year: tests/test_epoch.py checks it hour by hour). Days that cannot be counted in
    exact float microseconds (beyond the years 1685–2255) are flagged too.
    """
    ends = [*day_starts[1:], end]
    return frozenset(
        i
        for i, (a, b) in enumerate(zip(day_starts, ends, strict=True))
        if b - a != 86400 or max(abs(a), abs(b)) * 1e6 >= 2**53
    )
