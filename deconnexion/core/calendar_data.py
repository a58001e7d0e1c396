"""The ministry's "Calendrier scolaire" dataset: read, check, de-duplicate, import.

Source: data.education.gouv.fr, dataset `fr-en-calendrier-scolaire` (Licence Ouverte / Etalab).
A snapshot taken 2025-12-19 ships as package data; `deconnexion calendar import FILE.csv`
installs a newer export, which then takes precedence (see `active_calendar_path`).

Quirks handled here (documented with the snapshot):
- one row per académie per period: rows are de-duplicated;
- timestamps are midnight Europe/Paris written in UTC, for the overseas zones too, so dates are
  read in Europe/Paris;
- the dataset's own definition: « Le départ en vacances a lieu après la classe des jours
  indiqués. La reprise des cours s'effectue le matin des jours indiqués. » `start_date` is the
  last day of classes (a school day), `end_date` the morning classes resume; the days off are
  those strictly between. `period_days` is the one place that reading is written down, with its
  exceptions (single-day rows, `Début des Vacances …`, Sunday ends). See docs/RULES.md §4.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

from deconnexion.core.caches import CACHES
from deconnexion.core.timeutil import zone
from deconnexion.errors import CalendarFileError

__all__ = [
    "HEADER",
    "Period",
    "SchoolCalendar",
    "active_calendar_path",
    "import_calendar",
    "packaged_calendar_path",
    "period_days",
]

HEADER = (
    "description",
    "population",
    "start_date",
    "end_date",
    "location",
    "zones",
    "annee_scolaire",
)
_PARIS = zone("Europe/Paris")
ENV_FILE = "DECONNEXION_CALENDAR"  # path of a calendar CSV to use instead of the snapshot
ENV_DIR = "DECONNEXION_DATA_DIR"  # where `calendar import` installs a newer export
IMPORTED_NAME = "fr-en-calendrier-scolaire.csv"


@dataclass(frozen=True, slots=True)
class Period:
    """A school-holiday period of one zone: its days off, and its dates as published.

    `start`/`end` are the days off, `[start, end)`, computed once by `period_days`; every
    consumer (windows, labels, provenance, the estimate of unpublished years) reads those.
    `start_date`/`end_date` are the row's own dates (Europe/Paris), kept for display.
    """

    zone: str  # the `zones` column: "Zone A", "Corse", "Réunion", …
    description: str
    population: str
    start: date  # first day off
    end: date  # first day that is not off (exclusive): classes resume that morning
    # The académie of the first row read: rows repeat per académie with the same dates, so the
    # location is left out of equality, which is what lets `SchoolCalendar` de-duplicate them.
    location: str = field(compare=False)
    school_year: str
    start_date: date  # as published: the last day of classes (single-day rows: the day off)
    end_date: date  # as published: the morning classes resume
    open_ended: bool = False  # "Début des Vacances …": the end is not yet published


def period_days(description: str, start_date: date, end_date: date) -> tuple[date, date, bool]:
    """The days off `[first, end)` of one row, and whether its end is still unpublished.

    « Le départ en vacances a lieu après la classe des jours indiqués. La reprise des cours
    s'effectue le matin des jours indiqués. » (the dataset's definition). So:
    - a period: `start_date` is the last day of classes, a school day; the days strictly after
      it and strictly before `end_date` are off;
    - `Début des Vacances …` with `start_date == end_date`: departure after class that day,
      the end not yet published: nothing off is known, the day after is unpublished;
    - other single-day rows, `start_date == end_date` (a jour férié, a journée banalisée,
      Mi-carême) or `end_date == start_date + 1` (Guadeloupe's Friday → Saturday « Semaine en
      mai » rows): that one day is off;
    - an `end_date` on a Sunday (Nouvelle Calédonie and Wallis et Futuna's « Vacances Nème
      période »): classes never resume on a Sunday, that Sunday is the last day off.
    """
    one_day = timedelta(days=1)
    if start_date == end_date:
        if description.strip().lower().startswith("début"):
            return start_date + one_day, start_date + one_day, True
        return start_date, start_date + one_day, False
    if end_date == start_date + one_day:
        return start_date, end_date, False
    if end_date.weekday() == 6:  # Sunday
        return start_date + one_day, end_date + one_day, False
    return start_date + one_day, end_date, False


class SchoolCalendar:
    """Every period of the dataset, de-duplicated and indexed by zone."""

    def __init__(self, periods: Iterable[Period], source: str) -> None:
        # dict.fromkeys keeps the first of equal rows (file order), so the result and its
        # digest do not depend on string hashing; the sort key is total for the same reason.
        unique = sorted(
            dict.fromkeys(periods),
            key=lambda p: (p.zone, p.start, p.end, p.description, p.population, p.school_year),
        )
        self.source = source
        self.periods: tuple[Period, ...] = tuple(unique)
        by_zone: dict[str, list[Period]] = {}
        for p in unique:
            by_zone.setdefault(p.zone, []).append(p)
        self._by_zone = {z: tuple(ps) for z, ps in by_zone.items()}
        self.digest = hashlib.sha256(
            "\n".join(repr(p) for p in unique).encode("utf-8")
        ).hexdigest()[:16]

    def zones(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_zone))

    def periods_of(self, zone_name: str) -> tuple[Period, ...]:
        return self._by_zone.get(zone_name, ())

    def known_until(self, zone_name: str) -> date | None:
        """First day the dataset no longer describes for `zone_name` (None: zone absent).

        That is the day after an open-ended `Début des Vacances …` row if the last year has one
        (its own day is a published school day), else the day after the latest end: the end is
        the day classes resume, which the dataset does describe (so a message held until that
        morning is decided on official data).
        """
        periods = self._by_zone.get(zone_name)
        if not periods:
            return None
        last_year = max(p.school_year for p in periods)
        open_starts = [p.start for p in periods if p.open_ended and p.school_year == last_year]
        ends = [p.end for p in periods if not p.open_ended]
        if open_starts:
            return min(open_starts)
        return max(ends) + timedelta(days=1)

    def known_from(self, zone_name: str) -> date | None:
        """First day the dataset describes for `zone_name`: its earliest published date."""
        periods = self._by_zone.get(zone_name)
        return min(p.start_date for p in periods) if periods else None

    def school_years(self, zone_name: str) -> tuple[str, ...]:
        return tuple(sorted({p.school_year for p in self._by_zone.get(zone_name, ())}))

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def from_csv(cls, path: str | Path) -> SchoolCalendar:
        p = Path(path)
        try:
            text = p.read_bytes().decode("utf-8-sig")
        except OSError as exc:
            raise CalendarFileError(
                f"calendar file {str(p)!r}: cannot read it ({exc.strerror})"
            ) from None
        except UnicodeDecodeError:
            raise CalendarFileError(
                f"calendar file {str(p)!r}: not UTF-8 text; expected the CSV export of the "
                "dataset fr-en-calendrier-scolaire"
            ) from None
        return cls(parse_rows(text, str(p)), source=str(p))

    @classmethod
    def default(cls) -> SchoolCalendar:
        """The active calendar: $DECONNEXION_CALENDAR, else an imported export, else snapshot."""
        return _load_cached(str(active_calendar_path()))


@CACHES.memoize("calendar files")
def _load_cached(path: str) -> SchoolCalendar:
    return SchoolCalendar.from_csv(path)


def parse_rows(text: str, source: str) -> list[Period]:
    """Parse the CSV export; every error names the line, the column and the value."""
    reader = csv.reader(io.StringIO(text), delimiter=";")
    try:
        header = next(reader)
    except StopIteration:
        raise CalendarFileError(
            f"{source}: empty file; expected header {';'.join(HEADER)}"
        ) from None
    names = [h.strip().lower() for h in header]
    missing = [h for h in HEADER if h not in names]
    if missing:
        raise CalendarFileError(
            f"{source}: header {';'.join(header)!r} lacks {', '.join(missing)}; "
            f"expected the columns {';'.join(HEADER)} (separator ';')"
        )
    col = {h: names.index(h) for h in HEADER}
    periods: list[Period] = []
    for lineno, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(names):
            raise CalendarFileError(
                f"{source}, line {lineno}: {len(row)} columns, expected {len(names)}"
            )
        fields = {h: row[col[h]].strip() for h in HEADER}
        get = fields.__getitem__
        start = _paris_date(get("start_date"), source, lineno, "start_date")
        end = _paris_date(get("end_date"), source, lineno, "end_date")
        description = get("description")
        if end < start:
            raise CalendarFileError(
                f"{source}, line {lineno}: end_date {get('end_date')} is before start_date "
                f"{get('start_date')}"
            )
        first_off, off_until, open_ended = period_days(description, start, end)
        zone_name = get("zones")
        if not zone_name:
            raise CalendarFileError(f"{source}, line {lineno}: empty zones column")
        periods.append(
            Period(
                zone=zone_name,
                description=description,
                population=get("population") or "-",
                start=first_off,
                end=off_until,
                location=get("location"),
                school_year=get("annee_scolaire"),
                start_date=start,
                end_date=end,
                open_ended=open_ended,
            )
        )
    if not periods:
        raise CalendarFileError(f"{source}: no data rows after the header")
    return periods


def _paris_date(value: str, source: str, lineno: int, column: str) -> date:
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise CalendarFileError(
            f"{source}, line {lineno}: {column} {value!r} is not an ISO 8601 timestamp "
            "(expected e.g. 2025-10-17T22:00:00+00:00)"
        ) from None
    if instant.tzinfo is None:
        return instant.date()
    # Midnight Europe/Paris written in UTC, for every zone (overseas included).
    return instant.astimezone(_PARIS).date()


# -- where the active calendar lives ---------------------------------------------------------


def packaged_calendar_path() -> Path:
    return Path(str(resources.files("deconnexion.data").joinpath(IMPORTED_NAME)))


def data_dir() -> Path:
    explicit = os.environ.get(ENV_DIR)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "deconnexion"


def active_calendar_path() -> Path:
    explicit = os.environ.get(ENV_FILE)
    if explicit:
        return Path(explicit)
    imported = data_dir() / IMPORTED_NAME
    return imported if imported.exists() else packaged_calendar_path()


def import_calendar(
    path: str | Path, target_dir: str | Path | None = None
) -> tuple[Path, SchoolCalendar]:
    """Check a newer export of the dataset and install it as the active calendar.

    The file is validated completely before anything is replaced; it must still cover every
    zone the packaged snapshot covers, so that an export filtered to one zone cannot silently
    drop the others.
    """
    new = SchoolCalendar.from_csv(path)
    snapshot = _load_cached(str(packaged_calendar_path()))
    lost = [z for z in snapshot.zones() if z not in new.zones()]
    if lost:
        raise CalendarFileError(
            f"calendar file {str(path)!r} has no rows for {', '.join(lost)}; "
            f"expected every zone of the dataset ({', '.join(snapshot.zones())}). "
            "Export the whole dataset, not a filtered view"
        )
    directory = Path(target_dir) if target_dir is not None else data_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / IMPORTED_NAME
    tmp = target.with_suffix(".csv.tmp")
    shutil.copyfile(path, tmp)
    os.replace(tmp, target)  # atomic: readers see the old or the new file, never half of one
    CACHES.table("calendar files").clear()
    return target, new
