"""Grade publication hours (`Policy.grade_publication`): grades reach students at set hours.

Zone C, 2025: Tue 18 Nov is a school day, Fri 19 Dec the last day before Christmas (classes
resume Mon 5 Jan 2026).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconnexion.core.audit import audit_policy
from deconnexion.core.message import Kind, Message
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.errors import PolicyError

PARIS = ZoneInfo("Europe/Paris")
NOON_AND_FIVE = Policy(grade_publication=["12:00", "17:00"])


def paris(month: int, day: int, hour: int, minute: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def grade(created: datetime, audience: str = "students", **extra: Any) -> Any:
    s = Scheduler(NOON_AND_FIVE, zone="C")
    return s.decide(Message(kind=Kind.GRADE, audience=audience, created_at=created, **extra))


def test_grade_entered_at_13_10_reaches_students_at_17_00() -> None:
    decision = grade(paris(11, 18, 13, 10))
    assert decision.release_at == paris(11, 18, 17)
    assert decision.codes == ("grade_publication",)
    assert decision.explanation_fr() == (
        "Diffusion différée au mardi 18 novembre à 17 h 00 : publication des notes à 17 h"
    )
    assert decision.reasons[0].label_en == "Grades published at 17:00"


def test_grade_entered_at_18_00_reaches_students_the_next_school_day_at_noon() -> None:
    decision = grade(paris(11, 18, 18))
    assert decision.release_at == paris(11, 19, 12)
    assert decision.codes == ("night", "grade_publication")
    assert "publication des notes à 12 h" in decision.explanation_fr()


def test_grade_entered_friday_evening_reaches_students_monday_noon() -> None:
    decision = grade(paris(11, 21, 18, 30))
    assert decision.release_at == paris(11, 24, 12)
    assert decision.codes == ("weekend", "grade_publication")
    assert decision.explanation_fr() == (
        "Diffusion différée au lundi 24 novembre à 12 h 00 : week-end, puis publication des "
        "notes à 12 h"
    )


def test_grade_entered_on_the_last_evening_of_term_waits_for_the_first_noon_after_holidays() -> (
    None
):
    decision = grade(paris(12, 19, 18))
    assert decision.release_at == paris(1, 5, 12, year=2026)
    assert decision.reasons[0].label_fr == "Vacances de Noël"


def test_grade_entered_at_a_publication_hour_goes_at_once() -> None:
    decision = grade(paris(11, 18, 17))
    assert not decision.held
    assert decision.release_at == paris(11, 18, 17)


def test_grade_entered_before_dawn_waits_for_noon_not_for_seven() -> None:
    assert grade(paris(11, 18, 6)).release_at == paris(11, 18, 12)


def test_scheduled_publication_is_rounded_up_to_the_next_publication_hour() -> None:
    decision = grade(paris(11, 18, 9), publish_to_students_at=paris(11, 18, 14))
    assert decision.release_at == paris(11, 18, 17)


def test_parents_delay_counts_from_the_students_publication() -> None:
    decision = grade(paris(11, 18, 13, 10), audience="parents")
    assert decision.students_release_at == paris(11, 18, 17)
    assert decision.release_at == paris(11, 19, 17)
    assert decision.codes == ("grade_parent_delay",)


def test_parents_of_a_friday_grade_wait_for_monday_morning() -> None:
    decision = grade(paris(11, 21, 13, 10), audience="parents")
    assert decision.students_release_at == paris(11, 21, 17)
    assert decision.release_at == paris(11, 24, 7)  # Saturday 17:00 is quiet


def test_other_kinds_and_staff_are_not_held_for_publication_hours() -> None:
    s = Scheduler(NOON_AND_FIVE, zone="C")
    at = paris(11, 18, 13, 10)
    homework = s.decide(Message(kind=Kind.HOMEWORK, audience="students", created_at=at))
    staff = s.decide(Message(kind=Kind.GRADE, audience="staff", created_at=at))
    assert not homework.held and not staff.held


def test_without_publication_hours_a_grade_goes_at_the_next_open_moment() -> None:
    s = Scheduler(Policy.national(), zone="C")
    at = paris(11, 18, 13, 10)
    assert not s.decide(Message(kind=Kind.GRADE, audience="students", created_at=at)).held


def test_publication_hours_follow_the_establishments_own_time_zone() -> None:
    marquesas = ZoneInfo("Pacific/Marquesas")
    s = Scheduler(NOON_AND_FIVE, Establishment(zone="Polynésie", timezone="Pacific/Marquesas"))
    created = datetime(2025, 11, 18, 13, 10, tzinfo=marquesas)
    decision = s.decide(Message(kind=Kind.GRADE, audience="students", created_at=created))
    assert decision.release_at == datetime(2025, 11, 18, 17, tzinfo=marquesas)


# -- the policy field -------------------------------------------------------------------------


def test_publication_hours_are_sorted_and_deduplicated() -> None:
    policy = Policy(grade_publication=["17:00", "12:00", "17:00"])
    assert policy.grade_publication == (time(12), time(17))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["21:00"], r"grade_publication: 21:00 outside the students' open hours 07:00–20:00"),
        (["06:59"], r"06:59 outside the students' open hours"),
        (["20:00"], r"20:00 outside"),  # open hours end at 20:00 (exclusive)
        (["17h"], r"grade_publication: '17h' is not a time of day: expected .*HH:MM"),
        (["25:00"], r"'25:00' is not a time of day"),
        ([17], r"17 is not a time of day"),
    ],
)
def test_bad_publication_hours_are_refused_naming_field_value_and_accepted(
    value: Any, message: str
) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        Policy.from_mapping({"grade_publication": value})
    assert isinstance(info.value, ValueError)
    assert '["12:00", "17:00"]' in str(info.value)


def test_publication_hours_must_lie_inside_the_students_own_open_hours() -> None:
    with pytest.raises(PolicyError, match=r"18:30 outside the students' open hours 08:00–18:00"):
        Policy.from_mapping(
            {
                "grade_publication": ["12:00", "18:30"],
                "audiences": {"students": {"open_hours": {"start": "08:00", "end": "18:00"}}},
            }
        )
    with pytest.raises(PolicyError, match=r"07:30 outside the students' open hours 08:00–19:00"):
        Policy.from_mapping(
            {"grade_publication": ["07:30"], "open_hours": {"start": "08:00", "end": "19:00"}}
        )


def test_policy_files_accept_publication_hours(tmp_path: Path) -> None:
    toml = tmp_path / "policy.toml"
    toml.write_text('grade_publication = ["12:00", "17:00"]\n', encoding="utf-8")
    as_local_times = tmp_path / "times.toml"
    as_local_times.write_text("grade_publication = [12:00:00, 17:00:00]\n", encoding="utf-8")
    as_json = tmp_path / "policy.json"
    as_json.write_text(json.dumps({"grade_publication": ["12:00", "17:00"]}), encoding="utf-8")
    for path in (toml, as_local_times, as_json):
        assert Policy.from_file(path).grade_publication == (time(12), time(17)), path
    bad = tmp_path / "bad.toml"
    bad.write_text('grade_publication = ["22:00"]\n', encoding="utf-8")
    with pytest.raises(PolicyError, match=r"bad\.toml.*grade_publication: 22:00 outside"):
        Policy.from_file(bad)


def test_publication_hours_change_the_policy_fingerprint() -> None:
    assert NOON_AND_FIVE.fingerprint != Policy.national().fingerprint


# -- audit --------------------------------------------------------------------------------------


def test_audit_shows_the_publication_hours() -> None:
    requirement = audit_policy({"grade_publication": ["12:00", "17:00"]}).get("grade_students")
    assert requirement.status == "pass"
    assert "12:00, 17:00" in requirement.reason
    assert "recommandation 11" in requirement.source
    national = audit_policy(Policy.national()).get("grade_students")
    assert "next open moment" in national.reason


def test_audit_fails_publication_hours_outside_the_files_open_hours() -> None:
    data = {"grade_publication": ["19:30"], "open_hours": {"start": "08:00", "end": "19:00"}}
    report = audit_policy(data)
    requirement = report.get("grade_students")
    assert requirement.status == "fail"
    assert "grade_publication" in requirement.reason and "19:30" in requirement.reason
    assert [r.id for r in report.failures] == ["grade_students"]


def test_audit_command_prints_the_publication_hours(tmp_path: Path) -> None:
    import subprocess

    policy = tmp_path / "policy.toml"
    policy.write_text('grade_publication = ["12:00", "17:00"]\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "deconnexion", "audit", str(policy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[PASS] grade_students" in done.stdout
    assert "12:00, 17:00" in done.stdout


# -- the gate ------------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["grade", "body:kind"])  # a constant kind, or read from the body
async def test_gate_holds_a_students_grade_until_the_publication_hour_even_when_open(
    kind: str,
) -> None:
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from deconnexion.hold.queue import HoldQueue
    from deconnexion.store import MemoryStore
    from deconnexion.web.middleware import DeconnexionMiddleware
    from deconnexion.web.tenant import fixed

    seen: list[bytes] = []

    async def publish(request: Request) -> Response:
        seen.append(await request.body())
        return JSONResponse({"ok": True}, status_code=201)

    upstream = Starlette(routes=[Route("/grades", publish, methods=["POST"])])
    store = MemoryStore()
    now = paris(11, 18, 13, 10).timestamp()
    app = DeconnexionMiddleware(
        upstream,
        queue=HoldQueue(store),
        routes=[{"path": "/grades", "kind": kind, "audience": "students"}],
        policy=NOON_AND_FIVE,
        establishment=fixed(Establishment(uai="0750001A")),
        clock=lambda: now,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ent"
    ) as client:
        held = await client.post("/grades", json={"kind": "grade", "note": 15})
        other = await client.post("/grades", json={"kind": "homework"})
    assert held.status_code == 202
    assert held.json()["release_at"] == "2025-11-18T17:00:00+01:00"
    assert "publication des notes à 17 h" in held.json()["explanation_fr"]
    if kind == "body:kind":
        assert other.status_code == 201  # not a grade: open now, forwarded
        assert len(seen) == 1
    else:
        assert seen == []


# -- invariants ----------------------------------------------------------------------------------


_PLACES = {
    "C": Establishment(zone="C"),
    "Réunion": Establishment(zone="Réunion"),
    "Nuku Hiva": Establishment(zone="Polynésie", timezone="Pacific/Marquesas"),
    "Rikitea": Establishment(zone="Polynésie", timezone="Pacific/Gambier"),
}
_SCHEDULERS = {k: Scheduler(NOON_AND_FIVE, e) for k, e in _PLACES.items()}
_FIRST = datetime(2024, 9, 1, tzinfo=PARIS).timestamp()
_LAST = datetime(2026, 6, 1, tzinfo=PARIS).timestamp()


@settings(max_examples=150, deadline=None)
@given(
    place=st.sampled_from(sorted(_PLACES)),
    minute=st.integers(int(_FIRST // 60), int(_LAST // 60)),
)
def test_grades_reach_students_at_an_open_publication_hour_and_parents_a_day_later(
    place: str, minute: int
) -> None:
    s = _SCHEDULERS[place]
    created = datetime.fromtimestamp(minute * 60, s.tz)
    students = s.decide(Message(kind=Kind.GRADE, audience="students", created_at=created))
    parents = s.decide(Message(kind=Kind.GRADE, audience="parents", created_at=created))
    release = students.release_at
    assert release >= created
    assert release.astimezone(s.tz).time() in NOON_AND_FIVE.grade_publication
    assert not s.is_quiet(release, "students")
    assert parents.students_release_at == release
    assert parents.release_at - release >= NOON_AND_FIVE.grade_parent_delay
    assert not s.is_quiet(parents.release_at, "parents")
