"""School days and days off of one establishment, for one audience, with their provenance.

A day is off when it is a weekend day, a public holiday (`holidays`, with the establishment's
subdivision: Alsace-Moselle, overseas), inside a school-holiday period, or a declared closure.
School holidays come from (docs/RULES.md §4):

1. the ministry's dataset (`calendar_data`) for every day it describes: provenance `official`;
2. for zones A, B, C after that, the `holidays` package's `school` category, official through
   the 2027-2028 arrêté and projected by rule after: `official`, then `projected`;
3. for Corse and overseas after the dataset, nothing is published: the last published year is
   carried forward by whole weeks (weekdays kept) as an *estimate*, provenance `unknown`. The
   default never treats an unpublished year as term time; `calendar_mode = "strict"` refuses.

Students and parents follow the students' calendar (`Élèves`), staff the teachers'
(`Enseignants`: they come back earlier).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from deconnexion.core.caches import CACHES
from deconnexion.core.calendar_data import Period, SchoolCalendar
from deconnexion.core.message import Audience, Provenance, Reason, ReasonCode
from deconnexion.core.policy import Closure

__all__ = [
    "HORIZON_END",
    "HORIZON_START",
    "SCHOOL_OFFICIAL_UNTIL",
    "DaySheet",
    "build_days",
    "calendar_for",
]

CalendarPopulation = Literal["students", "teachers"]

HORIZON_START = date(2018, 1, 1)
HORIZON_END = date(2032, 1, 1)  # exclusive
# holidays ≥ 0.109 cites the arrêtés up to the 2027-2028 school year; after, it projects by rule.
SCHOOL_OFFICIAL_UNTIL = date(2028, 9, 1)
_WEEK = 7
_ESTIMATE_SHIFT = 52 * _WEEK  # carrying a year forward by 52 weeks keeps weekdays

_EN = {
    "vacances de la toussaint": "All Saints' holidays",
    "vacances de noel": "Christmas holidays",
    "vacances d hiver": "Winter holidays",
    "vacances de fevrier": "February holidays",
    "vacances de printemps": "Spring holidays",
    "vacances de paques": "Easter holidays",
    "pont de l ascension": "Ascension bridge",
    "ascension": "Ascension bridge",
    "vacances d ete": "Summer holidays",
    "debut des vacances d ete": "Summer holidays",
    "grandes vacances": "Summer holidays",
    "debut des grandes vacances": "Summer holidays",
    "vacances de carnaval": "Carnival holidays",
    "mi careme": "Mid-Lent holiday",
    "abolition de l esclavage": "Abolition of slavery day",
    "vacances d hiver austral": "Austral winter holidays",
    "debut des vacances d hiver austral": "Austral winter holidays",
    "vacances d ete austral": "Austral summer holidays",
    "journee banalisee": "Day without classes",
    "journee vaquee": "Day without classes",
    "vacances de septembre": "September holidays",
    "vacances de novembre": "November holidays",
    "vacances de mai": "May holidays",
    "semaine en mai": "May break",
    "pont": "Bridge day",
    "pont a paques": "Easter bridge",
    "pentecote": "Whit Monday",
    "lundi de pentecote": "Whit Monday",
    "vacances 1ere periode": "Holidays after the 1st term",
    "vacances 2eme periode": "Holidays after the 2nd term",
    "vacances 3eme periode": "Holidays after the 3rd term",
    "vacances 4eme periode": "Holidays after the 4th term",
    "vacances apres 1ere periode": "Holidays after the 1st term",
    "vacances apres 3eme periode": "Holidays after the 3rd term",
    "vacances apres 4eme periode": "Holidays after the 4th term",
}


def calendar_for(audience: Audience) -> CalendarPopulation:
    """Staff: the teachers' calendar; students and parents: the students' (docs/RULES.md §4)."""
    return "teachers" if audience is Audience.STAFF else "students"


@dataclass(frozen=True, slots=True)
class DaySheet:
    """Days off between `first` and `end` (exclusive), by date ordinal, with provenance."""

    days_off: dict[int, tuple[Reason, ...]]
    provenance: tuple[tuple[date, Provenance], ...]  # each segment runs to the next one's date
    first: date
    end: date
    estimated_from: str | None  # the school year carried forward, when one is


def build_days(
    *,
    calendar: SchoolCalendar,
    calendar_zone: str,
    calendar_place: str | None,
    school_subdiv: str | None,
    public_subdiv: str | None,
    population: CalendarPopulation,
    level: str | None,
    weekend_days: frozenset[int],
    school_holidays: bool,
    public_holidays: bool,
    closures: Sequence[Closure],
) -> DaySheet:
    first, end = HORIZON_START, HORIZON_END
    reasons: dict[int, list[Reason]] = {}

    def add(day: date, reason: Reason) -> None:
        if first <= day < end:
            bucket = reasons.setdefault(day.toordinal(), [])
            if reason not in bucket:
                bucket.append(reason)

    for closure in closures:
        day = closure.start
        while day <= closure.last:
            add(day, _reason(ReasonCode.CLOSURE, closure.label, f"Closure: {closure.label}"))
            day += timedelta(days=1)

    known_until = calendar.known_until(calendar_zone)
    known_from = calendar.known_from(calendar_zone)
    segments: list[tuple[date, Provenance]] = []
    estimated_from: str | None = None
    if school_holidays:
        official = _snapshot_days(calendar, calendar_zone, calendar_place, population, level)
        for ordinal, labels in official.items():
            if known_until is not None and ordinal < known_until.toordinal():
                for label in labels:
                    add(date.fromordinal(ordinal), label)
        segments.append((known_from or first, Provenance.OFFICIAL))
        if known_from is not None and known_from > first:
            segments.insert(0, (first, Provenance.UNKNOWN))
        tail = known_until or first
        if school_subdiv is not None:
            for day, label in _holidays_school_days(school_subdiv, tail).items():
                add(day, label)
            segments.append((max(tail, SCHOOL_OFFICIAL_UNTIL), Provenance.PROJECTED))
        elif tail < end:
            _estimate(official, tail, end, add)
            years = calendar.school_years(calendar_zone)
            estimated_from = years[-1] if years else None
            segments.append((tail, Provenance.UNKNOWN))
    else:
        segments.append((first, Provenance.OFFICIAL))

    if public_holidays:
        for day, label in _public_days(public_subdiv).items():
            add(day, label)

    weekend = _reason(ReasonCode.WEEKEND, "Week-end", "Weekend")
    ordinal = first.toordinal()
    while ordinal < end.toordinal():
        if (ordinal - 1) % 7 in weekend_days:  # date.fromordinal(1) is a Monday
            reasons.setdefault(ordinal, []).append(weekend)
        ordinal += 1

    return DaySheet(
        days_off={o: _in_order(rs) for o, rs in reasons.items()},
        provenance=_merge_segments(segments),
        first=first,
        end=end,
        estimated_from=estimated_from,
    )


def _estimate(official: dict[int, tuple[Reason, ...]], tail: date, end: date, add: object) -> None:
    """Carry the last published year forward by whole weeks, never term time (docs/RULES.md §4)."""
    window_start = tail.toordinal() - _ESTIMATE_SHIFT
    day = tail.toordinal()
    while day < end.toordinal():
        source = window_start + (day - tail.toordinal()) % _ESTIMATE_SHIFT
        for label in official.get(source, ()):
            add(  # type: ignore[operator]
                date.fromordinal(day),
                _reason(
                    label.code,
                    f"{label.label_fr} (dates estimées)",
                    f"{label.label_en} (estimated dates)",
                ),
            )
        day += 1


_ORDER = {
    ReasonCode.CLOSURE: 0,
    ReasonCode.SCHOOL_HOLIDAY: 1,
    ReasonCode.PUBLIC_HOLIDAY: 2,
    ReasonCode.WEEKEND: 3,
    ReasonCode.NIGHT: 4,
}


def _order(reason: Reason) -> int:
    return _ORDER.get(reason.code, 9)


def _in_order(reasons: list[Reason]) -> tuple[Reason, ...]:
    """A day's reasons by `_ORDER`. Most days off have one (a weekend): nothing to sort
    (measured, callgrind: building the 50 benchmark establishments' schedulers 75 million
    instructions fewer, about 3 % of compiling their 20 calendars)."""
    return (reasons[0],) if len(reasons) == 1 else tuple(sorted(reasons, key=_order))


def _merge_segments(
    segments: Iterable[tuple[date, Provenance]],
) -> tuple[tuple[date, Provenance], ...]:
    out: list[tuple[date, Provenance]] = []
    for start, prov in sorted(segments, key=lambda s: s[0]):
        if out and out[-1][0] == start:
            out[-1] = (start, prov)
        elif not out or out[-1][1] is not prov:
            out.append((start, prov))
    return tuple(out)


@CACHES.memoize("calendar pieces")
def _reason(code: ReasonCode, label_fr: str, label_en: str) -> Reason:
    """One shared Reason object per label keeps compiled calendars small."""
    return Reason(code, label_fr, label_en)


def _norm(text: str) -> str:
    # Punctuation first: folding to ASCII would drop the dataset's curly apostrophe
    # ("Abolition de l’esclavage") before it could become a space.
    for ch in "'’-_.,&":
        text = text.replace(ch, " ")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(plain.lower().split())


# Feasts keep their capital inside a label; seasons and months do not ("Vacances d'été", as the
# `holidays` package writes them, not the dataset's "Vacances d'Été").
_PROPER_NOUNS = frozenset({"Toussaint", "Noël", "Pâques", "Ascension", "Pentecôte"})
_LATER_WORD = re.compile(r"(?<=[\s'’])([^\W\d_][\w-]*)")


def _sentence_case(label: str) -> str:
    return _LATER_WORD.sub(
        lambda m: m.group(1) if m.group(1) in _PROPER_NOUNS else m.group(1).lower(), label
    )


def school_holiday_reason(description: str) -> Reason:
    label = description
    if _norm(label).startswith("debut des "):
        label = label[len("Début des ") :].strip()
        label = label[:1].upper() + label[1:]
    english = _EN.get(_norm(description), f"School holiday ({description})")
    return _reason(ReasonCode.SCHOOL_HOLIDAY, _sentence_case(label), english)


# -- which rows of the dataset apply ------------------------------------------------------------

_PLACES = {"guadeloupe", "saint martin", "saint barthelemy"}


def _population_applies(
    population: str, wanted: CalendarPopulation, place: str | None, level: str | None
) -> bool:
    text = _norm(population)
    if text in ("", "-"):
        return True
    # Places of the académie de Guadeloupe ("Guadeloupe sauf Saint-Martin", "Saint-Barthélémy"…)
    named = {p for p in _PLACES if p in text}
    if named:
        if "sauf saint martin" in text:
            named = {"guadeloupe", "saint barthelemy"}
        return place is None or _norm(place) in named
    if text.startswith("eleves") and wanted != "students":
        return False
    if text.startswith("enseignants") and wanted != "teachers":
        return False
    return _level_applies(text, level)


def _level_applies(text: str, level: str | None) -> bool:
    if level is None:
        return True  # unknown level: every variant applies (quieter, never looser)
    levels: set[str] = set()
    if "premier degre" in text:
        levels.add("ecole")
    if "second degre" in text:
        levels |= {"college", "lycee"}
    if "college" in text:
        levels.add("college")
    if "lycee" in text:
        levels.add("lycee")
    return not levels or level in levels


@CACHES.memoize("calendar pieces")
def _snapshot_days(
    calendar: SchoolCalendar,
    calendar_zone: str,
    place: str | None,
    population: CalendarPopulation,
    level: str | None,
) -> dict[int, tuple[Reason, ...]]:
    days: dict[int, list[Reason]] = {}
    periods: Iterable[Period] = calendar.periods_of(calendar_zone)
    for p in periods:
        if p.open_ended or not _population_applies(p.population, population, place, level):
            continue
        reason = school_holiday_reason(p.description)
        for ordinal in range(p.start.toordinal(), p.end.toordinal()):
            bucket = days.setdefault(ordinal, [])
            if reason not in bucket:
                bucket.append(reason)
    # An open-ended start ("Début des Vacances d'Été") has no published end: the days from it
    # on are for the next source (holidays, or the estimate) to describe.
    return {o: tuple(rs) for o, rs in days.items()}


def _france(**kwargs: Any) -> Mapping[date, str]:
    # Imported when a calendar is first built, not with the package: `holidays.countries`
    # imports every country (~0.15 s), which `import deconnexion` need not pay.
    from holidays.countries.france import France

    # holidays ships no annotations for its country constructors.
    result: Mapping[date, str] = France(**kwargs)  # type: ignore[no-untyped-call]
    return result


@CACHES.memoize("calendar pieces")
def _holidays_school_days(subdiv: str, since: date) -> dict[date, Reason]:
    """The `holidays` package's school holidays of `subdiv` from `since` (the day the
    ministry's dataset stops describing the zone) to the horizon's end.

    Only the years from the one before `since` are asked for: each year `holidays` computes
    names the days of that year (a Christmas break starting the year before is added again by
    the year it ends in), and the year before is asked too so that a break that would reach
    across New Year is never cut. Measured: the years before the dataset's end were more than
    half of what compiling a zone A, B or C calendar cost (tests/test_calendar.py checks that
    the days are those of the whole horizon from `since` on)."""
    years = range(max(since.year - 1, HORIZON_START.year), HORIZON_END.year + 1)
    french = _france(subdiv=subdiv, categories=("school",), years=years, language="fr")
    english = _france(subdiv=subdiv, categories=("school",), years=years, language="en_US")
    out: dict[date, Reason] = {}
    for day, name in french.items():
        if day < since:
            continue
        label_fr = name.split(";")[0].strip()
        label_en = str(english.get(day, label_fr)).split(";")[0].strip()
        out[day] = _reason(ReasonCode.SCHOOL_HOLIDAY, label_fr[:1].upper() + label_fr[1:], label_en)
    return out


@CACHES.memoize("calendar pieces")
def _public_days(subdiv: str | None) -> dict[date, Reason]:
    years = range(HORIZON_START.year, HORIZON_END.year + 1)
    french = _france(subdiv=subdiv, years=years, language="fr")
    english = _france(subdiv=subdiv, years=years, language="en_US")
    out: dict[date, Reason] = {}
    for day, name in french.items():
        label_en = str(english.get(day, name))
        out[day] = _reason(ReasonCode.PUBLIC_HOLIDAY, str(name), label_en)
    return out
