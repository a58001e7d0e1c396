"""The command line: JSON shapes, exit codes, errors that name the value and what is accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from deconnexion.cli import main

SNAPSHOT = (
    Path(__file__).resolve().parents[1] / "deconnexion" / "data" / "fr-en-calendrier-scolaire.csv"
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_friday_20h_is_quiet_until_monday_7h_with_reasons(capsys):
    code, out, _ = run(capsys, "check", "2025-11-14T20:00:00+01:00", "--zone", "C", "--json")
    data = json.loads(out)
    assert code == 0
    assert set(data) >= {"instant", "quiet", "next_open", "reasons", "timezone", "provenance"}
    assert data["quiet"] is True
    assert data["next_open"] == "2025-11-17T07:00:00+01:00"
    assert [r["code"] for r in data["reasons"]] == ["weekend"]
    assert data["reasons"][0]["label_fr"] == "Week-end"
    assert data["timezone"] == "Europe/Paris"
    assert data["provenance"] == "official"


def test_check_friday_19h59_is_open_and_next_open_is_itself(capsys):
    code, out, _ = run(capsys, "check", "2025-11-14T19:59:00+01:00", "--uai", "0750001A", "--json")
    data = json.loads(out)
    assert (code, data["quiet"], data["reasons"]) == (0, False, [])
    assert data["next_open"] == "2025-11-14T19:59:00+01:00"


def test_check_in_reunion_uses_local_time(capsys):
    # 07:00 in Paris (UTC+1) is 10:00 in Réunion (UTC+4): a Monday of term, open.
    _code, out, _ = run(capsys, "check", "2025-11-17T03:30:00Z", "--zone", "Réunion", "--json")
    data = json.loads(out)
    assert data["timezone"] == "Indian/Reunion"
    assert data["instant"] == "2025-11-17T07:30:00+04:00"
    assert data["quiet"] is False


def test_check_staff_audience_follows_teachers_rentree(capsys):
    argv = ("check", "2026-08-31T08:00:00+02:00", "--zone", "C", "--json")
    _, out, _ = run(capsys, *argv, "--audience", "staff")
    assert json.loads(out)["quiet"] is False
    _, out, _ = run(capsys, *argv, "--audience", "students")
    assert json.loads(out)["next_open"] == "2026-09-01T07:00:00+02:00"


def test_naive_instant_exits_2_and_says_why(capsys):
    code, _out, err = run(capsys, "check", "2025-11-14T20:00:00", "--zone", "C")
    assert code == 2
    assert "no UTC offset" in err and "2025-11-14T20:00:00" in err


def test_unknown_zone_exits_2_listing_accepted_values(capsys):
    code, out, err = run(capsys, "check", "2025-11-14T20:00:00+01:00", "--zone", "D", "--json")
    assert code == 2
    assert "'D'" in err and "Corse" in err
    assert json.loads(out)["exit_code"] == 2


def test_unknown_uai_exits_2(capsys):
    code, _, err = run(capsys, "check", "2025-11-14T20:00:00+01:00", "--uai", "12345")
    assert code == 2 and "12345" in err


def test_release_grade_to_parents_friday_17h_goes_monday_7h(capsys):
    code, out, _ = run(
        capsys,
        "release",
        "--created",
        "2025-11-14T17:00:00+01:00",
        "--kind",
        "grade",
        "--audience",
        "parents",
        "--zone",
        "C",
        "--json",
    )
    data = json.loads(out)
    assert code == 0
    assert data["held"] is True
    assert data["students_release_at"] == "2025-11-14T17:00:00+01:00"
    assert data["release_at"] == "2025-11-17T07:00:00+01:00"
    assert [r["code"] for r in data["reasons"]] == ["grade_parent_delay", "weekend"]
    assert data["explanation_fr"].startswith("Diffusion aux parents différée au lundi 17 novembre")


def test_release_urgent_from_teacher_is_refused_and_held(capsys):
    _, out, _ = run(
        capsys,
        "release",
        "--created",
        "2025-11-14T21:00:00+01:00",
        "--kind",
        "message",
        "--audience",
        "parents",
        "--sender-role",
        "teacher",
        "--urgent",
        "--justification",
        "sortie annulée",
        "--zone",
        "C",
        "--json",
    )
    data = json.loads(out)
    assert data["held"] is True
    assert "urgent_refused" in [r["code"] for r in data["reasons"]]
    assert "students_release_at" not in data


def test_release_urgent_from_head_with_justification_goes_now(capsys):
    _, out, _ = run(
        capsys,
        "release",
        "--created",
        "2025-11-14T21:00:00+01:00",
        "--kind",
        "message",
        "--audience",
        "parents",
        "--sender-role",
        "chef_etablissement",
        "--urgent",
        "--justification",
        "Fermeture pour alerte météo",
        "--zone",
        "C",
        "--json",
    )
    data = json.loads(out)
    assert data["held"] is False
    assert data["release_at"] == "2025-11-14T21:00:00+01:00"
    assert [r["code"] for r in data["reasons"]] == ["urgent_override"]


def test_release_text_output_is_a_french_sentence(capsys):
    code, out, _ = run(
        capsys,
        "release",
        "--created",
        "2025-10-17T21:00:00+02:00",
        "--kind",
        "homework",
        "--audience",
        "students",
        "--zone",
        "A",
    )
    assert code == 0
    assert out.splitlines()[0] == (
        "Diffusion différée au lundi 3 novembre à 7 h 00 : vacances de la Toussaint"
    )


def test_release_unknown_kind_exits_2_with_a_structured_json_error(capsys):
    code, out, err = run(
        capsys,
        "release",
        "--created",
        "2025-10-17T21:00:00+02:00",
        "--kind",
        "grades",
        "--audience",
        "students",
        "--zone",
        "A",
        "--json",
    )
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "invalid_choice"
    assert (error["field"], error["value"]) == ("kind", "grades")
    assert error["accepted"].startswith("one of grade, homework")
    assert "grades" in err


def test_windows_lists_christmas_holidays_with_reasons(capsys):
    code, out, _ = run(
        capsys, "windows", "--from", "2025-12-19", "--to", "2026-01-06", "--zone", "B", "--json"
    )
    data = json.loads(out)
    assert code == 0
    long = [w for w in data["windows"] if w["start"] == "2025-12-19T20:00:00+01:00"]
    assert long and long[0]["end"] == "2026-01-05T07:00:00+01:00"
    codes = [r["code"] for r in long[0]["reasons"]]
    assert codes[0] == "school_holiday" and "public_holiday" in codes


def test_windows_rejects_bad_dates(capsys):
    code, _, err = run(
        capsys, "windows", "--from", "19/12/2025", "--to", "2026-01-06", "--zone", "B"
    )
    assert code == 2 and "19/12/2025" in err and "YYYY-MM-DD" in err
    code, _, err = run(
        capsys, "windows", "--from", "2026-01-06", "--to", "2025-12-19", "--zone", "B"
    )
    assert code == 2 and "must be after" in err


def test_policy_file_stricter_hours_apply(tmp_path, capsys):
    policy = tmp_path / "college.toml"
    policy.write_text('name = "collège"\n[open_hours]\nstart = "07:30"\nend = "19:00"\n')
    _, out, _ = run(
        capsys,
        "check",
        "2025-11-13T19:30:00+01:00",
        "--zone",
        "C",
        "--policy",
        str(policy),
        "--json",
    )
    data = json.loads(out)
    assert data["quiet"] is True and data["next_open"] == "2025-11-14T07:30:00+01:00"


def test_looser_policy_file_exits_2_naming_the_field(tmp_path, capsys):
    policy = tmp_path / "loose.toml"
    policy.write_text('[open_hours]\nstart = "06:00"\nend = "21:00"\n')
    code, _, err = run(
        capsys, "check", "2025-11-13T19:30:00+01:00", "--zone", "C", "--policy", str(policy)
    )
    assert code == 2 and "open_hours" in err and "06:00" in err


def test_calendar_import_installs_a_checked_copy(tmp_path, capsys):
    code, out, _ = run(
        capsys, "calendar", "import", str(SNAPSHOT), "--data-dir", str(tmp_path), "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert Path(data["installed"]).read_bytes() == SNAPSHOT.read_bytes()
    assert "Zone C" in data["zones"] and "Corse" in data["zones"]


def test_calendar_import_refuses_a_file_without_the_zones(tmp_path, capsys):
    partial = tmp_path / "partial.csv"
    lines = SNAPSHOT.read_text(encoding="utf-8-sig").splitlines()
    partial.write_text("\n".join([lines[0]] + [x for x in lines[1:] if ";Zone A;" in x]))
    code, _, err = run(
        capsys, "calendar", "import", str(partial), "--data-dir", str(tmp_path / "d")
    )
    assert code == 2 and "Corse" in err
    assert not (tmp_path / "d").exists()


def test_calendar_info_names_the_active_source(capsys):
    code, out, _ = run(capsys, "calendar", "info", "--json")
    data = json.loads(out)
    assert code == 0 and data["source"].endswith(".csv")
    assert data["zones"]["Corse"]["school_years"][-1] == "2024-2025"


def test_console_script_runs_as_a_separate_process():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deconnexion.cli",
            "check",
            "2025-11-14T20:00:00+01:00",
            "--zone",
            "C",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["quiet"] is True


def test_reschedule_moves_held_messages_after_a_closure_is_added(tmp_path, capsys):
    from zoneinfo import ZoneInfo

    from deconnexion import Establishment, HoldQueue, Message, Policy, Scheduler, open_store

    paris = ZoneInfo("Europe/Paris")
    url = f"sqlite:///{tmp_path / 'held.db'}"
    store = open_store(url)
    queue = HoldQueue(store)
    friday = datetime(2025, 11, 14, 21, 0, tzinfo=paris)
    for school in (Establishment(uai="0750001A"), Establishment(zone="C")):
        message = Message(kind="homework", audience="students", created_at=friday)
        decision = Scheduler(Policy.national(), school).decide(message)
        queue.hold(
            establishment=school,
            message=message,
            decision=decision,
            payload={"x": 1},
            idempotency_key="k",
        )
    store.close()
    policy = tmp_path / "strike.toml"
    policy.write_text('[[closures]]\nstart = "2025-11-17"\nlabel = "Grève"\n')

    code, out, err = run(capsys, "reschedule", "--store", url, "--policy", str(policy), "--json")
    assert code == 0, err
    assert json.loads(out) == {"rescheduled": {"0750001A": 1, "zone:Zone C": 1}, "total": 2}
    store = open_store(url)
    for key in ("0750001A", "zone:Zone C"):
        (held,) = HoldQueue(store).list(key)
        assert datetime.fromtimestamp(held.release_at, paris) == datetime(
            2025, 11, 18, 7, 0, tzinfo=paris
        )
        assert "closure" in held.reasons
    store.close()


def test_reschedule_on_a_file_that_is_not_a_store_exits_without_touching_it(tmp_path, capsys):
    bogus = tmp_path / "notes.db"
    bogus.write_bytes(b"not a database at all" * 100)
    code, _, err = run(capsys, "reschedule", "--store", f"sqlite:///{bogus}")
    assert code != 0 and "notes.db" in err
    assert bogus.read_bytes() == b"not a database at all" * 100
