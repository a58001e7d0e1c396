"""Policies: the national rule, files, stricter vs looser, and errors that name the field."""

from __future__ import annotations

import json
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from deconnexion.core.message import Audience, SenderRole
from deconnexion.core.policy import NATIONAL_SOURCES, Closure, OpenHours, Policy
from deconnexion.errors import InvalidInputError, PolicyError

HEADS = {SenderRole.DIRECTEUR_ECOLE, SenderRole.CHEF_ETABLISSEMENT}


def test_national_policy_is_the_rule_of_the_ministry() -> None:
    p = Policy.national()
    assert p.open_hours == OpenHours(start=time(7), end=time(20))
    assert p.weekend_days == {5, 6}
    assert p.school_holidays and p.public_holidays
    assert p.grade_parent_delay == timedelta(hours=24)
    assert p.urgent_roles == HEADS
    assert p.urgent_requires_justification
    assert p.closures == () and p.deviations == ()
    assert p.calendar_mode == "estimate"
    assert p.loosenings() == []
    for audience in Audience:
        assert p.hours_for(audience) == p.open_hours


def test_every_national_requirement_cites_its_source() -> None:
    for field in (
        "open_hours",
        "weekend_days",
        "school_holidays",
        "public_holidays",
        "urgent_roles",
        "urgent_requires_justification",
        "grade_parent_delay",
    ):
        assert "IGÉSR 24-25 140C" in NATIONAL_SOURCES[field]


def test_default_policy_equals_national_and_hashes_alike() -> None:
    assert Policy() == Policy.national()
    assert hash(Policy()) == hash(Policy.national())
    assert Policy().fingerprint == Policy.national().fingerprint
    assert Policy(grade_parent_delay=timedelta(hours=48)).fingerprint != Policy().fingerprint


STRICT_TOML = """
name = "collège Jean Moulin"
weekend_days = ["saturday", "sunday", "mercredi"]
grade_parent_delay = "48h"
calendar_mode = "strict"

[open_hours]
start = "07:30"
end = "19:00"

[audiences.parents.open_hours]
start = "08:00"
end = "18:30"

[[closures]]
start = 2025-12-04
label = "Grève"
establishments = ["0750001A"]

[[closures]]
start = 2026-06-15
end = 2026-06-17
label = "Centre d'examen"
audiences = ["students", "parents"]
"""


def test_stricter_toml_policy_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(STRICT_TOML, encoding="utf-8")
    p = Policy.from_file(path)
    assert p.name == "collège Jean Moulin"
    assert p.open_hours == OpenHours(start=time(7, 30), end=time(19))
    assert p.hours_for(Audience.PARENTS) == OpenHours(start=time(8), end=time(18, 30))
    assert p.hours_for(Audience.STAFF) == p.open_hours
    assert p.weekend_days == {2, 5, 6}
    assert p.grade_parent_delay == timedelta(hours=48)
    assert p.calendar_mode == "strict"
    assert p.closures[0] == Closure(
        start=date(2025, 12, 4), label="Grève", establishments=frozenset({"0750001A"})
    )
    assert p.closures[1].last == date(2026, 6, 17)
    assert p.closures[1].audiences == frozenset({Audience.STUDENTS, Audience.PARENTS})
    assert p.loosenings() == []


def test_json_policy_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(
        json.dumps({"open_hours": {"start": "08:00", "end": "18:00"}, "grade_parent_delay": 36}),
        encoding="utf-8",
    )
    p = Policy.from_file(path)
    assert p.open_hours == OpenHours(start=time(8), end=time(18))
    assert p.grade_parent_delay == timedelta(hours=36)  # a bare number is hours


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"open_hours": {"start": "06:30"}}, "open_hours", "06:30–20:00 exceed 07:00–20:00"),
        ({"open_hours": {"end": "21:00"}}, "open_hours", "07:00–21:00 exceed"),
        (
            {"audiences": {"parents": {"open_hours": {"end": "22:00"}}}},
            "open_hours",
            "open_hours for parents 07:00–22:00",
        ),
        ({"weekend_days": ["sunday"]}, "weekend_days", "omits saturday"),
        ({"school_holidays": False}, "school_holidays", "school_holidays = false"),
        ({"public_holidays": False}, "public_holidays", "public_holidays = false"),
        ({"urgent_roles": ["teacher", "chef_etablissement"]}, "urgent_roles", "adds teacher"),
        (
            {"urgent_requires_justification": False},
            "urgent_requires_justification",
            "without a justification",
        ),
        ({"grade_parent_delay": "12h"}, "grade_parent_delay", "12 h is shorter than 24 h"),
    ],
)
def test_looser_policy_is_refused_naming_the_field_unless_declared(
    data: dict[str, object], field: str, says: str
) -> None:
    with pytest.raises(PolicyError, match="looser than the national rule") as info:
        Policy.from_mapping(data)
    assert says in str(info.value)
    assert "[[deviations]]" in str(info.value)
    declared = Policy.from_mapping(
        {**data, "deviations": [{"field": field, "justification": "internat, validé en CA"}]}
    )
    assert [f for f, _ in declared.loosenings()] == [field]
    assert says in declared.loosenings()[0][1]


