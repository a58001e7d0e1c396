"""A `release --stdin` line read by its bytes: its *shape* (the line but the 25 characters of its
`created` instant) and the span of that instant read from its text, with neither a JSON parse
nor a datetime (cli/lean.py, `LeanRelease`).

A shape is remembered for a template only when its slot is proven to be the line's creation:
the line and the same bytes with another instant in the slot both parse (`from_json`) to the
template's fields and their own instant (`shape_proven`). An instant of the canonical form
(`2025-11-03T07:00:00+01:00`: digits, `-`, `:`, `T`, `+`) holds no character that could change
how the rest of the line parses, so every line of that shape with a canonical instant in the
slot is that template's line with that instant.

The instant is then read from its text: a local day whose UTC offset is the same from midnight
to midnight is cut by the wall-clock times (`HH:MM:SS`, compared as text) of the bounds of the
compiled windows that fall in it (`DaySpans`), so an instant written in that day's offset is in
the span its wall time falls in, the one `CompiledWindows.span` finds from its epoch.

What it buys (benchmarks/cli_batch.py, CPU time): see `LeanRelease`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from datetime import date, datetime, time, tzinfo
from typing import Any, NamedTuple

from pydantic_core import from_json

from deconnexion.core.caches import CACHES
from deconnexion.core.windows import CompiledWindows

__all__ = [
    "ISO_LENGTH",
    "DaySpans",
    "SpanKey",
    "created_slot",
    "creation_day",
    "day_offset",
    "day_spans",
    "shape_proven",
]

ISO_LENGTH = 25  # len("2025-11-03T07:00:00+01:00"), the canonical form without fractions
_KEY = b'"created":'
_QUOTE = ord('"')
_ZERO = ord("0")
# Two canonical instants: the slot is proven by one that differs from the line's own.
_PROBES = ("2000-01-01T00:00:00+00:00", "2001-02-03T04:05:06+07:00")

_WALL = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]").fullmatch

SpanKey = tuple[int, int, int]  # (span, local day, year): cli/lean.py's remembered answers


def created_slot(line: bytes) -> int:
    """Where the 25 characters of the string after the first `"created":` (or `"created": `)
    begin in `line`, or -1 when there is no such string of that length."""
    at = line.find(_KEY)
    if at < 0:
        return -1
    at += len(_KEY)
    if line[at : at + 1] == b" ":
        at += 1
    end = at + 1 + ISO_LENGTH
    if len(line) <= end or line[at] != _QUOTE or line[end] != _QUOTE:
        return -1
    return at + 1


def creation_day(line: bytes) -> int:
    """The day of the month of the line's canonical creation (`created_slot`), 0 when it has
    none: `release --stdin` routes the lines of one date to one worker (cli/parallel.py), which
    then alone learns the answers of that date's spans (cli/lean.py)."""
    slot = created_slot(line)
    if slot < 0:
        return 0
    return (line[slot + 8] - _ZERO) * 10 + line[slot + 9] - _ZERO


def shape_proven(line: bytes, slot: int, created: str, fields: dict[str, Any]) -> bool:
    """Whether the slot of `line` is its creation: `line` parsed to `fields` (without
    `created`) and `created`, and the same bytes with another canonical instant in the slot
    parse to the same fields (in the same order) and that instant."""
    if line[slot : slot + ISO_LENGTH].decode("latin-1") != created:
        return False
    probe = _PROBES[0] if created != _PROBES[0] else _PROBES[1]
    try:
        other = from_json(line[:slot] + probe.encode() + line[slot + ISO_LENGTH :])
    except ValueError:
        return False
    if type(other) is not dict or other.pop("created", None) != probe:
        return False
    return list(other.items()) == list(fields.items())


