"""The conformance audit: one verdict per national requirement, failures named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deconnexion.core.audit import REQUIREMENTS, audit_policy
from deconnexion.core.policy import NATIONAL_SOURCES, Policy

REQUIREMENT_IDS = [
    "weekday_nights",
    "weekend",
    "school_holidays",
    "public_holidays",
    "urgency",
    "grade_students",
    "grade_parent_delay",
    "access",
]


def statuses(data: Any, routes: Any = None) -> dict[str, str]:
    return {r.id: r.status for r in audit_policy(data, routes).requirements}


def test_national_policy_passes_every_requirement_with_its_source() -> None:
    report = audit_policy(Policy.national())
    assert [r.id for r in report.requirements] == REQUIREMENT_IDS
    assert report.conformant
    assert all(r.status == "pass" for r in report.requirements)
    sources = {r.id: r.source for r in report.requirements}
    assert NATIONAL_SOURCES["open_hours"] in sources["weekday_nights"]
    assert NATIONAL_SOURCES["grade_parent_delay"] in sources["grade_parent_delay"]
    assert NATIONAL_SOURCES["access"] in sources["access"]
    assert all(r.reason for r in report.requirements)


def test_empty_file_is_the_national_rule_and_passes() -> None:
    assert audit_policy({}).conformant


def test_stricter_policy_passes() -> None:
    report = audit_policy(
        {
            "open_hours": {"start": "08:00", "end": "19:00"},
            "weekend_days": ["wednesday", "saturday", "sunday"],
            "urgent_roles": ["chef_etablissement"],
            "grade_parent_delay": 48,
        }
    )
    assert report.conformant, report.to_text()
    assert "08:00–19:00" in report.get("weekday_nights").reason


def test_hours_21h_to_6h_fail_weekday_nights_naming_the_field_and_value() -> None:
    # Not even a valid Policy: from_mapping would refuse it; the audit reports it instead.
    report = audit_policy({"open_hours": {"start": "21:00", "end": "06:00"}})
    night = report.get("weekday_nights")
    assert night.status == "fail"
    assert "open_hours" in night.reason
    assert "21:00" in night.reason and "06:00" in night.reason
    assert not report.conformant
    assert [r.id for r in report.failures] == ["weekday_nights"]


def test_hours_wider_than_national_fail_weekday_nights() -> None:
    report = audit_policy({"open_hours": {"start": "06:30", "end": "21:00"}})
    assert report.get("weekday_nights").status == "fail"
    assert "06:30–21:00" in report.get("weekday_nights").reason


def test_looser_hours_for_parents_only_fail_weekday_nights() -> None:
    report = audit_policy({"audiences": {"parents": {"open_hours": {"end": "21:30"}}}})
    assert report.get("weekday_nights").status == "fail"
    assert "parents" in report.get("weekday_nights").reason


def test_teachers_allowed_urgent_fail_urgency_naming_the_role() -> None:
    report = audit_policy({"urgent_roles": ["teacher", "chef_etablissement"]})
    urgency = report.get("urgency")
    assert urgency.status == "fail"
    assert "teacher" in urgency.reason and "urgent_roles" in urgency.reason
    assert [r.id for r in report.failures] == ["urgency"]


def test_urgent_without_justification_fails_urgency() -> None:
    report = audit_policy({"urgent_requires_justification": False})
    assert report.get("urgency").status == "fail"
    assert "justification" in report.get("urgency").reason


def test_unknown_role_fails_urgency_naming_the_value() -> None:
    report = audit_policy({"urgent_roles": ["principal"]})
    assert report.get("urgency").status == "fail"
    assert "'principal'" in report.get("urgency").reason


@pytest.mark.parametrize("delay", [0, "0h", "PT0S"])
def test_no_parents_delay_fails_grade_parent_delay(delay: Any) -> None:
    report = audit_policy({"grade_parent_delay": delay})
    grades = report.get("grade_parent_delay")
    assert grades.status == "fail"
    assert "grade_parent_delay" in grades.reason and "24 h" in grades.reason
    assert [r.id for r in report.failures] == ["grade_parent_delay"]


def test_negative_delay_fails_grade_parent_delay() -> None:
    report = audit_policy({"grade_parent_delay": -2})
    assert report.get("grade_parent_delay").status == "fail"
    assert "negative" in report.get("grade_parent_delay").reason


@pytest.mark.parametrize(
    ("data", "failing"),
    [
        ({"weekend_days": ["sunday"]}, "weekend"),
        ({"school_holidays": False}, "school_holidays"),
        ({"public_holidays": False}, "public_holidays"),
    ],
)
def test_each_quiet_window_requirement_fails_alone(data: dict[str, Any], failing: str) -> None:
    assert {k for k, v in statuses(data).items() if v == "fail"} == {failing}


def test_declared_deviation_is_listed_as_deviation_not_pass() -> None:
    report = audit_policy(
        {
            "school_holidays": False,
            "deviations": [
                {
                    "field": "school_holidays",
                    "justification": "Internat ouvert pendant les vacances",
                    "approved_by": "DASEN 75",
                }
            ],
        }
    )
    holidays = report.get("school_holidays")
    assert holidays.status == "deviation"
    assert "Internat ouvert" in holidays.reason and "DASEN 75" in holidays.reason
    assert not report.conformant
    assert report.failures == ()
    assert report.deviations[0]["field"] == "school_holidays"
    assert report.deviations[0]["applies"] is True
    assert "DEVIATION" in report.to_text()


def test_deviation_declared_for_a_valid_policy_object() -> None:
    policy = Policy.from_mapping(
        {
            "open_hours": {"start": "07:00", "end": "20:30"},
            "deviations": [{"field": "open_hours", "justification": "Lycée avec BTS du soir"}],
        }
    )
    report = audit_policy(policy)
    assert report.get("weekday_nights").status == "deviation"


def test_unneeded_deviation_is_listed_but_requirement_passes() -> None:
    report = audit_policy({"deviations": [{"field": "weekend_days", "justification": "au cas où"}]})
    assert report.get("weekend").status == "pass"
    assert report.deviations[0]["applies"] is False


def test_deviation_does_not_cover_another_field_of_the_same_requirement() -> None:
    report = audit_policy(
        {
            "urgent_roles": ["cpe", "chef_etablissement"],
            "urgent_requires_justification": False,
            "deviations": [{"field": "urgent_roles", "justification": "CPE d'astreinte"}],
        }
    )
    assert report.get("urgency").status == "fail"
    assert "justification" in report.get("urgency").reason


def test_unknown_field_and_bad_deviation_fail_policy_file() -> None:
    report = audit_policy(
        {"open_hour": {"start": "07:00"}, "deviations": [{"field": "nope", "justification": "x"}]}
    )
    bad = report.get("policy_file")
    assert bad.status == "fail"
    assert "open_hour" in bad.reason and "'nope'" in bad.reason
    assert all(r.status == "pass" for r in report.requirements if r.id != "policy_file")


def test_routes_gating_reads_or_entry_fail_access() -> None:
    routes = {
        "routes": [
            {"path": "/api/notifications", "methods": ["POST"]},
            {"path": "/api/notes/{id}", "methods": ["GET"]},
            {"path": "/api/notes/{id}", "method": "patch"},
        ]
    }
    access = audit_policy(Policy.national(), routes).get("access")
    assert access.status == "fail"
    assert "GET /api/notes/{id}" in access.reason
    assert "PATCH /api/notes/{id}" in access.reason


def test_routes_gating_only_diffusion_pass_access() -> None:
    routes = [{"path": "/api/notifications"}, {"path": "/api/grades/{id}/publish"}]
    access = audit_policy(Policy.national(), routes).get("access")
    assert access.status == "pass"
    assert "2 gated route(s)" in access.reason


def test_routes_inside_the_policy_file_are_checked() -> None:
    data = {"routes": [{"path": "/api/messages", "methods": ["GET", "POST"]}]}
    assert statuses(data)["access"] == "fail"


def test_to_dict_is_json_ready_and_counts() -> None:
    out = audit_policy({"grade_parent_delay": 0}).to_dict()
    json.dumps(out)
    assert out["conformant"] is False
    assert out["counts"] == {"pass": 7, "fail": 1, "deviation": 0}
    assert {r["id"] for r in out["requirements"]} == set(REQUIREMENT_IDS)


def test_every_requirement_cites_a_national_source() -> None:
    for spec in REQUIREMENTS:
        assert all(s in NATIONAL_SOURCES for s in spec.sources)


# -- command line ------------------------------------------------------------------------------
