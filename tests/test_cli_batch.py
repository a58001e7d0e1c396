"""`check --stdin` / `release --stdin`: one JSON answer per JSON line, in order, an error
line for a bad request without stopping; the fast writer is exactly `Decision.to_dict()`."""

from __future__ import annotations

import dataclasses
import io
import json
import random
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from deconnexion.cli import main
from deconnexion.cli.batch import DecisionJSON, answer_lines
from deconnexion.core.message import Audience, Decision, Kind, Message, SenderRole
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment

PARIS = ZoneInfo("Europe/Paris")


def batch(command: str, *lines: str) -> tuple[int, list[dict[str, object]]]:
    sink = io.BytesIO()
    code = answer_lines(command, None, io.BytesIO("\n".join(lines).encode() + b"\n"), sink)
    return code, [json.loads(x) for x in sink.getvalue().decode().splitlines()]


def release(**fields: object) -> str:
    return json.dumps({"kind": "message", "audience": "parents", **fields})


def test_release_lines_of_different_establishments_are_answered_in_order():
    code, out = batch(
        "release",
        release(created="2025-11-14T21:00:00+01:00", zone="C"),
        release(created="2025-11-17T03:30:00Z", zone="Réunion"),
        release(created="2025-10-17T21:00:00+02:00", uai="0750001A", kind="homework"),
    )
    assert code == 0
    assert [o["release_at"] for o in out] == [
        "2025-11-17T07:00:00+01:00",
        "2025-11-17T07:30:00+04:00",  # Réunion, 07:30 local: open
        "2025-11-03T07:00:00+01:00",  # after the Toussaint holidays, zone C
    ]
    assert [o["timezone"] for o in out] == ["Europe/Paris", "Indian/Reunion", "Europe/Paris"]


def test_a_bad_line_gets_an_error_line_and_the_next_is_answered():
    code, out = batch(
        "release",
        release(created="2025-11-14T21:00:00+01:00", zone="C"),
        release(created="2025-11-14T21:00:00+01:00", zone="C", kind="grades"),
        "not json",
        "",
        "[1, 2]",
        release(created="2025-11-14T21:00:00", zone="C"),
        release(created="2025-11-14T21:00:00+01:00", zone="D"),
        release(created="2025-11-14T21:00:00+01:00", zone="C", colour="blue"),
        release(created="2025-11-14T21:00:00+01:00", zone="C", urgent="yes"),
        release(created="2025-11-14T21:00:00+01:00", zone="C"),
    )
    assert code == 2
    assert len(out) == 10
    assert out[0]["held"] is True and out[-1]["held"] is True
    codes = [o["error"]["code"] for o in out[1:-1]]  # type: ignore[index]
    assert codes == [
        "invalid_choice",
        "invalid_json",
        "invalid_json",
        "invalid_request",
        "naive_datetime",
        "unknown_territory",
        "unknown_field",
        "invalid_input",
    ]
    kind = out[1]["error"]
    assert (kind["field"], kind["value"]) == ("kind", "grades")  # type: ignore[index]
    assert out[7]["error"]["field"] == "colour"  # type: ignore[index]


def test_check_lines_answer_as_check_json():
    code, out = batch(
        "check",
        json.dumps({"instant": "2025-11-14T20:00:00+01:00", "zone": "C"}),
        json.dumps({"instant": "2025-11-14T19:59:00+01:00", "uai": "0750001A"}),
        json.dumps({"instant": "2025-08-31T08:00:00+02:00", "zone": "C", "audience": "staff"}),
    )
    assert code == 0
    assert [o["quiet"] for o in out] == [True, False, True]
    assert out[0]["next_open"] == "2025-11-17T07:00:00+01:00"
    assert out[2]["audience"] == "staff"


def test_check_line_without_instant_is_now_under_a_frozen_clock():
    with freeze_time("2025-11-04 22:00:00+01:00"):
        _, out = batch(
            "check", json.dumps({"zone": "C"}), json.dumps({"zone": "C", "instant": "now"})
        )
    assert [o["instant"] for o in out] == ["2025-11-04T22:00:00+01:00"] * 2
    assert all(o["quiet"] is True for o in out)