@CACHES.memoize("calendar pieces")
def day_offset(ordinal: int, tz: tzinfo) -> str | None:
    """The UTC offset of `tz` on the local day `ordinal` as `isoformat()` writes it, when it is
    the same from midnight to midnight (no zone changes twice within a day and back) and in
    whole minutes."""
    day = date.fromordinal(ordinal)
    first = datetime.combine(day, time(0), tz).utcoffset()
    last = datetime.combine(day, time(23, 59, 59, 999999), tz).utcoffset()
    if first is None or first != last or first.seconds % 60:
        return None
    return datetime.combine(day, time(12), tz).isoformat()[-6:]


class DaySpans(NamedTuple):
    """The instants written on one date in one UTC offset (`2025-11-03T…+01:00`), as compiled
    windows see them: `keys[bisect_right(walls, "HH:MM:SS")]` is the (`span`, local day, year)
    of such an instant; `quiet_keys` the same with None for the open spans."""

    walls: tuple[str, ...]  # "HH:MM:SS" of each cut (a bound, a local midnight), ascending
    keys: tuple[SpanKey | None, ...]  # one more than `walls`
    quiet_keys: tuple[SpanKey | None, ...]

    def key(self, text: str, open_spans: bool) -> SpanKey | None:
        """The key of `text`, a canonical instant of this date and offset; None when its time
        is not a time (`25:00:00`), or it is open and `open_spans` is false (an open span that
        does not decide: `Scheduler.decided_by_span`)."""
        if text[10] != "T" or _WALL(text, 11, 19) is None:
            return None
        return (self.keys if open_spans else self.quiet_keys)[bisect_right(self.walls, text[11:19])]


_OFFSET = re.compile(r"[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]").fullmatch
_UNIX_DAY = date(1970, 1, 1).toordinal()


def day_spans(windows: CompiledWindows, written: str) -> DaySpans | None:
    """The `DaySpans` of `written`, a date and an offset as a canonical instant writes them
    (`2025-11-03+01:00`: `date.isoformat()`, then the offset as `datetime.isoformat()` writes
    it); None when they are not so written, or when a second of that date is outside the
    compiled range or past its last opening.

    The cuts are the bounds of `windows` and the zone's local midnights within the date's 24
    hours in that offset: `CompiledWindows.span` counts the bounds at or before an instant and
    its local day the midnights, so each cut adds one to either; a cut that is not a whole
    second after the date's midnight (a bound of fractional open hours) gives None.
    """
    date_text, offset_text = written[:10], written[10:]
    if _OFFSET(offset_text) is None or offset_text == "-00:00":
        return None
    try:
        day = date.fromisoformat(date_text)
    except ValueError:
        return None
    if day.isoformat() != date_text:
        return None
    offset = int(offset_text[1:3]) * 3600 + int(offset_text[4:6]) * 60
    # the epoch of that date's midnight in that offset, in exact integer seconds
    epoch = float(
        (day.toordinal() - _UNIX_DAY) * 86400 - (offset if offset_text[0] == "+" else -offset)
    )
    first, last = windows.span(epoch), windows.span(epoch + 86399)
    if first is None or last is None:
        return None
    cuts = [(bound, 1, 0) for bound in windows.bounds[first[0] : last[0]]]
    cuts += [(windows.day_start(d), 0, 1) for d in range(first[1] + 1, last[1] + 1)]
    cuts.sort()
    span, ordinal = first
    walls: list[str] = []
    keys: list[SpanKey] = [(span, ordinal, day.year)]
    for cut, bounds, midnights in cuts:
        wall = cut - epoch
        if wall != int(wall):
            return None
        span += bounds
        ordinal += midnights
        hours, rest = divmod(int(wall), 3600)
        text = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        if walls and walls[-1] == text:  # a bound at a local midnight: one cut
            keys[-1] = (span, ordinal, day.year)
        else:
            walls.append(text)
            keys.append((span, ordinal, day.year))
    quiet = tuple(None if key[0] & 1 else key for key in keys)
    return DaySpans(tuple(walls), tuple(keys), quiet)
