"""`deconnexion audit`: the exit code says conformant (0), not (1) or unreadable (2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deconnexion.cli import main
from deconnexion.cli.audit import audit_main


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_exit_0_for_a_conformant_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "ok.toml", 'name = "collège"\n')
    assert audit_main([path]) == 0
    out = capsys.readouterr().out
    assert "[PASS] weekday_nights" in out and "CONFORMANT" in out


def test_cli_exit_1_naming_each_failure_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "bad.toml",
        'open_hours = { start = "21:00", end = "06:00" }\n'
        'urgent_roles = ["teacher"]\n'
        "grade_parent_delay = 0\n",
    )
    assert audit_main([path, "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    failed = {r["id"]: r["reason"] for r in out["requirements"] if r["status"] == "fail"}
    assert set(failed) == {"weekday_nights", "urgency", "grade_parent_delay"}
    assert "21:00" in failed["weekday_nights"]
    assert "teacher" in failed["urgency"]


def test_cli_exit_1_for_a_declared_deviation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "dev.json",
        json.dumps(
            {
                "public_holidays": False,
                "deviations": [{"field": "public_holidays", "justification": "Lundi de Pâques"}],
            }
        ),
    )
    assert audit_main([path]) == 1
    assert "[DEVIATION] public_holidays" in capsys.readouterr().out


def test_cli_routes_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = write(tmp_path, "p.toml", "")
    routes = write(tmp_path, "r.toml", '[[routes]]\npath = "/api/notes"\nmethods = ["PUT"]\n')
    assert audit_main([policy, "--routes", routes]) == 1
    assert "PUT /api/notes" in capsys.readouterr().out


def test_cli_exit_2_for_an_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit_main([str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err
    broken = write(tmp_path, "broken.toml", "open_hours = [\n")
    assert audit_main([broken]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_deconnexion_audit_runs_the_same_report_as_audit_main(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "p.toml", "grade_parent_delay = 0\n")
    assert audit_main([path, "--json"]) == 1
    direct = capsys.readouterr().out
    assert main(["audit", path, "--json"]) == 1
    assert capsys.readouterr().out == direct
