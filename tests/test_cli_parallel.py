"""A big `--stdin` input answered by worker processes: the same bytes as one process, in order,
whatever the blocks; one process when asked, or when the input is short."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys

import pytest
from _batch_support import mixed_input, reference_bytes

from deconnexion.cli import batch, main, parallel
from deconnexion.cli.batch import Answerer, _blocks, answer_lines
from deconnexion.cli.lean import LeanRelease
from deconnexion.cli.parallel import answer_block, answer_in_workers
from deconnexion.cli.shapes import creation_day


def check_lines() -> bytes:
    lines = [
        b'{"instant": "2025-11-14T20:00:00+01:00", "zone": "C"}',
        b'{"instant": "2025-11-14T19:00:00+01:00", "uai": "0750001A", "audience": "staff"}',
        b'{"instant": "2025-11-14T19:00:00", "zone": "C"}',
        b'{"instant": "2025-11-14T19:00:00+01:00", "zone": "C", "kind": "grade"}',
        b"\xff",
        b"",
    ]
    return b"\n".join(lines * 400) + b"\n"


@pytest.mark.parametrize("more_waiting", [True, False], ids=["streaming", "line-at-a-time"])
def test_workers_write_the_reference_bytes_in_order(more_waiting):
    data = mixed_input(valid_first=False)
    sink = io.BytesIO()
    answer = LeanRelease(Answerer("release"))
    refused = answer_in_workers(
        answer, _blocks(io.BytesIO(data)), sink, 2, waiting=lambda: more_waiting
    )
    assert refused is True
    assert sink.getvalue() == reference_bytes("release", data)


def test_workers_answer_check_lines_too():
    data = check_lines()
    sink = io.BytesIO()
    answer_in_workers(Answerer("check"), _blocks(io.BytesIO(data)), sink, 2, lambda: True)
    assert sink.getvalue() == reference_bytes("check", data)


def test_answer_lines_switches_to_workers_after_the_first_lines(monkeypatch):
    used = []

    def spy(*args, **kwargs):
        used.append(args[3])
        return answer_in_workers(*args, **kwargs)

    monkeypatch.setattr(batch, "answer_in_workers", spy)
    monkeypatch.setattr(batch, "can_fork", lambda: True)
    data = mixed_input(valid_first=True)
    sink = io.BytesIO()
    assert answer_lines("release", None, io.BytesIO(data), sink, 2, parallel_after=100) == 2
    assert used == [2]
    assert sink.getvalue() == reference_bytes("release", data)


def test_one_worker_or_a_short_input_stays_in_one_process(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no worker process expected")

    monkeypatch.setattr(batch, "answer_in_workers", refuse)
    data = check_lines()
    for workers, after in ((1, 0), (2, 10**9)):
        sink = io.BytesIO()
        answer_lines("check", None, io.BytesIO(data), sink, workers, parallel_after=after)
        assert sink.getvalue() == reference_bytes("check", data)


def test_a_block_is_its_lines_answers_each_with_its_newline():
    answer = Answerer("check")
    text, refused = answer_block(answer, b'{"zone": "C"}\n\nnot json')
    lines = text.decode().split("\n")
    assert len(lines) == 4 and lines[-1] == "" and refused is True


def test_release_stdin_with_two_workers_through_the_real_command(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(mixed_input(valid_first=True) * 3)  # over PARALLEL_AFTER lines
    outs = []
    for workers in ("1", "2"):
        with path.open("rb") as stdin:
            done = subprocess.run(
                [sys.executable, "-m", "deconnexion", "release", "--stdin", "--workers", workers],
                stdin=stdin,
                capture_output=True,
                timeout=300,
            )
        assert done.returncode == 2, done.stderr
        outs.append(done.stdout)
    assert outs[0] == outs[1] == reference_bytes("release", path.read_bytes())


def test_workers_below_one_is_refused_by_name(capsys):
    assert main(["release", "--stdin", "--workers", "0", "--json"]) == 2
    out = capsys.readouterr().out
    assert '"field": "workers"' in out and '"value": 0' in out


_KILLS_A_WORKER = """
import io, os, signal, sys
from deconnexion.cli.parallel import WorkerLostError, answer_in_workers

