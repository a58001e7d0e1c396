"""The command line for shell and JSON callers: `now` read when called, `--exit-status`, and
every error (argument errors included) as `{"error": {...}}` on stdout with `--json`."""

from __future__ import annotations

import json

import pytest
from freezegun import freeze_time

from deconnexion.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def error_of(out: str) -> dict[str, object]:
    data = json.loads(out)
    assert set(data["error"]) == {"code", "field", "value", "accepted", "message"}
    return data["error"]  # type: ignore[no-any-return]


def test_check_now_follows_a_frozen_clock_at_22h_quiet_until_7h(capsys):
    with freeze_time("2025-11-04 22:00:00+01:00"):
        code, out, _ = run(capsys, "check", "now", "--zone", "C", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["instant"] == "2025-11-04T22:00:00+01:00"
    assert data["quiet"] is True
    assert data["next_open"] == "2025-11-05T07:00:00+01:00"


def test_check_without_instant_is_now_and_reads_the_clock_at_each_call(capsys):
    with freeze_time("2025-11-04 10:00:00+01:00"):
        _, first, _ = run(capsys, "check", "--zone", "C", "--json")
    with freeze_time("2025-11-04 21:00:00+01:00"):
        _, second, _ = run(capsys, "check", "--zone", "C", "--json")
    assert json.loads(first)["quiet"] is False
    assert json.loads(second)["quiet"] is True


def test_release_without_created_is_created_now(capsys):
    with freeze_time("2025-11-14 21:00:00+01:00"):
        code, out, _ = run(
            capsys, "release", "--kind", "message", "--audience", "parents", "--zone", "C", "--json"
        )
    data = json.loads(out)
    assert code == 0
    assert data["held"] is True
    assert data["release_at"] == "2025-11-17T07:00:00+01:00"


@pytest.mark.parametrize(
    ("moment", "expected"), [("2025-11-04 10:00:00+01:00", 0), ("2025-11-04 22:00:00+01:00", 1)]
)
def test_check_exit_status_is_0_when_open_and_1_when_quiet(capsys, moment, expected):
    with freeze_time(moment):
        code, _, _ = run(capsys, "check", "now", "--zone", "C", "--exit-status")
    assert code == expected


def test_check_exit_status_errors_keep_their_own_code(capsys):
    code, _, _ = run(capsys, "check", "2025-11-04T22:00:00", "--zone", "C", "--exit-status")
    assert code == 2


def test_unknown_kind_is_a_json_error_naming_field_value_and_choices(capsys):
    argv = ["release", "--kind", "grades", "--audience", "students", "--zone", "A", "--json"]
    code, out, _ = run(capsys, *argv)
    error = error_of(out)
    assert code == 2
    assert (error["code"], error["field"], error["value"]) == ("invalid_choice", "kind", "grades")
    assert "homework" in str(error["accepted"])


def test_missing_zone_is_a_json_error_listing_the_location_fields(capsys):
    code, out, _ = run(capsys, "check", "now", "--json")
    error = error_of(out)
    assert code == 2
    assert error["code"] == "missing_field"
    assert error["field"] == "zone"
    assert "uai" in str(error["accepted"])


def test_unknown_zone_is_a_json_error_with_the_accepted_zones(capsys):
    code, out, _ = run(capsys, "check", "now", "--zone", "D", "--json")
    error = error_of(out)
    assert (code, error["code"], error["field"], error["value"]) == (
        2,
        "unknown_territory",
        "zone",
        "D",
    )
    assert "Corse" in str(error["accepted"])


def test_naive_instant_is_a_json_error_naming_the_instant(capsys):
    code, out, _ = run(capsys, "check", "2025-11-14T20:00:00", "--zone", "C", "--json")
    error = error_of(out)
    assert (code, error["code"], error["field"]) == (2, "naive_datetime", "instant")
    assert error["value"] == "2025-11-14T20:00:00"


@pytest.mark.parametrize(
    ("argv", "code", "field"),
    [
        (["check", "now", "--zone", "A", "--bogus", "--json"], "unknown_argument", None),
        (
            ["check", "now", "--zone", "A", "--academie", "Paris", "--json"],
            "conflicting_arguments",
            "academie",
        ),
        (["check", "now", "--zone", "--json"], "missing_value", "zone"),
        (["release", "--kind", "message", "--zone", "A", "--json"], "missing_field", "audience"),
        (
            ["release", "--kind", "message", "--audience", "all", "--zone", "A", "--json"],
            "invalid_choice",
            "audience",
        ),
        (
            ["windows", "--from", "2025-12-40", "--to", "2026-01-02", "--zone", "A", "--json"],
            "invalid_input",
            "from",
        ),
        (["frobnicate", "--json"], "invalid_choice", "command"),
        (["serve", "--port", "x", "--json"], "invalid_argument", "port"),
        (["audit", "--json"], "missing_field", "policy_file"),
        (["audit", "no-such-policy.toml", "--json"], "invalid_policy", None),
    ],
)
def test_every_argument_error_prints_a_json_error_and_exits_2(capsys, argv, code, field):
    exit_code, out, err = run(capsys, *argv)
    error = error_of(out)
    assert exit_code == 2
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"] and err  # the same error, for humans, on stderr


def test_argument_error_without_json_prints_usage_on_stderr_only(capsys):
    code, out, err = run(capsys, "check", "now", "--zone", "A", "--bogus")
    assert code == 2 and out == ""
    assert "usage: deconnexion" in err and "--bogus" in err


def test_help_still_exits_0(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", "--help"])
    assert exc.value.code == 0
    assert "--exit-status" in capsys.readouterr().out
