"""`deconnexion check --stdin` and `release --stdin`: one JSON request per line, any
establishment, one JSON answer per line in the same order (an error line for a bad request,
and the next line is answered as usual).

A line has the fields of the flags (`{"created": "2025-11-14T21:00:00+01:00", "kind":
"message", "audience": "parents", "uai": "0750001A"}`); an answer has the keys of `--json`.
A program may keep the process open and write a line at a time: answers are flushed whenever
no more input is waiting. Exit code 0 when every line was answered, 2 when some were refused.

Speed (benchmarks/cli_batch.py): a scheduler per establishment is built once and kept; a
`release` line of a known template takes the lean path (deconnexion/cli/lean.py), every other
line the reference `Answerer` (one request model per line, pydantic-core's `model_validate_json`);
a decision is written by `DecisionJSON` from cached fragments; answers are written in blocks,
and a big input is answered by one worker process per core (deconnexion/cli/parallel.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from pydantic import ValidationError

from deconnexion.cli.lean import LeanRelease
from deconnexion.cli.parallel import (
    PARALLEL_AFTER,
    answer_block,
    answer_in_workers,
    can_fork,
    input_waiting,
    usable_cores,
)
from deconnexion.cli.shapes import creation_day
from deconnexion.core.message import Decision, Reason
from deconnexion.core.policy import Policy
from deconnexion.core.requests import (
    CheckRequest,
    ReleaseRequest,
    Schedulers,
    answer_check,
    invalid_request,
    release_message,
)
from deconnexion.errors import DeconnexionError, InvalidInputError

__all__ = ["Answerer", "DecisionJSON", "answer_lines"]

EXIT_OK, EXIT_INPUT = 0, 2
_READ = 1 << 16

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class DecisionJSON:
    """`Decision.to_dict()` as compact JSON text, the same object, built from fragments.

    What it buys (benchmarks/cli_batch.py): a batch line's answer costs about a third of
    `json.dumps(decision.to_dict())`. The reasons of most lines are the same few tuples (the
    compiled windows hand out shared ones): each is encoded once and found again by identity,
    which skips hashing its dataclasses; the French sentence is formatted once per distinct
    (reasons, release, audience, …); enum values and time zones, plain identifiers, are written
    as they are. tests/test_cli_batch.py checks that the text parses to exactly
    `decision.to_dict()` over years of varied decisions.
    """

    LIMIT = 65536  # entries per cache; beyond, it starts again
    # The Decision fields written here (or deliberately not: `policy` is for the hold store);
    # a test fails when Decision gains one, so that this writer learns it too.
    FIELDS = frozenset(
        {
            "held", "release_at", "created_at", "audience", "kind", "reasons", "provenance",
            "students_release_at", "timezone", "notes", "open_until", "policy", "expires_at",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        self._zones: dict[str, str] = {}
        # id(reasons) → (the tuple itself, kept alive so that its id is not reused; its JSON)
        self._by_id: dict[int, tuple[tuple[Reason, ...], str]] = {}
        self._reasons: dict[tuple[Reason, ...], str] = {}
        self._explained: dict[tuple[object, ...], str] = {}
        # id(moment) → (the datetime, kept alive; its isoformat): see `moment`
        self._moments: dict[int, tuple[datetime, str]] = {}

    def moment(self, at: datetime) -> str:
        """`at.isoformat()`, found again by identity: a held decision's release and every
        `open_until` are the compiled windows' shared datetimes (one per bound), so a batch
        formats each bound once (measured: 0.7 µs per datetime saved, two per held line)."""
        found = self._moments.get(id(at))
        if found is not None and found[0] is at:
            return found[1]
        if len(self._moments) >= self.LIMIT:
            self._moments.clear()
        text = at.isoformat()
        self._moments[id(at)] = (at, text)
        return text

    def _reasons_json(self, reasons: tuple[Reason, ...]) -> str:
        found = self._by_id.get(id(reasons))
        if found is not None and found[0] is reasons:
            return found[1]
        text = self._reasons.get(reasons)
        if text is None:
            if len(self._reasons) >= self.LIMIT:
                self._reasons.clear()
            text = self._reasons[reasons] = _encode([r.to_dict() for r in reasons])
        if len(self._by_id) >= self.LIMIT:
            self._by_id.clear()
        self._by_id[id(reasons)] = (reasons, text)
        return text

    def __call__(self, d: Decision, created_iso: str | None = None) -> str:
        """The text of `d`; `created_iso` is `d.created_at.isoformat()` when the caller has
        that text already (a batch line's own canonical instant, cli/lean.py: measured, 11,400
        instructions a datetime not formatted again)."""
        release = self.moment(d.release_at) if d.held else d.release_at.isoformat()
        reasons = self._reasons_json(d.reasons)
        audience, kind = d.audience._value_, d.kind._value_
        students = d.students_release_at
        students_at = None if students is None else students.isoformat()
        # Everything explain_fr reads, and the kind and students' release for good measure;
        # a decision not held is told by its reasons alone ("créneau ouvert", the urgency).
        when = (release, d.created_at.year, students_at) if d.held else None
        key = (reasons, d.held, audience, kind, when)
        explained = self._explained.get(key)
        if explained is None:
            if len(self._explained) >= self.LIMIT:
                self._explained.clear()
            explained = self._explained[key] = _encode(d.explanation_fr())
        zone = self._zones.get(d.timezone)
        if zone is None:
            zone = self._zones[d.timezone] = _encode(d.timezone)
        parts = [
            '{"held":',
            "true" if d.held else "false",
            ',"release_at":"',
            release,
            '","created_at":"',
            d.created_at.isoformat() if created_iso is None else created_iso,
            '","audience":"',
            audience,
            '","kind":"',
            kind,
            '","reasons":',
            reasons,
            ',"provenance":"',
            d.provenance._value_,
            '","timezone":',
            zone,
            ',"explanation_fr":',
            explained,
        ]
        if students_at is not None:
            parts += ',"students_release_at":"', students_at, '"'
        if d.notes:
            parts += ',"notes":', _encode(list(d.notes))
        if d.open_until is not None:
            parts += ',"open_until":"', self.moment(d.open_until), '"'
        if d.expires_at is not None:
            parts += ',"expires_at":"', d.expires_at.isoformat(), '"'
        parts.append("}")
        return "".join(parts)


class Answerer:
    """Answers one request line (bytes or str) with one JSON text, never raising for bad
    input: the error object is the answer."""

    def __init__(self, command: str, policy: Policy | None = None) -> None:
        if command not in ("check", "release"):
            raise InvalidInputError(
                f"no batch form for {command!r}",
                field="command",
                value=command,
                accepted="check or release",
            )
        self.model: type[CheckRequest | ReleaseRequest] = (
            CheckRequest if command == "check" else ReleaseRequest
        )
        self.schedulers = Schedulers(policy)
        self.decision_json = DecisionJSON()

    def __call__(self, line: bytes | str) -> tuple[str, bool]:
        """The answer, and whether it is an error."""
        model = self.model
        try:
            request = model.model_validate_json(line)
            sched = self.schedulers.get(request)
            if isinstance(request, ReleaseRequest):
                return self.decision_json(sched.decide(release_message(request))), False
            return _encode(answer_check(sched, request)), False
        except ValidationError as exc:
            return _encode(invalid_request(exc, model).to_dict()), True
        except DeconnexionError as exc:
            return _encode(exc.to_dict()), True


def _blocks(source: BinaryIO) -> Iterator[bytes]:
    """Blocks of complete lines (`\n` between them, none after the last), each block what was
    available without waiting (so that an interactive caller gets its answer as soon as its
    line is read); a last line without its newline is a block of its own."""
    read = getattr(source, "read1", source.read)
    tail = b""
    while True:
        chunk = read(_READ)
        if not chunk:
            if tail:
                yield tail
            return
        chunk = tail + chunk if tail else chunk
        end = chunk.rfind(b"\n")
        if end < 0:
            tail = chunk
            continue
        tail = chunk[end + 1 :]
        yield chunk[:end]


def answer_lines(
    command: str,
    policy: Policy | None,
    source: BinaryIO,
    sink: BinaryIO,
    workers: int | None = None,
    parallel_after: int = PARALLEL_AFTER,
) -> int:
    """Answer every line of `source` on `sink`; the exit code. `workers` processes answer
    blocks once `parallel_after` lines were answered and more input is waiting
    (deconnexion/cli/parallel.py); None is one per usable core, 1 keeps one process."""
    reference = Answerer(command, policy)
    answer = LeanRelease(reference) if command == "release" else reference
    workers = usable_cores() if workers is None else workers
    waiting = input_waiting(source)
    refused = False
    answered = 0
    blocks = _blocks(source)
    for block in blocks:
        text, failed = answer_block(answer, block)
        refused = refused or failed
        sink.write(text)
        sink.flush()
        answered += block.count(b"\n") + 1
        if workers > 1 and answered >= parallel_after and waiting() and can_fork():
            # a release line to the worker of its creation's date (cli/parallel.py: routing)
            route = creation_day if command == "release" else None
            refused = answer_in_workers(answer, blocks, sink, workers, waiting, route) or refused
            break
    return EXIT_INPUT if refused else EXIT_OK