def answer(line):
    if line == b"die":
        os.kill(os.getpid(), signal.SIGKILL)
    return line.decode(), False

blocks = [b"a\\nb"] * 3 + [b"die"] + [b"c"] * 20
sink = io.BytesIO()
try:
    answer_in_workers(answer, iter(blocks), sink, 2, waiting=lambda: True)
except WorkerLostError as exc:
    sys.stdout.buffer.write(sink.getvalue())
    sys.exit(7)
sys.exit(0)
"""


def test_a_killed_worker_fails_the_command_with_an_error_line_instead_of_hanging():
    done = subprocess.run([sys.executable, "-c", _KILLS_A_WORKER], capture_output=True, timeout=120)
    assert done.returncode == 7, done.stderr
    *answers, error, end = done.stdout.split(b"\n")
    # the answers written are those of the first lines, in order (a prefix: the pool gives up
    # every block not yet answered when one of its workers dies), then the error line
    assert answers == ([b"a", b"b"] * 3)[: len(answers)] and end == b""
    assert json.loads(error)["error"]["code"] == "worker_lost"


def test_a_killed_worker_makes_release_stdin_exit_1(monkeypatch, capsys):
    def killing(answered_by):
        def answer(answer, block):
            if b"kill-me" in block:
                os.kill(os.getpid(), signal.SIGKILL)
            return answered_by(answer, block)

        return answer

    monkeypatch.setattr(parallel, "answer_block", killing(answer_block))
    monkeypatch.setattr(parallel, "answer_block_lines", killing(parallel.answer_block_lines))
    monkeypatch.setattr(batch, "can_fork", lambda: True)
    data = mixed_input(valid_first=True) + b'{"kill-me": 1}\n' + mixed_input(valid_first=True)
    sink = io.BytesIO()
    with pytest.raises(parallel.WorkerLostError):
        answer_lines("release", None, io.BytesIO(data), sink, 2, parallel_after=10)
    last = sink.getvalue().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    assert json.loads(last)["error"]["code"] == "worker_lost"


def _answered_by_pid(line: bytes) -> tuple[str, bool]:
    return f"{os.getpid()} {line.decode()}", False


def test_release_lines_of_one_creation_date_are_answered_by_one_worker_in_order():
    # Each worker remembers the answers of the spans it met (cli/lean.py): a date's lines all
    # go to one worker (batch.answer_lines routes by `creation_day`), so no span is learnt twice.
    lines = [
        json.dumps({"created": f"2025-11-{day:02d}T{hour:02d}:00:00+01:00", "zone": "C"}).encode()
        for hour in range(24)
        for day in range(1, 31)
    ]
    lines += [b"not json", b"", b'{"created": "now"}']
    sink = io.BytesIO()
    blocks = [b"\n".join(lines[i : i + 50]) for i in range(0, len(lines), 50)]
    answer_in_workers(_answered_by_pid, iter(blocks), sink, 2, lambda: True, worker_of=creation_day)
    answers = sink.getvalue().decode().split("\n")
    assert answers.pop() == ""
    assert [a.split(" ", 1)[1] for a in answers] == [line.decode() for line in lines]
    pid_of_date: dict[str, set[str]] = {}
    for answer, line in zip(answers, lines, strict=True):
        if line.startswith(b'{"created": "2025'):
            pid_of_date.setdefault(json.loads(line)["created"][:10], set()).add(answer.split()[0])
    assert all(len(pids) == 1 for pids in pid_of_date.values())
    assert len(set().union(*pid_of_date.values())) == 2  # both workers answered


def test_the_creation_day_is_read_from_a_canonical_creation_only():
    assert creation_day(b'{"created": "2025-11-07T10:00:00+01:00", "zone": "C"}') == 7
    assert creation_day(b'{"zone": "C", "created":"2026-03-31T10:00:00+02:00"}') == 31
    assert creation_day(b'{"created": "now"}') == 0
    assert creation_day(b"not json") == 0


def test_more_workers_than_a_byte_counts_route_lines_too():
    lines = [f'{{"created": "2025-11-{day:02d}T10:00:00+01:00"}}'.encode() for day in range(1, 31)]
    parts, order = parallel._split(b"\n".join(lines), 300, creation_day)
    assert order == list(range(1, 31))
    assert [parts[k] for k in order] == lines
