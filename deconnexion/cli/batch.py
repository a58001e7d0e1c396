"""`deconnexion check --stdin` and `release --stdin`: one JSON request per line, any
establishment, one JSON answer per line in the same order (an error line for a bad request,
and the next line is answered as usual).

A line has the fields of the flags (`{"created": "2025-11-14T21:00:00+01:00", "kind":
"message", "audience": "parents", "uai": "0750001A"}`); an answer has the keys of `--json`.
A program may keep the process open and write a line at a time: answers are flushed whenever
no more input is waiting. Exit code 0 when every line was answered, 2 when some were refused.

Speed (benchmarks/cli_batch.py): a scheduler per establishment is built once and kept, a line
is parsed and validated in one step by pydantic-core (`model_validate_json`, no `json.loads`
first), a decision is written by `DecisionJSON` from cached fragments, and answers are written
in blocks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import BinaryIO

from pydantic import ValidationError

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
    `json.dumps(decision.to_dict())`. Reasons, enum values and time zones come back on most
    lines and are encoded once; the French sentence is formatted once per distinct
    (reasons, release, audience, …). tests/test_cli_batch.py checks that the text parses to
    exactly `decision.to_dict()` over a year of varied decisions.
    """

    def __init__(self) -> None:
        self._text: dict[object, str] = {}
        self._reasons: dict[tuple[Reason, ...], str] = {}
        self._explained: dict[tuple[object, ...], str] = {}

    def _encoded(self, value: object) -> str:
        found = self._text.get(value)
        if found is None:
            found = self._text[value] = _encode(getattr(value, "value", value))
        return found

    def __call__(self, d: Decision) -> str:
        release = d.release_at.isoformat()
        reasons = self._reasons.get(d.reasons)
        if reasons is None:
            reasons = self._reasons[d.reasons] = _encode([r.to_dict() for r in d.reasons])
        # Everything explain_fr reads, and the kind and students' release for good measure;
        # a decision not held is told by its reasons alone ("créneau ouvert", the urgency).
        students = d.students_release_at
        when = (release, d.created_at.year, students) if d.held else None
        key = (d.reasons, d.held, d.audience, d.kind, when)
        explained = self._explained.get(key)
        if explained is None:
            if len(self._explained) > 65536:
                self._explained.clear()
            explained = self._explained[key] = _encode(d.explanation_fr())
        parts = [
            '{"held":',
            "true" if d.held else "false",
            ',"release_at":"',
            release,
            '","created_at":"',
            d.created_at.isoformat(),
            '","audience":',
            self._encoded(d.audience),
            ',"kind":',
            self._encoded(d.kind),
            ',"reasons":',
            reasons,
            ',"provenance":',
            self._encoded(d.provenance),
            ',"timezone":',
            self._encoded(d.timezone),
            ',"explanation_fr":',
            explained,
        ]
        if students is not None:
            parts += ',"students_release_at":"', students.isoformat(), '"'
        if d.notes:
            parts += ',"notes":', _encode(list(d.notes))
        if d.open_until is not None:
            parts += ',"open_until":"', d.open_until.isoformat(), '"'
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
        self._decision_json = DecisionJSON()

    def __call__(self, line: bytes | str) -> tuple[str, bool]:
        """The answer, and whether it is an error."""
        model = self.model
        try:
            request = model.model_validate_json(line)
            sched = self.schedulers.get(request)
            if isinstance(request, ReleaseRequest):
                return self._decision_json(sched.decide(release_message(request))), False
            return _encode(answer_check(sched, request)), False
        except ValidationError as exc:
            return _encode(invalid_request(exc, model).to_dict()), True
        except DeconnexionError as exc:
            return _encode(exc.to_dict()), True


def _lines(source: BinaryIO) -> Iterator[list[bytes]]:
    """Blocks of complete lines, each block what was available without waiting (so that an
    interactive caller gets its answer as soon as its line is read)."""
    read = getattr(source, "read1", source.read)
    tail = b""
    while True:
        chunk = read(_READ)
        if not chunk:
            if tail:
                yield [tail]
            return
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        if lines:
            yield lines


def answer_lines(command: str, policy: Policy | None, source: BinaryIO, sink: BinaryIO) -> int:
    answer = Answerer(command, policy)
    refused = False
    for block in _lines(source):
        out = []
        for line in block:
            text, failed = answer(line)
            refused = refused or failed
            out.append(text)
        out.append("")
        # A lone surrogate a caller escaped in its JSON is written back escaped, never fatal.
        sink.write("\n".join(out).encode("utf-8", "backslashreplace"))
        sink.flush()
    return EXIT_INPUT if refused else EXIT_OK