def test_deviation_for_another_field_does_not_excuse_a_loosening() -> None:
    with pytest.raises(PolicyError, match="school_holidays"):
        Policy.from_mapping(
            {
                "school_holidays": False,
                "deviations": [{"field": "open_hours", "justification": "internat"}],
            }
        )


def test_loosenings_lists_every_looser_field_for_the_audit() -> None:
    p = Policy.from_mapping(
        {"school_holidays": False, "weekend_days": [6], "grade_parent_delay": 0},
        allow_loose=True,
    )
    assert [f for f, _ in p.loosenings()] == [
        "weekend_days",
        "school_holidays",
        "grade_parent_delay",
    ]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.toml", 'open_hours = { start = "07:00"\n', ["not valid TOML", "line 1"]),
        ("bad.json", '{"open_hours": ', ["not valid JSON"]),
        (
            "unknown.toml",
            'colour = "blue"\n',
            ["colour", "Extra inputs", "'blue'", "accepted fields: audiences,", "weekend_days"],
        ),
        (
            "delay.toml",
            "[grade_parent_delay]\nhours = 48\n",
            ["grade_parent_delay", "{'hours': 48}", 'ISO 8601 duration such as "PT24H"'],
        ),
        (
            "weekday.toml",
            'weekend_days = ["samedi", "funday"]\n',
            ["weekend_days", "'funday'", "expected 0–6"],
        ),
        (
            "time.toml",
            '[open_hours]\nstart = "25:00"\n',
            ["open_hours.start", "'25:00'", 'a local time "HH:MM"'],
        ),
        (
            "order.toml",
            '[open_hours]\nstart = "19:00"\nend = "08:00"\n',
            ["open_hours", "start 19:00 must be before end 08:00"],
        ),
        (
            "deviation.toml",
            '[[deviations]]\nfield = "colour"\njustification = "because"\n',
            ["deviations.0.field", "'colour'"],
        ),
        (
            "closure.toml",
            "[[closures]]\nstart = 2025-12-05\nend = 2025-12-04\n",
            ["closures.0", "end 2025-12-04 is before start 2025-12-05"],
        ),
        ("policy.yaml", "open_hours: {}\n", ["unknown extension '.yaml'", ".toml or .json"]),
        ("list.json", "[1, 2]", ["expected a table/object"]),
    ],
)
def test_bad_policy_file_names_file_field_and_value(
    tmp_path: Path, name: str, text: str, expected: list[str]
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(PolicyError) as info:
        Policy.from_file(path)
    message = str(info.value)
    assert name in message
    for part in expected:
        assert part in message


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read it"):
        Policy.from_file(tmp_path / "absent.toml")


def test_policy_error_is_an_input_error() -> None:
    with pytest.raises(InvalidInputError):
        Policy.from_mapping({"open_hours": {"start": "nope"}})


def test_negative_delay_is_refused_even_for_the_audit() -> None:
    with pytest.raises(PolicyError, match="grade_parent_delay must not be negative"):
        Policy.from_mapping({"grade_parent_delay": -5}, allow_loose=True)


def test_closure_applies_to_named_establishments_and_audiences() -> None:
    closure = Closure(
        start=date(2025, 12, 4),
        establishments=frozenset({"0750001A"}),
        audiences=frozenset({Audience.STUDENTS}),
    )
    assert closure.applies_to(frozenset({"0750001A"}), Audience.STUDENTS)
    assert not closure.applies_to(frozenset({"0750001A"}), Audience.STAFF)
    assert not closure.applies_to(frozenset({"0750002B"}), Audience.STUDENTS)
    assert Closure(start=date(2025, 12, 4)).applies_to(frozenset(), Audience.PARENTS)
