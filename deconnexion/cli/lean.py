"""The lean path of `release --stdin`: a valid line answered without building its request
model, the answer byte for byte the reference's (`batch.Answerer`).

A line is parsed by pydantic-core's JSON parser (`from_json`, the parser `model_validate_json`
runs: the same JSON accepted, the same rule for a repeated key) into a dict. Its fields but the
two instants (`created`, `publish_to_students_at`) are the line's *template*: kind, audience,
sender role, urgency, justification and establishment. A template is judged once, by the
reference's own validators (`ReleaseRequest`, `Schedulers`, `Message`), and remembered with its
scheduler and its checked `Message` fields; a line of a known valid template then costs the
parsing of its instants, its `Message`, its decision and its answer.

Every other line goes to the reference, which answers it (or refuses it) itself: a line that is
not a JSON object, a template judged invalid, a field whose value only equals a valid one (JSON
`1` equals `true` in a dict key), an instant that is not a string or does not parse, a decision
that raises. So every error line is the reference's own, and this path answers only what the
reference would answer the same way (tests/test_cli_lean.py compares the bytes over mixed input,
and a Hypothesis property over generated lines).

What it buys (benchmarks/cli_batch.py, CPU time): see `LeanRelease`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import from_json

from deconnexion.core.message import Decision, Message, SenderRole
from deconnexion.core.requests import ReleaseRequest, instant_or_now
from deconnexion.core.timeutil import parse_instant
from deconnexion.errors import DeconnexionError

if TYPE_CHECKING:
    from deconnexion.cli.batch import Answerer  # which imports this module

__all__ = ["LeanRelease"]

_INSTANTS = ("created", "publish_to_students_at")  # per line: not part of the template


class _Template:
    """A valid template: its scheduler and the `Message` fields its lines share."""

    __slots__ = ("decide", "fields", "urgent_given")

    def __init__(
        self, decide: Callable[[Message], Decision], fields: dict[str, Any], urgent_given: bool
    ) -> None:
        self.decide = decide  # the scheduler's bound `decide`
        self.fields = fields
        self.urgent_given = urgent_given


_INVALID = object()  # a template the reference refuses: its lines are the reference's


class LeanRelease:
    """`Answerer("release")`'s answers, cheaper: a line of a known template skips the request
    model and the establishment lookup (measured: see the module's benchmark figures in the
    README, 'release --stdin' row).

    `reference` is the `Answerer` whose schedulers, writer and error lines are used."""

    LIMIT = 65536  # templates kept; beyond, the table starts again

    def __init__(self, reference: Answerer) -> None:
        self.reference = reference
        self._write = reference.decision_json
        self._templates: dict[tuple[tuple[str, Any], ...], _Template | object] = {}

    def __call__(self, line: bytes | str) -> tuple[str, bool]:
        try:
            fields = from_json(line)
        except ValueError:
            return self.reference(line)
        if type(fields) is not dict:
            return self.reference(line)
        created = fields.pop("created", "now")
        publish = fields.pop("publish_to_students_at", None)
        try:
            template = self._templates.get(tuple(fields.items()))
        except TypeError:  # a list or an object as a value: the reference refuses it
            return self.reference(line)
        if template is None:
            template = self._judge(line, fields)
            if template is None:
                return self.reference(line)
        if (
            not isinstance(template, _Template)  # _INVALID
            or type(created) is not str
            or (publish is not None and type(publish) is not str)
        ):
            return self.reference(line)
        if template.urgent_given and type(fields["urgent"]) is not bool:
            return self.reference(line)  # 1 or 1.0 found the template of `true`
        try:
            if publish is None:
                message = Message(created_at=instant_or_now(created, "created"), **template.fields)
            else:
                message = Message(
                    created_at=instant_or_now(created, "created"),
                    publish_to_students_at=parse_instant(publish, "publish_to_students_at"),
                    **template.fields,
                )
            return self._write(template.decide(message)), False
        except DeconnexionError:
            return self.reference(line)

    def _judge(self, line: bytes | str, fields: dict[str, Any]) -> _Template | object | None:
        """The template of `line` (whose fields but the instants are `fields`), judged by the
        reference's validators and remembered; None when only the line's instants are wrong
        (a later line of the same template may be valid)."""
        try:
            request = ReleaseRequest.model_validate_json(line)
        except ValidationError as exc:
            if all(e["loc"] and e["loc"][0] in _INSTANTS for e in exc.errors()):
                return None
            return self._remember(fields, _INVALID)
        try:
            decide = self.reference.schedulers.get(request).decide
            shared: dict[str, Any] = {"kind": request.kind, "audience": request.audience}
            if request.sender_role is not SenderRole.SYSTEM:
                shared["sender_role"] = request.sender_role
            if request.urgent:
                shared["urgent"] = True
            if request.justification is not None:
                # checked with each line's Message, like the reference's
                shared["justification"] = request.justification
        except DeconnexionError:
            return self._remember(fields, _INVALID)
        return self._remember(fields, _Template(decide, shared, "urgent" in fields))

    def _remember(self, fields: dict[str, Any], template: _Template | object) -> object:
        if len(self._templates) >= self.LIMIT:
            self._templates.clear()
        self._templates[tuple(fields.items())] = template
        return template
