"""Year tables: the days off of each calendar, against the official snapshot (2025-12-19).

Each row is a published fact: the last day of classes (`start_date`: « le départ en vacances a
lieu après la classe des jours indiqués ») and the day classes resume, read in
`fr-en-calendrier-scolaire.csv` (and, for the 2027 summer of zones A/B/C, which the snapshot
leaves open, in the `holidays` package's arrêté-based calendar). The days off are those strictly
between. These tables used to read `start_date` as the first day off, which held a whole class
day overseas (Guadeloupe Tue 22 Oct 2024, Réunion Fri 19 Dec 2025, …); they were wrong.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest

from deconnexion.core.calendar import HORIZON_START, _holidays_school_days, _in_order, _reason
from deconnexion.core.message import Audience, Kind, Message, Provenance, Reason, ReasonCode
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.errors import CalendarUnknownError

D = date


STRICT = Policy(calendar_mode="strict")


@cache
def scheduler(strict: bool = False, **where: str) -> Scheduler:
    return Scheduler(STRICT if strict else Policy.national(), Establishment(**where))


def at(s: Scheduler, day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(s.establishment.timezone))


def reasons_on(
    s: Scheduler, day: date, audience: Audience = Audience.STUDENTS
) -> tuple[Reason, ...]:
    return s.windows(audience).days_off.get(day.toordinal(), ())


def public_subdiv(s: Scheduler) -> str | None:
    return s.establishment.location.public_subdiv


# zone, label of the period, last day of classes (start_date), day classes resume (students)
MAINLAND = [
    # 2024-2025
    ("A", "Vacances de la Toussaint", D(2024, 10, 19), D(2024, 11, 4)),
    ("A", "Vacances de Noël", D(2024, 12, 21), D(2025, 1, 6)),
    ("A", "Vacances d'hiver", D(2025, 2, 22), D(2025, 3, 10)),
    ("A", "Vacances de printemps", D(2025, 4, 19), D(2025, 5, 5)),
    ("A", "Pont de l'Ascension", D(2025, 5, 29), D(2025, 6, 2)),
    ("A", "Vacances d'été", D(2025, 7, 5), D(2025, 9, 1)),
    ("B", "Vacances de la Toussaint", D(2024, 10, 19), D(2024, 11, 4)),
    ("B", "Vacances de Noël", D(2024, 12, 21), D(2025, 1, 6)),
    ("B", "Vacances d'hiver", D(2025, 2, 8), D(2025, 2, 24)),
    ("B", "Vacances de printemps", D(2025, 4, 5), D(2025, 4, 22)),  # Mon 21: Easter Monday
    ("B", "Pont de l'Ascension", D(2025, 5, 29), D(2025, 6, 2)),
    ("B", "Vacances d'été", D(2025, 7, 5), D(2025, 9, 1)),
    ("C", "Vacances de la Toussaint", D(2024, 10, 19), D(2024, 11, 4)),
    ("C", "Vacances de Noël", D(2024, 12, 21), D(2025, 1, 6)),
    ("C", "Vacances d'hiver", D(2025, 2, 15), D(2025, 3, 3)),
    ("C", "Vacances de printemps", D(2025, 4, 12), D(2025, 4, 28)),
    ("C", "Pont de l'Ascension", D(2025, 5, 29), D(2025, 6, 2)),
    ("C", "Vacances d'été", D(2025, 7, 5), D(2025, 9, 1)),
    # 2025-2026
    ("A", "Vacances de la Toussaint", D(2025, 10, 18), D(2025, 11, 3)),
    ("A", "Vacances de Noël", D(2025, 12, 20), D(2026, 1, 5)),
    ("A", "Vacances d'hiver", D(2026, 2, 7), D(2026, 2, 23)),
    ("A", "Vacances de printemps", D(2026, 4, 4), D(2026, 4, 20)),
    ("A", "Pont de l'Ascension", D(2026, 5, 14), D(2026, 5, 18)),
    ("A", "Vacances d'été", D(2026, 7, 4), D(2026, 9, 1)),
    ("B", "Vacances de la Toussaint", D(2025, 10, 18), D(2025, 11, 3)),
    ("B", "Vacances de Noël", D(2025, 12, 20), D(2026, 1, 5)),
    ("B", "Vacances d'hiver", D(2026, 2, 14), D(2026, 3, 2)),
    ("B", "Vacances de printemps", D(2026, 4, 11), D(2026, 4, 27)),
    ("B", "Pont de l'Ascension", D(2026, 5, 14), D(2026, 5, 18)),
    ("B", "Vacances d'été", D(2026, 7, 4), D(2026, 9, 1)),
    ("C", "Vacances de la Toussaint", D(2025, 10, 18), D(2025, 11, 3)),
    ("C", "Vacances de Noël", D(2025, 12, 20), D(2026, 1, 5)),
    ("C", "Vacances d'hiver", D(2026, 2, 21), D(2026, 3, 9)),
    ("C", "Vacances de printemps", D(2026, 4, 18), D(2026, 5, 4)),
    ("C", "Pont de l'Ascension", D(2026, 5, 14), D(2026, 5, 18)),
    ("C", "Vacances d'été", D(2026, 7, 4), D(2026, 9, 1)),
    # 2026-2027 (the summer's end is not in the snapshot: holidays' arrêté, rentrée Thu 2 Sep)
    ("A", "Vacances de la Toussaint", D(2026, 10, 17), D(2026, 11, 2)),
    ("A", "Vacances de Noël", D(2026, 12, 19), D(2027, 1, 4)),
    ("A", "Vacances d'hiver", D(2027, 2, 13), D(2027, 3, 1)),
    ("A", "Vacances de printemps", D(2027, 4, 10), D(2027, 4, 26)),
    ("A", "Vacances d'été", D(2027, 7, 3), D(2027, 9, 2)),  # « Début des Vacances d'Été »
    ("B", "Vacances de la Toussaint", D(2026, 10, 17), D(2026, 11, 2)),
    ("B", "Vacances de Noël", D(2026, 12, 19), D(2027, 1, 4)),
    ("B", "Vacances d'hiver", D(2027, 2, 20), D(2027, 3, 8)),
    ("B", "Vacances de printemps", D(2027, 4, 17), D(2027, 5, 3)),
    ("B", "Vacances d'été", D(2027, 7, 3), D(2027, 9, 2)),
    ("C", "Vacances de la Toussaint", D(2026, 10, 17), D(2026, 11, 2)),
    ("C", "Vacances de Noël", D(2026, 12, 19), D(2027, 1, 4)),
    ("C", "Vacances d'hiver", D(2027, 2, 6), D(2027, 2, 22)),
    ("C", "Vacances de printemps", D(2027, 4, 3), D(2027, 4, 19)),
    ("C", "Vacances d'été", D(2027, 7, 3), D(2027, 9, 2)),
]

OVERSEAS_AND_CORSE = [
    ("Corse", "Vacances de la Toussaint", D(2024, 10, 19), D(2024, 11, 4)),
    ("Corse", "Vacances de Noël", D(2024, 12, 21), D(2025, 1, 6)),
    ("Corse", "Vacances d'hiver", D(2025, 2, 15), D(2025, 3, 3)),
    ("Corse", "Vacances de printemps", D(2025, 4, 12), D(2025, 4, 28)),
    ("Corse", "Pont de l'Ascension", D(2025, 5, 29), D(2025, 6, 2)),
    ("Guadeloupe", "Vacances de la Toussaint", D(2024, 10, 22), D(2024, 11, 4)),  # a Tuesday
    ("Guadeloupe", "Vacances de carnaval", D(2025, 2, 22), D(2025, 3, 10)),
    ("Guadeloupe", "Vacances de Pâques", D(2025, 4, 17), D(2025, 5, 5)),
    ("Guadeloupe", "Vacances d'été", D(2025, 7, 5), D(2025, 9, 1)),
    ("Guadeloupe", "Vacances de la Toussaint", D(2025, 10, 18), D(2025, 11, 3)),
    ("Guadeloupe", "Vacances de carnaval", D(2026, 2, 7), D(2026, 2, 23)),
    ("Guadeloupe", "Vacances de Pâques", D(2026, 4, 2), D(2026, 4, 20)),
    ("Martinique", "Vacances de la Toussaint", D(2025, 10, 18), D(2025, 11, 3)),
    ("Martinique", "Vacances de Noël", D(2025, 12, 20), D(2026, 1, 5)),
    ("Martinique", "Vacances de carnaval", D(2026, 2, 7), D(2026, 2, 23)),
    ("Martinique", "Vacances de Pâques", D(2026, 3, 28), D(2026, 4, 13)),
    ("Martinique", "Pont de l'Ascension", D(2026, 5, 14), D(2026, 5, 18)),
    ("Guyane", "Vacances d'été", D(2025, 7, 5), D(2025, 9, 1)),
    ("Guyane", "Vacances de carnaval", D(2026, 2, 7), D(2026, 2, 23)),
    ("Guyane", "Vacances de Pâques", D(2026, 4, 1), D(2026, 4, 16)),  # Wed → Thu
    ("Réunion", "Vacances d'hiver austral", D(2025, 7, 5), D(2025, 8, 19)),
    ("Réunion", "Vacances après 1ère période", D(2025, 10, 11), D(2025, 10, 27)),
    ("Réunion", "Vacances d'été austral", D(2025, 12, 19), D(2026, 1, 21)),
    ("Réunion", "Vacances après 3ème période", D(2026, 2, 28), D(2026, 3, 16)),
    ("Réunion", "Vacances après 4ème période", D(2026, 5, 2), D(2026, 5, 18)),
    ("Mayotte", "Vacances de la Toussaint", D(2025, 10, 11), D(2025, 10, 27)),
    ("Mayotte", "Vacances de Noël", D(2025, 12, 13), D(2026, 1, 12)),
    ("Mayotte", "Vacances de carnaval", D(2026, 2, 28), D(2026, 3, 9)),
    ("Mayotte", "Vacances de printemps", D(2026, 4, 30), D(2026, 5, 18)),
    ("Mayotte", "Vacances d'été", D(2026, 7, 4), D(2026, 8, 24)),
]


@pytest.mark.parametrize(("zone", "label", "last_class", "resume"), MAINLAND + OVERSEAS_AND_CORSE)
def test_school_holiday_period_matches_the_official_calendar(
    zone: str, label: str, last_class: date, resume: date
) -> None:
    s = scheduler(zone=zone)
    first_off = last_class + timedelta(days=1)
    day = first_off
    while day < resume:
        assert s.is_quiet(at(s, day)), f"{day} should be off"
        day += timedelta(days=1)
    assert s.is_quiet(at(s, resume, 6, 59))
    assert not s.is_quiet(at(s, resume, 7))
    decision = s.decide(
        Message(kind=Kind.HOMEWORK, audience="students", created_at=at(s, first_off))
    )
    assert decision.release_at == at(s, resume, 7)
    assert decision.reasons[0].code is ReasonCode.SCHOOL_HOLIDAY
    assert decision.reasons[0].label_fr == label
    assert decision.provenance is Provenance.OFFICIAL
    school_reasons = [r for r in reasons_on(s, last_class) if r.code is ReasonCode.SCHOOL_HOLIDAY]
    assert school_reasons == [], "the last day of classes is not a school holiday"
    if last_class.weekday() < 5 and last_class not in holidays.country_holidays(
        "FR", subdiv=public_subdiv(s), years=last_class.year
    ):
        assert not s.is_quiet(at(s, last_class, 10))
        assert not s.is_quiet(at(s, last_class, 19, 59)), "the last school day is open until 20:00"
        assert s.is_quiet(at(s, last_class, 20))


# zone, the day off, its label: rows with start_date == end_date (or end == start + 1).
SINGLE_DAYS = [
    ("A", D(2027, 5, 7), "Pont de l'Ascension"),  # Fri; Thu 6 is Ascension
    ("C", D(2027, 5, 7), "Pont de l'Ascension"),
    ("Corse", D(2025, 6, 9), "Lundi de Pentecôte"),
    ("Guadeloupe", D(2025, 3, 27), "Mi-carême"),  # Thu
    ("Guadeloupe", D(2025, 5, 30), "Semaine en mai"),  # Fri → Sat row: the Friday is off
    ("Guadeloupe", D(2026, 5, 15), "Semaine en mai"),
    ("Guadeloupe", D(2024, 5, 10), "Semaine en mai"),
]


@pytest.mark.parametrize(("zone", "day", "label"), SINGLE_DAYS)
def test_single_day_rows_are_that_one_day_off(zone: str, day: date, label: str) -> None:
    s = scheduler(zone=zone)
    assert s.is_quiet(at(s, day, 10))
    assert label in [r.label_fr for r in reasons_on(s, day)]
    before, after = day - timedelta(days=1), day + timedelta(days=1)
    assert label not in [r.label_fr for r in reasons_on(s, before)]
    assert label not in [r.label_fr for r in reasons_on(s, after)]


# The weekday starts of issue 10, each checked in the CSV: zone, start_date (a weekday, the last
# day of classes), description. The day is open 07:00–20:00; the next day is a holiday.
WEEKDAY_STARTS = [
    ("Réunion", D(2024, 12, 19), "Vacances d'Été austral"),  # Thu
    ("Réunion", D(2025, 12, 19), "Vacances d'Été austral"),  # Fri
    ("Guadeloupe", D(2024, 10, 22), "Vacances de la Toussaint"),  # Tue
    ("Guadeloupe", D(2025, 4, 17), "Vacances de Pâques"),  # Thu
    ("Guadeloupe", D(2026, 4, 2), "Vacances de Pâques"),  # Thu
    ("Guyane", D(2025, 4, 17), "Vacances de Pâques"),  # Thu
    ("Guyane", D(2026, 4, 1), "Vacances de Pâques"),  # Wed
    ("Mayotte", D(2026, 4, 30), "Vacances de Printemps"),  # Thu
    ("Polynésie", D(2025, 3, 28), "Vacances de Pâques"),  # Fri
    ("Polynésie", D(2025, 7, 4), "Grandes Vacances"),  # Fri (premier degré; second: Sat 5)
    ("Saint-Pierre-et-Miquelon", D(2024, 10, 22), "Vacances de la Toussaint"),  # Tue
    ("Saint-Pierre-et-Miquelon", D(2024, 12, 20), "Vacances de Noël"),  # Fri
    ("Saint-Pierre-et-Miquelon", D(2025, 2, 21), "Vacances d'Hiver"),  # Fri
    ("Saint-Pierre-et-Miquelon", D(2025, 4, 18), "Vacances de Printemps"),  # Fri
    ("Saint-Pierre-et-Miquelon", D(2025, 5, 28), "Pont de l'Ascension"),  # Wed
    ("Saint-Pierre-et-Miquelon", D(2025, 7, 3), "Début des Vacances d'Été"),  # Thu, open-ended
]


@pytest.mark.parametrize("audience", [Audience.STUDENTS, Audience.STAFF])
@pytest.mark.parametrize(("zone", "last_class", "description"), WEEKDAY_STARTS)
def test_weekday_start_date_is_a_school_day_and_the_next_day_a_holiday(
    zone: str, last_class: date, description: str, audience: Audience
) -> None:
    s = scheduler(zone=zone)
    assert last_class.weekday() < 5
    assert not s.is_quiet(at(s, last_class, 10), audience)
    assert not s.is_quiet(at(s, last_class, 19, 59), audience)
    assert s.is_quiet(at(s, last_class, 20), audience)
    morning = s.decide(
        Message(kind=Kind.MESSAGE, audience=audience, created_at=at(s, last_class, 10))
    )
    assert not morning.held, morning.explanation_fr()
    next_day = last_class + timedelta(days=1)
    assert s.is_quiet(at(s, next_day, 10), audience)
    codes = [r.code for r in reasons_on(s, next_day, audience)]
    assert ReasonCode.SCHOOL_HOLIDAY in codes


# -- teachers come back before students ---------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "teachers", "students"),
    [
        ("C", D(2026, 8, 31), D(2026, 9, 1)),  # Mon 31 Aug / Tue 1 Sep 2026
        ("A", D(2025, 8, 29), D(2025, 9, 1)),  # Fri 29 Aug / Mon 1 Sep 2025
        ("Mayotte", D(2026, 8, 21), D(2026, 8, 24)),
        ("Réunion", D(2025, 8, 18), D(2025, 8, 19)),
    ],
)
def test_teachers_rentree_precedes_students(zone: str, teachers: date, students: date) -> None:
    s = scheduler(zone=zone)
    assert not s.is_quiet(at(s, teachers, 10), audience="staff")
    assert s.is_quiet(at(s, teachers, 10), audience="students")
    assert s.is_quiet(at(s, teachers, 10), audience="parents")
    assert not s.is_quiet(at(s, students, 10), audience="students")


def test_sunday_evening_before_rentree_2026_staff_monday_students_tuesday() -> None:
    s = scheduler(zone="C")
    created = at(s, D(2026, 8, 30), 21)
    staff = s.decide(Message(kind=Kind.MESSAGE, audience="staff", created_at=created))
    students = s.decide(Message(kind=Kind.MESSAGE, audience="students", created_at=created))
    parents = s.decide(Message(kind=Kind.MESSAGE, audience="parents", created_at=created))
    assert staff.release_at == at(s, D(2026, 8, 31), 7)
    assert students.release_at == at(s, D(2026, 9, 1), 7)
    assert parents.release_at == at(s, D(2026, 9, 1), 7)


# -- public holidays ----------------------------------------------------------------------------


def public_holidays_on(s: Scheduler, day: date) -> list[str]:
    return [r.label_fr for r in reasons_on(s, day) if r.code is ReasonCode.PUBLIC_HOLIDAY]


@pytest.mark.parametrize("departement", ["057", "067", "068"])
def test_good_friday_and_26_december_are_public_holidays_in_alsace_moselle(
    departement: str,
) -> None:
    s = scheduler(departement=departement)
    assert public_holidays_on(s, D(2026, 4, 3)) == ["Vendredi saint"]
    assert s.is_quiet(at(s, D(2026, 4, 3)))  # a school day in zone B otherwise
    assert public_holidays_on(s, D(2025, 12, 26)) == ["Saint-Étienne"]


@pytest.mark.parametrize("where", [{"departement": "075"}, {"departement": "054"}, {"zone": "B"}])
def test_good_friday_and_26_december_are_not_public_holidays_elsewhere(
    where: dict[str, str],
) -> None:
    s = scheduler(**where)
    assert public_holidays_on(s, D(2026, 4, 3)) == []
    assert not s.is_quiet(at(s, D(2026, 4, 3)))
    assert public_holidays_on(s, D(2025, 12, 26)) == []


@pytest.mark.parametrize(
    ("departement", "day"),
    [
        ("971", D(2025, 5, 27)),  # Tuesday
        ("972", D(2025, 5, 22)),  # Thursday
        ("973", D(2025, 6, 10)),  # Tuesday
        ("974", D(2025, 12, 20)),  # Saturday, in the austral summer holidays
        ("976", D(2025, 4, 27)),  # Sunday
    ],
)
def test_abolition_of_slavery_day_is_a_public_holiday_overseas_only(
    departement: str, day: date
) -> None:
    name = holidays.country_holidays("FR", subdiv=departement, years=day.year, language="fr").get(
        day
    )
    assert name == "Abolition de l'esclavage"
    s = scheduler(departement=departement)
    assert name in public_holidays_on(s, day)
    assert s.is_quiet(at(s, day))
    paris = scheduler(departement="075")
    assert public_holidays_on(paris, day) == []
    if day.weekday() < 5:
        assert not paris.is_quiet(at(paris, day))


def test_public_holiday_labels_are_french_and_english() -> None:
    s = scheduler(zone="C")
    (armistice,) = [
        r for r in reasons_on(s, D(2025, 11, 11)) if r.code is ReasonCode.PUBLIC_HOLIDAY
    ]
    assert (armistice.label_fr, armistice.label_en) == ("Armistice", "Armistice Day")


def test_guadeloupe_and_saint_martin_have_their_own_days_in_may() -> None:
    guadeloupe, saint_martin = scheduler(zone="Guadeloupe"), scheduler(zone="Saint-Martin")
    # "Semaine en mai | Guadeloupe & Saint-Barthélémy", Tuesday 26 May 2026
    assert guadeloupe.is_quiet(at(guadeloupe, D(2026, 5, 26)))
    assert not saint_martin.is_quiet(at(saint_martin, D(2026, 5, 26)))
    # "Semaine en mai | Saint Martin", Friday 29 May 2026
    assert saint_martin.is_quiet(at(saint_martin, D(2026, 5, 29)))
    assert not guadeloupe.is_quiet(at(guadeloupe, D(2026, 5, 29)))


# -- provenance and strict mode --------------------------------------------------------------


def decide_at_noon(s: Scheduler, day: date) -> object:
    return s.decide(Message(kind=Kind.MESSAGE, audience="students", created_at=at(s, day)))


@pytest.mark.parametrize(
    ("zone", "day", "provenance"),
    [
        ("C", D(2025, 11, 17), Provenance.OFFICIAL),  # the snapshot
        ("C", D(2027, 11, 15), Provenance.OFFICIAL),  # holidays, arrêté for 2027-2028
        ("C", D(2028, 11, 13), Provenance.PROJECTED),  # holidays' rule after 2028-09-01
        ("A", D(2029, 1, 15), Provenance.PROJECTED),
        ("B", D(2030, 3, 18), Provenance.PROJECTED),
        ("Corse", D(2024, 11, 18), Provenance.OFFICIAL),
        ("Corse", D(2025, 11, 17), Provenance.UNKNOWN),  # no Corse rows for 2025-2026
        ("Réunion", D(2026, 9, 14), Provenance.UNKNOWN),  # after "Début des Vacances…"
        ("Mayotte", D(2026, 9, 14), Provenance.UNKNOWN),
    ],
)
def test_decisions_carry_calendar_provenance(zone: str, day: date, provenance: Provenance) -> None:
    s = scheduler(zone=zone)
    decision = s.decide(Message(kind=Kind.MESSAGE, audience="students", created_at=at(s, day)))
    assert decision.provenance is provenance
    assert bool(decision.notes) is (provenance is Provenance.UNKNOWN)


def test_unknown_corse_toussaint_2025_is_still_quiet_with_estimated_dates() -> None:
    s = scheduler(zone="Corse")
    # 2024's Toussaint (19 Oct → 4 Nov) carried forward 52 weeks: 18 Oct → 3 Nov 2025.
    for day in (D(2025, 10, 18), D(2025, 10, 20), D(2025, 10, 31), D(2025, 11, 2)):
        assert s.is_quiet(at(s, day)), day
    assert not s.is_quiet(at(s, D(2025, 11, 3), 7))
    decision = s.decide(
        Message(kind=Kind.MESSAGE, audience="students", created_at=at(s, D(2025, 10, 20)))
    )
    assert decision.held
    assert decision.provenance is Provenance.UNKNOWN
    assert decision.reasons[0].label_fr == "Vacances de la Toussaint (dates estimées)"
    assert "2024-2025" in decision.notes[0]


def test_unknown_years_are_never_all_term_time() -> None:
    # Every estimated year keeps at least eight weeks of holidays on school days.
    for zone in ("Corse", "Réunion", "Guadeloupe", "Nouvelle-Calédonie"):
        s = scheduler(zone=zone)
        for year in (2027, 2030):
            weekdays_off = [
                D(year, 1, 1) + timedelta(days=i)
                for i in range(365)
                if (D(year, 1, 1) + timedelta(days=i)).weekday() < 5
                and any(
                    r.code is ReasonCode.SCHOOL_HOLIDAY
                    for r in reasons_on(s, D(year, 1, 1) + timedelta(days=i))
                )
            ]
            assert len(weekdays_off) >= 40, (zone, year, len(weekdays_off))


def test_strict_mode_refuses_unknown_calendar() -> None:
    s = scheduler(True, zone="Corse")
    t = at(s, D(2025, 10, 20))
    with pytest.raises(CalendarUnknownError, match=r"strict mode.*calendar import"):
        s.decide(Message(kind=Kind.MESSAGE, audience="students", created_at=t))
    with pytest.raises(CalendarUnknownError):
        s.is_quiet(t)
    with pytest.raises(CalendarUnknownError):
        s.next_open(t)
    with pytest.raises(CalendarUnknownError):
        s.next_open_many([t.timestamp()])


def test_strict_mode_decides_on_official_and_projected_calendars() -> None:
    corse = scheduler(True, zone="Corse")
    assert decide_at_noon(corse, D(2024, 10, 21)).release_at == at(corse, D(2024, 11, 4), 7)  # type: ignore[attr-defined]
    zone_c = scheduler(True, zone="C")
    assert decide_at_noon(zone_c, D(2029, 1, 15)).provenance is Provenance.PROJECTED  # type: ignore[attr-defined]


@pytest.mark.parametrize("subdiv", ["Zone A", "Zone B", "Zone C"])
@pytest.mark.parametrize(
    "since", [D(2018, 1, 1), D(2019, 1, 1), D(2023, 12, 31), D(2025, 1, 2), D(2027, 7, 4)]
)
def test_school_holidays_from_a_day_are_those_of_the_whole_horizon_from_it(
    subdiv: str, since: date
) -> None:
    """The years before the dataset's end are not asked of `holidays`: the days from `since` on
    are the same as when every year of the horizon is (a Christmas break across New Year too)."""
    whole = _holidays_school_days(subdiv, HORIZON_START)
    assert _holidays_school_days(subdiv, since) == {d: r for d, r in whole.items() if d >= since}
    assert any(d.month == 1 for d in whole if d >= since)  # a Christmas break across New Year


def test_a_day_off_lists_its_reasons_closure_first_and_weekend_last_even_alone():
    weekend = _reason(ReasonCode.WEEKEND, "Week-end", "Weekend")
    holiday = _reason(ReasonCode.SCHOOL_HOLIDAY, "Vacances de Noël", "Christmas holidays")
    public = _reason(ReasonCode.PUBLIC_HOLIDAY, "Noël", "Christmas Day")
    assert _in_order([weekend]) == (weekend,)
    assert _in_order([weekend, public, holiday]) == (holiday, public, weekend)