def test_batch_answers_equal_the_single_command_answers(capsys):
    argv = ["--created", "2025-11-14T17:00:00+01:00", "--kind", "grade", "--audience", "parents"]
    assert main(["release", *argv, "--zone", "C", "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    _, out = batch(
        "release",
        json.dumps(
            {
                "created": "2025-11-14T17:00:00+01:00",
                "kind": "grade",
                "audience": "parents",
                "zone": "C",
            }
        ),
    )
    assert out == [single]


def _decisions(n: int) -> list[tuple[Scheduler, Message]]:
    rng = random.Random(11)
    schedulers = [Scheduler(zone="C"), Scheduler(uai="9740001A"), Scheduler(zone="Guadeloupe")]
    start = datetime(2025, 8, 25, tzinfo=PARIS)
    out = []
    for _ in range(n):
        kind, audience = rng.choice(list(Kind)), rng.choice(list(Audience))
        created = start + timedelta(minutes=rng.randrange(1800 * 1440))  # into estimated years
        urgent = rng.random() < 0.1
        role = rng.choice(list(SenderRole)) if urgent else SenderRole.SYSTEM
        publish = created + timedelta(hours=rng.randrange(0, 72)) if rng.random() < 0.2 else None
        message = Message(
            kind=kind,
            audience=audience,
            created_at=created,
            sender_role=role,
            urgent=urgent,
            justification=rng.choice([None, "alerte météo"]),
            publish_to_students_at=publish,
        )
        out.append((rng.choice(schedulers), message))
    return out


def test_fast_decision_writer_is_exactly_to_dict_over_a_year_of_decisions():
    write = DecisionJSON()
    for sched, message in _decisions(4000):
        decision = sched.decide(message)
        assert json.loads(write(decision)) == decision.to_dict()


def test_fast_decision_writer_given_the_creations_text_writes_the_same_bytes():
    write, again = DecisionJSON(), DecisionJSON()
    for sched, message in _decisions(300):
        decision = sched.decide(message)
        created = decision.created_at.isoformat()
        assert write(decision, created) == again(decision)
        assert f'"created_at":"{created}"' in write(decision, created)


def test_fast_decision_writer_knows_every_field_of_decision():
    assert {f.name for f in dataclasses.fields(Decision)} == DecisionJSON.FIELDS


def test_fast_decision_writer_is_exactly_to_dict_under_a_policy_with_expiry():
    policy = Policy.from_mapping({"expires_after": {"message": "48h"}}, source="test")
    sched = Scheduler(policy, Establishment(zone="C"))
    write = DecisionJSON()
    created = datetime(2025, 11, 14, 21, 0, tzinfo=PARIS)
    decision = sched.decide(Message(kind="message", audience="parents", created_at=created))
    assert decision.expires_at is not None
    assert json.loads(write(decision)) == decision.to_dict()


def test_release_stdin_through_the_real_command():
    lines = [release(created="2025-11-14T21:00:00+01:00", zone="C"), '{"kind": "x"}']
    done = subprocess.run(
        [sys.executable, "-m", "deconnexion", "release", "--stdin"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    answers = [json.loads(x) for x in done.stdout.splitlines()]
    assert done.returncode == 2
    assert answers[0]["release_at"] == "2025-11-17T07:00:00+01:00"
    assert answers[1]["error"]["field"] == "kind"


def test_stdin_with_request_flags_is_refused(capsys):
    code = main(["release", "--stdin", "--zone", "C", "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert code == 2 and error["code"] == "conflicting_arguments" and error["field"] == "zone"


@pytest.mark.parametrize("command", ["check", "release"])
def test_empty_input_answers_nothing_and_exits_0(command):
    sink = io.BytesIO()
    assert answer_lines(command, None, io.BytesIO(b""), sink) == 0
    assert sink.getvalue() == b""


def test_last_line_without_newline_and_crlf_lines_are_answered():
    data = (release(created="2025-11-14T21:00:00+01:00", zone="C") + "\r\n").encode()
    data += release(created="2025-11-14T21:00:00+01:00", zone="B").encode()  # no final newline
    sink = io.BytesIO()
    assert answer_lines("release", None, io.BytesIO(data), sink) == 0
    answers = [json.loads(x) for x in sink.getvalue().decode().splitlines()]
    assert [a["held"] for a in answers] == [True, True]


def test_a_caller_keeping_the_process_open_gets_each_answer_before_sending_the_next():
    proc = subprocess.Popen(
        [sys.executable, "-m", "deconnexion", "check", "--stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    answers = []
    try:
        for instant in ("2025-11-14T20:00:00+01:00", "2025-11-14T19:00:00+01:00"):
            proc.stdin.write(json.dumps({"instant": instant, "zone": "C"}).encode() + b"\n")
            proc.stdin.flush()
            answers.append(json.loads(proc.stdout.readline()))  # stdin still open
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
        proc.stdout.close()
    assert [a["quiet"] for a in answers] == [True, False]
    assert proc.returncode == 0
