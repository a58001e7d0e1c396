"""The scheduler: open and quiet moments, release times, reasons and explanations."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from deconnexion.core.message import Audience, Decision, Kind, Message, ReasonCode, SenderRole
from deconnexion.core.policy import AudienceRule, Closure, Deviation, OpenHours, Policy
from deconnexion.core.scheduler import Scheduler, clear_cache
from deconnexion.core.territories import Establishment
from deconnexion.errors import NaiveDatetimeError, OutOfRangeError

PARIS = ZoneInfo("Europe/Paris")
UTC = ZoneInfo("UTC")


def paris(y: int, mo: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=PARIS)


@cache
def zone(name: str) -> Scheduler:
    return Scheduler(Policy.national(), Establishment(zone=name))


def decide(
    created: datetime,
    kind: Kind | str = Kind.MESSAGE,
    audience: Audience | str = Audience.STUDENTS,
    s: Scheduler | None = None,
    **extra: object,
) -> Decision:
    message = Message(kind=kind, audience=audience, created_at=created, **extra)
    return (s or zone("C")).decide(message)


# -- open hours and weekends -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        (paris(2025, 11, 14, 19, 59), False),  # Friday 19:59
        (paris(2025, 11, 14, 20, 0), True),  # Friday 20:00
        (paris(2025, 11, 15, 12, 0), True),  # Saturday
        (paris(2025, 11, 16, 23, 59), True),  # Sunday
        (paris(2025, 11, 17, 6, 59), True),  # Monday 06:59
        (paris(2025, 11, 17, 7, 0), False),  # Monday 07:00
        (paris(2025, 11, 18, 20, 30), True),  # Tuesday night
        (paris(2025, 11, 19, 3, 0), True),
    ],
)
def test_open_only_between_7h_and_20h_on_school_days(moment: datetime, quiet: bool) -> None:
    assert zone("C").is_quiet(moment) is quiet


def test_next_open_returns_the_instant_itself_when_open() -> None:
    t = paris(2025, 11, 14, 19, 59)
    assert zone("C").next_open(t) == t
    assert zone("C").next_open(t.astimezone(UTC)).tzinfo == PARIS  # in the establishment's zone


def test_friday_evening_opens_monday_7h() -> None:
    assert zone("C").next_open(paris(2025, 11, 14, 20)) == paris(2025, 11, 17, 7)


def test_instants_given_in_another_offset_are_the_same_instant() -> None:
    utc = datetime(2025, 11, 14, 18, 59, tzinfo=UTC)  # 19:59 in Paris
    assert not zone("C").is_quiet(utc)
    assert zone("C").is_quiet(utc + timedelta(minutes=1))


# -- daylight saving --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("friday", "monday", "before", "after"),
    [
        (date(2025, 3, 28), date(2025, 3, 31), "+01:00", "+02:00"),  # clocks forward 30 March
        (date(2026, 3, 27), date(2026, 3, 30), "+01:00", "+02:00"),  # 29 March 2026
    ],
)
def test_march_dst_weekend_keeps_20h_and_7h_local(
    friday: date, monday: date, before: str, after: str
) -> None:
    s = zone("C")
    close = s.next_open(datetime.combine(friday, time(19, 59), PARIS))
    assert close.isoformat().endswith(before)
    reopen = s.next_open(datetime.combine(friday, time(20), PARIS))
    assert reopen == datetime.combine(monday, time(7), PARIS)
    assert (reopen.hour, reopen.minute) == (7, 0)
    assert reopen.isoformat().endswith(after)
    (window,) = s.quiet_windows(
        datetime.combine(friday, time(12), PARIS), datetime.combine(monday, time(12), PARIS)
    )
    assert window.start.isoformat() == f"{friday.isoformat()}T20:00:00{before}"
    assert window.end.isoformat() == f"{monday.isoformat()}T07:00:00{after}"
    # Elapsed time: 59 h of wall clock, one lost (same-zone datetime subtraction is wall time).
    assert window.end.timestamp() - window.start.timestamp() == 58 * 3600


NO_SCHOOL_HOLIDAYS = Policy(
    school_holidays=False,
    deviations=(Deviation(field="school_holidays", justification="test of clock changes"),),
)


@pytest.mark.parametrize(
    ("friday", "monday"),
    [(date(2025, 10, 24), date(2025, 10, 27)), (date(2026, 10, 23), date(2026, 10, 26))],
)
def test_october_dst_weekend_keeps_20h_and_7h_local(friday: date, monday: date) -> None:
    # The last weekend of October falls in the Toussaint holidays everywhere in mainland
    # France, so school holidays are switched off to see the weekend itself.
    s = Scheduler(NO_SCHOOL_HOLIDAYS, Establishment(zone="C"))
    assert not s.is_quiet(datetime.combine(friday, time(19, 59), PARIS))
    assert s.is_quiet(datetime.combine(friday, time(20), PARIS))
    (window,) = s.quiet_windows(
        datetime.combine(friday, time(12), PARIS), datetime.combine(monday, time(12), PARIS)
    )
    assert window.start.isoformat() == f"{friday.isoformat()}T20:00:00+02:00"
    assert window.end.isoformat() == f"{monday.isoformat()}T07:00:00+01:00"
    assert window.end.timestamp() - window.start.timestamp() == 60 * 3600  # 59 h + 1


def test_october_dst_inside_toussaint_reopens_at_7h_winter_time() -> None:
    reopen = zone("C").next_open(paris(2025, 10, 26, 2, 30))
    assert reopen.isoformat() == "2025-11-03T07:00:00+01:00"


# -- the day after a holiday -------------------------------------------------------------------


def test_toussaint_2025_releases_monday_3_november_7h() -> None:
    d = decide(paris(2025, 10, 17, 21))
    assert d.held
    assert d.release_at == paris(2025, 11, 3, 7)
    assert d.codes[0] == "school_holiday"
    assert d.explanation_fr() == (
        "Diffusion différée au lundi 3 novembre à 7 h 00 : vacances de la Toussaint"
    )


def test_armistice_tuesday_releases_wednesday_7h() -> None:
    d = decide(paris(2025, 11, 10, 21))
    assert d.release_at == paris(2025, 11, 12, 7)
    assert [(r.code, r.label_fr) for r in d.reasons] == [(ReasonCode.PUBLIC_HOLIDAY, "Armistice")]
    assert d.explanation_fr() == "Diffusion différée au mercredi 12 novembre à 7 h 00 : Armistice"


def test_christmas_release_names_the_year_when_it_changes() -> None:
    d = decide(paris(2025, 12, 19, 21))
    assert d.release_at == paris(2026, 1, 5, 7)
    assert d.explanation_fr() == (
        "Diffusion différée au lundi 5 janvier 2026 à 7 h 00 : vacances de Noël"
    )


def test_summer_release_on_the_first_of_september_reads_1er() -> None:
    d = decide(paris(2026, 8, 30, 21))
    assert d.explanation_fr() == (
        "Diffusion différée au mardi 1er septembre à 7 h 00 : vacances d'été"
    )


# -- grades -----------------------------------------------------------------------------------


def test_grade_published_friday_evening_reaches_students_at_once() -> None:
    d = decide(paris(2025, 11, 14, 17), kind=Kind.GRADE, audience=Audience.STUDENTS)
    assert not d.held
    assert d.release_at == paris(2025, 11, 14, 17)
    assert d.explanation_fr() == "Diffusion immédiate : créneau ouvert"


def test_grade_published_friday_evening_reaches_parents_monday_7h() -> None:
    d = decide(paris(2025, 11, 14, 17), kind=Kind.GRADE, audience=Audience.PARENTS)
    assert d.held
    assert d.students_release_at == paris(2025, 11, 14, 17)
    assert d.release_at == paris(2025, 11, 17, 7)
    assert d.codes == ("grade_parent_delay", "weekend")
    assert d.explanation_fr() == (
        "Diffusion aux parents différée au lundi 17 novembre à 7 h 00 : "
        "délai de 24 h après les élèves, puis week-end"
    )
    assert d.to_dict()["students_release_at"] == "2025-11-14T17:00:00+01:00"


def test_grade_to_parents_midweek_is_exactly_24h_after_students() -> None:
    d = decide(paris(2025, 11, 18, 10, 30), kind=Kind.GRADE, audience=Audience.PARENTS)
    assert d.release_at == paris(2025, 11, 19, 10, 30)
    assert d.codes == ("grade_parent_delay",)


def test_grade_typed_at_night_reaches_students_7h_and_parents_a_day_later() -> None:
    d = decide(paris(2025, 11, 17, 22), kind=Kind.GRADE, audience=Audience.PARENTS)
    assert d.students_release_at == paris(2025, 11, 18, 7)
    assert d.release_at == paris(2025, 11, 19, 7)


def test_grade_to_parents_after_a_holiday_waits_for_the_first_school_morning() -> None:
    d = decide(paris(2025, 10, 17, 17), kind=Kind.GRADE, audience=Audience.PARENTS)
    assert d.students_release_at == paris(2025, 10, 17, 17)
    assert d.release_at == paris(2025, 11, 3, 7)
    assert d.codes[:2] == ("grade_parent_delay", "school_holiday")


def test_grade_with_later_publication_to_students() -> None:
    created, publish = paris(2025, 11, 17, 10), paris(2025, 11, 18, 10)
    students = decide(created, kind=Kind.GRADE, publish_to_students_at=publish)
    assert students.held and students.release_at == publish
    assert students.explanation_fr() == (
        "Diffusion différée au mardi 18 novembre à 10 h 00 : publication programmée"
    )
    parents = decide(
        created, kind=Kind.GRADE, audience=Audience.PARENTS, publish_to_students_at=publish
    )
    assert parents.students_release_at == publish
    assert parents.release_at == paris(2025, 11, 19, 10)


def test_grade_publication_set_in_a_quiet_window_moves_to_the_next_opening() -> None:
    publish = paris(2025, 11, 21, 21)  # Friday night
    d = decide(paris(2025, 11, 17, 10), kind=Kind.GRADE, publish_to_students_at=publish)
    assert d.release_at == paris(2025, 11, 24, 7)
    parents = decide(
        paris(2025, 11, 17, 10), kind=Kind.GRADE, audience="parents", publish_to_students_at=publish
    )
    assert parents.students_release_at == paris(2025, 11, 24, 7)
    assert parents.release_at == paris(2025, 11, 25, 7)


def test_publication_date_earlier_than_creation_is_ignored() -> None:
    d = decide(
        paris(2025, 11, 18, 10), kind=Kind.GRADE, publish_to_students_at=paris(2025, 11, 1, 10)
    )
    assert not d.held


# -- urgency ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [SenderRole.CHEF_ETABLISSEMENT, SenderRole.DIRECTEUR_ECOLE])
def test_head_of_school_urgent_with_justification_goes_out_now(role: SenderRole) -> None:
    created = paris(2025, 11, 15, 22)
    d = decide(
        created,
        audience=Audience.PARENTS,
        sender_role=role,
        urgent=True,
        justification="Collège fermé lundi : alerte météo",
    )
    assert not d.held
    assert d.release_at == created
    assert d.codes == ("urgent_override",)
    assert "alerte météo" in d.reasons[0].label_fr
    assert d.explanation_fr().startswith("Diffusion immédiate : urgence")


def test_head_of_school_urgent_without_justification_is_refused_and_held() -> None:
    d = decide(
        paris(2025, 11, 15, 22),
        sender_role=SenderRole.CHEF_ETABLISSEMENT,
        urgent=True,
        justification="   ",
    )
    assert d.held
    assert d.release_at == paris(2025, 11, 17, 7)
    assert d.codes == ("weekend", "urgent_refused")
    assert d.reasons[-1].label_fr == "Urgence non retenue : justification manquante"


@pytest.mark.parametrize(
    "role", [SenderRole.TEACHER, SenderRole.CPE, SenderRole.ADJOINT, SenderRole.SYSTEM]
)
def test_urgent_from_anyone_else_is_refused_and_held(role: SenderRole) -> None:
    d = decide(
        paris(2025, 11, 18, 21), sender_role=role, urgent=True, justification="sortie annulée"
    )
    assert d.held
    assert d.release_at == paris(2025, 11, 19, 7)
    assert d.codes == ("night", "urgent_refused")
    assert f"(rôle {role.value})" in d.reasons[-1].label_fr


def test_teacher_urgent_explanation_sentence() -> None:
    d = decide(paris(2025, 11, 18, 21), sender_role=SenderRole.TEACHER, urgent=True)
    assert d.explanation_fr() == (
        "Diffusion différée au mercredi 19 novembre à 7 h 00 : nuit (20 h – 7 h) "
        "(urgence non retenue : réservée au chef d'établissement ou au directeur d'école "
        "(rôle teacher))"
    )


def test_urgent_flag_in_an_open_slot_changes_nothing() -> None:
    d = decide(paris(2025, 11, 18, 10), sender_role=SenderRole.TEACHER, urgent=True)
    assert not d.held
    assert d.codes == ()


# -- reasons ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("created", "code", "label_fr", "label_en"),
    [
        (paris(2025, 11, 18, 21), "night", "Nuit (20 h – 7 h)", "Night (20:00–07:00)"),
        (paris(2025, 11, 15, 10), "weekend", "Week-end", "Weekend"),
        (paris(2025, 11, 11, 10), "public_holiday", "Armistice", "Armistice Day"),
        (
            paris(2025, 10, 20, 10),
            "school_holiday",
            "Vacances de la Toussaint",
            "All Saints' holidays",
        ),
        (paris(2026, 2, 23, 10), "school_holiday", "Vacances d'hiver", "Winter holidays"),
    ],
)
def test_reason_codes_and_labels(
    created: datetime, code: str, label_fr: str, label_en: str
) -> None:
    d = decide(created)
    first = d.reasons[0]
    assert (first.code.value, first.label_fr, first.label_en) == (code, label_fr, label_en)
    assert d.to_dict()["reasons"][0] == {"code": code, "label_fr": label_fr, "label_en": label_en}


def test_reason_codes_are_the_documented_stable_set() -> None:
    assert {c.value for c in ReasonCode} == {
        "night",
        "weekend",
        "public_holiday",
        "school_holiday",
        "closure",
        "grade_parent_delay",
        "grade_publication",  # a grade waiting for the policy's publication hour (issue 10)
        "urgent_override",
        "urgent_refused",
    }


def test_quiet_windows_with_reasons() -> None:
    windows = zone("C").quiet_windows(paris(2025, 10, 16, 0), paris(2025, 11, 4, 0))
    spans = [(w.start, w.end, tuple(r.code.value for r in w.reasons)) for w in windows]
    assert spans == [
        (paris(2025, 10, 16, 0), paris(2025, 10, 16, 7), ("night",)),
        (paris(2025, 10, 16, 20), paris(2025, 10, 17, 7), ("night",)),
        (
            paris(2025, 10, 17, 20),
            paris(2025, 11, 3, 7),
            ("school_holiday", "public_holiday", "weekend"),
        ),
        (paris(2025, 11, 3, 20), paris(2025, 11, 4, 0), ("night",)),
    ]
    assert windows[2].reasons[1].label_fr == "Toussaint"
    assert windows[2].to_dict()["start"] == "2025-10-17T20:00:00+02:00"


def test_quiet_windows_of_an_open_stretch_is_empty() -> None:
    assert zone("C").quiet_windows(paris(2025, 11, 18, 8), paris(2025, 11, 18, 19)) == []


# -- overseas --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "tz"),
    [
        ("Réunion", "Indian/Reunion"),
        ("Mayotte", "Indian/Mayotte"),
        ("Guadeloupe", "America/Guadeloupe"),
        ("Martinique", "America/Martinique"),
        ("Guyane", "America/Cayenne"),
        ("Nouvelle-Calédonie", "Pacific/Noumea"),
        ("Polynésie", "Pacific/Tahiti"),
        ("Saint-Pierre-et-Miquelon", "America/Miquelon"),
        ("Wallis-et-Futuna", "Pacific/Wallis"),
    ],
)
def test_overseas_open_hours_are_local(where: str, tz: str) -> None:
    s = zone(where)
    local = ZoneInfo(tz)
    # Find a school day in November 2025 (calendars differ), then check 06:59 / 07:00 there.
    day = next(
        date(2025, 11, 3) + timedelta(days=i)
        for i in range(60)
        if not s.is_quiet(datetime.combine(date(2025, 11, 3) + timedelta(days=i), time(12), local))
    )
    assert s.is_quiet(datetime.combine(day, time(6, 59), local))
    assert not s.is_quiet(datetime.combine(day, time(7), local))
    assert not s.is_quiet(datetime.combine(day, time(19, 59), local))
    assert s.is_quiet(datetime.combine(day, time(20), local))
    released = s.next_open(datetime.combine(day, time(3), local))
    assert str(released.tzinfo) == tz
    assert released == datetime.combine(day, time(7), local)


def test_reunion_7h_is_not_paris_7h() -> None:
    reunion = zone("Réunion")
    seven = datetime(2025, 11, 18, 7, tzinfo=ZoneInfo("Indian/Reunion"))
    assert not reunion.is_quiet(seven)
    assert reunion.is_quiet(seven - timedelta(minutes=1))
    # 07:00 in Paris is 10:00 in Réunion; 04:00 in Paris is 07:00 there.
    assert zone("C").is_quiet(seven)
    d = reunion.decide(
        Message(kind=Kind.MESSAGE, audience="students", created_at=paris(2025, 11, 17, 23))
    )
    assert d.release_at.isoformat() == "2025-11-18T07:00:00+04:00"
    assert d.timezone == "Indian/Reunion"


# -- policies ---------------------------------------------------------------------------------


def test_stricter_hours_0730_1900() -> None:
    s = Scheduler(
        Policy(open_hours=OpenHours(start=time(7, 30), end=time(19))), Establishment(zone="C")
    )
    assert s.is_quiet(paris(2025, 11, 18, 7, 29))
    assert not s.is_quiet(paris(2025, 11, 18, 7, 30))
    assert not s.is_quiet(paris(2025, 11, 18, 18, 59))
    assert s.is_quiet(paris(2025, 11, 18, 19))
    d = s.decide(Message(kind="message", audience="students", created_at=paris(2025, 11, 18, 19)))
    assert d.release_at == paris(2025, 11, 19, 7, 30)
    assert d.explanation_fr() == (
        "Diffusion différée au mercredi 19 novembre à 7 h 30 : nuit (19 h – 7 h 30)"
    )


STRIKE = Closure(start=date(2025, 12, 4), label="Grève", establishments=frozenset({"0750001A"}))


def test_closure_day_is_quiet_only_for_the_named_establishment() -> None:
    policy = Policy(closures=(STRIKE,))
    closed = Scheduler(policy, Establishment(uai="0750001A"))
    other = Scheduler(policy, Establishment(uai="0750002B"))
    assert closed.is_quiet(paris(2025, 12, 4, 10))
    assert not other.is_quiet(paris(2025, 12, 4, 10))
    d = closed.decide(
        Message(kind="message", audience="parents", created_at=paris(2025, 12, 3, 21))
    )
    assert d.release_at == paris(2025, 12, 5, 7)
    assert [(r.code.value, r.label_fr) for r in d.reasons] == [("closure", "Grève")]
    assert (
        d.explanation_fr()
        == "Diffusion aux parents différée au vendredi 5 décembre à 7 h 00 : Grève"
    )


def test_closure_spanning_days_and_limited_to_an_audience() -> None:
    exams = Closure(
        start=date(2026, 6, 15),
        end=date(2026, 6, 17),
        label="Centre d'examen",
        audiences=frozenset({Audience.STUDENTS, Audience.PARENTS}),
    )
    s = Scheduler(Policy(closures=(exams,)), Establishment(uai="0750001A"))
    for day in (15, 16, 17):
        assert s.is_quiet(paris(2026, 6, day), audience="students")
        assert not s.is_quiet(paris(2026, 6, day), audience="staff")
    assert not s.is_quiet(paris(2026, 6, 18), audience="students")


def test_per_audience_hours_override() -> None:
    policy = Policy(audiences={Audience.PARENTS: AudienceRule(open_hours=OpenHours(start=time(8)))})
    s = Scheduler(policy, Establishment(zone="C"))
    t = paris(2025, 11, 18, 7, 30)
    assert not s.is_quiet(t, audience="students")
    assert s.is_quiet(t, audience="parents")
    assert s.next_open(t, audience="parents") == paris(2025, 11, 18, 8)
    assert not s.is_quiet(t, audience="staff")


def test_default_audience_is_students() -> None:
    s = zone("C")
    t = paris(2026, 8, 31, 10)  # teachers are back, students are not
    assert s.is_quiet(t) == s.is_quiet(t, audience="students") is True
    assert s.next_open(t) == s.next_open(t, audience=Audience.STUDENTS)


# -- bad input ------------------------------------------------------------------------------

NAIVE = datetime(2025, 11, 18, 10)


def test_naive_datetimes_are_refused_everywhere() -> None:
    s = zone("C")
    with pytest.raises(NaiveDatetimeError, match="t: naive datetime"):
        s.is_quiet(NAIVE)
    with pytest.raises(NaiveDatetimeError):
        s.next_open(NAIVE)
    with pytest.raises(NaiveDatetimeError, match="start"):
        s.quiet_windows(NAIVE, paris(2025, 11, 19))
    with pytest.raises(NaiveDatetimeError, match="end"):
        s.quiet_windows(paris(2025, 11, 17), NAIVE)
    with pytest.raises(NaiveDatetimeError, match="created_at"):
        Message(kind="message", audience="students", created_at=NAIVE)
    with pytest.raises(NaiveDatetimeError, match="publish_to_students_at"):
        Message(
            kind="grade",
            audience="students",
            created_at=paris(2025, 11, 17),
            publish_to_students_at=NAIVE,
        )


@pytest.mark.parametrize("moment", [datetime(2040, 1, 2, 10, tzinfo=PARIS), paris(2017, 6, 1)])
def test_out_of_range_instants_name_the_covered_range(moment: datetime) -> None:
    s = zone("C")
    covered = "2018-01-01 to 2031-12-31"
    for call in (
        lambda: s.is_quiet(moment),
        lambda: s.next_open(moment),
        lambda: s.next_open_many([moment.timestamp()]),
        lambda: s.quiet_windows(moment, moment + timedelta(days=1)),
        lambda: s.decide(Message(kind="message", audience="students", created_at=moment)),
    ):
        with pytest.raises(OutOfRangeError, match=covered):
            call()


def test_next_open_past_the_compiled_range_is_out_of_range() -> None:
    with pytest.raises(OutOfRangeError, match="next open moment after"):
        zone("C").next_open(paris(2031, 12, 31, 21))


# -- batch, cache, threads --------------------------------------------------------------------


def test_next_open_many_equals_next_open_elementwise() -> None:
    s = zone("C")
    start = paris(2025, 9, 1, 0).timestamp()
    epochs = [start + i * 3571.3 for i in range(3000)]  # ~4.5 months, every phase of the day
    for audience in Audience:
        batch = s.next_open_many(epochs, audience=audience)
        single = [
            s.next_open(datetime.fromtimestamp(e, UTC), audience=audience).timestamp()
            for e in epochs
        ]
        assert batch == single


def test_compiled_windows_are_shared_between_establishments_with_one_calendar() -> None:
    a = Scheduler(Policy.national(), Establishment(uai="0750001A"))
    b = Scheduler(Policy.national(), Establishment(uai="0751234B"))
    lyon = Scheduler(Policy.national(), Establishment(uai="0691234C"))
    assert a.windows() is b.windows()
    assert a.windows("staff") is b.windows("staff")
    assert a.windows() is not lyon.windows()
    assert a.windows() is not a.windows("staff")


def test_clear_cache_recompiles_the_same_windows() -> None:
    before = Scheduler(Policy.national(), Establishment(uai="0750001A")).windows()
    clear_cache()
    after = Scheduler(Policy.national(), Establishment(uai="0750001A")).windows()
    assert after is not before
    assert list(after.bounds) == list(before.bounds)


def _messages() -> list[Message]:
    out = []
    start = paris(2025, 9, 1, 0)
    kinds, audiences, roles = list(Kind), list(Audience), list(SenderRole)
    for i in range(400):
        out.append(
            Message(
                kind=kinds[i % len(kinds)],
                audience=audiences[i % len(audiences)],
                created_at=start + timedelta(minutes=997 * i),
                sender_role=roles[i % len(roles)],
                urgent=i % 5 == 0,
                justification="motif" if i % 10 == 0 else None,
            )
        )
    return out


def test_deciding_from_eight_threads_gives_the_sequential_results() -> None:
    messages = _messages()
    clear_cache()
    sequential = [zone_scheduler().decide(m) for m in messages]
    clear_cache()

    def work(offset: int) -> list[Decision]:
        s = zone_scheduler()  # each thread compiles or finds the shared windows
        rotated = messages[offset:] + messages[:offset]
        decided = [s.decide(m) for m in rotated]
        return decided[-offset:] + decided[:-offset] if offset else decided

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, [i * 50 for i in range(8)]))
    for result in results:
        assert result == sequential


def zone_scheduler() -> Scheduler:
    return Scheduler(Policy.national(), Establishment(uai="0931234Z"))


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (paris(2031, 12, 31, 21).timestamp(), "next open moment after 2031-12-31T21:00:00+01:00"),
        (paris(2017, 12, 31, 21).timestamp(), "instant 2017-12-31T21:00:00+01:00 is outside"),
        (paris(2032, 1, 2).timestamp(), "instant 2032-01-02T12:00:00+01:00 is outside"),
        (float("nan"), "instant nan (epoch seconds) is outside"),
        (float("inf"), "instant inf (epoch seconds) is outside"),
        (float("-inf"), "instant -inf (epoch seconds) is outside"),
    ],
)
def test_next_open_many_refuses_a_batch_with_one_bad_instant(bad: float, says: str) -> None:
    good = paris(2025, 11, 18).timestamp()
    with pytest.raises(OutOfRangeError, match=re.escape(says)):
        zone("C").next_open_many([good, bad, good])


def test_next_open_many_at_the_edges_of_the_range() -> None:
    """The first covered instant is answered like `next_open`; the one before it is refused,
    alone or after good instants (the fast path's table has an entry before the range)."""
    s = zone("C")
    w = s.windows(Audience.STUDENTS)
    first = datetime.combine(w.first_day, time(0), s.tz).timestamp()
    expected = s.next_open(datetime.fromtimestamp(first, s.tz)).timestamp()
    assert s.next_open_many([first, first + 1]) == [expected, expected]
    good = paris(2025, 11, 18).timestamp()
    for batch in ([first - 1], [good, first - 1e-3], [first - 86400 * 365, good]):
        with pytest.raises(OutOfRangeError, match="is outside"):
            s.next_open_many(batch)


def test_next_open_many_of_nothing_is_nothing() -> None:
    assert zone("C").next_open_many([]) == []


def test_urgent_grade_from_the_head_keeps_the_parents_24h_delay() -> None:
    d = zone("C").decide(
        Message(
            kind=Kind.GRADE,
            audience=Audience.PARENTS,
            created_at=paris(2025, 11, 14, 17),
            sender_role=SenderRole.CHEF_ETABLISSEMENT,
            urgent=True,
            justification="erreur de saisie",
        )
    )
    assert d.held and d.release_at == paris(2025, 11, 17, 7)
    assert d.codes[0] == "grade_parent_delay" and d.codes[-1] == "urgent_refused"
    assert "une note n'est pas une urgence" in d.reasons[-1].label_fr


def test_urgent_override_outside_the_compiled_range_is_refused() -> None:
    with pytest.raises(OutOfRangeError, match="2040"):
        zone("C").decide(
            Message(
                kind=Kind.MESSAGE,
                audience=Audience.PARENTS,
                created_at=paris(2040, 1, 1, 22),
                sender_role=SenderRole.CHEF_ETABLISSEMENT,
                urgent=True,
                justification="alerte",
            )
        )
