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

Most lines are not even decided: `Scheduler.decided_by_span` names the windows whose span
(`CompiledWindows.span`) of the creation decides the answer, so an answer is remembered, as text
around its instants, per (span, local day, year) for each *group* of templates decided alike
(same windows, zone, audience and branch of `decide`; an urgent template is a group of its
own), and a later line of the group in that span is the remembered text with its own
`created_at` (and, when open, `release_at`) written in (`_SpanAnswer`). An answer is remembered
only after the reference's text was checked to be exactly that assembly. A line of a known
*shape* (its bytes but its instant's, cli/shapes.py) is not even parsed: its instant's span is
read from its text, and the remembered answer of that span is written around it (`_by_text`).

What it buys (benchmarks/cli_batch.py, CPU time): see `LeanRelease`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError
from pydantic_core import from_json

from deconnexion.cli.shapes import (
    ISO_LENGTH,
    DaySpans,
    SpanKey,
    created_slot,
    day_offset,
    day_spans,
    shape_proven,
)
from deconnexion.core.message import Decision, Kind, Message
from deconnexion.core.requests import ReleaseRequest, instant_or_now, message_fields
from deconnexion.core.timeutil import parse_instant
from deconnexion.core.windows import CompiledWindows
from deconnexion.errors import DeconnexionError

if TYPE_CHECKING:
    from deconnexion.cli.batch import Answerer  # which imports this module

__all__ = ["LeanRelease"]

_INSTANTS = ("created", "publish_to_students_at")  # per line: not part of the template


class _SpanAnswer(NamedTuple):
    """A remembered answer of a span: `head` + created_at + the template's `middle` + `rest`
    when held (`head` ends with the release and `"created_at":"`); when not held, `head` +
    release_at (created_at in the establishment's zone) + `"created_at":"` + created_at + …"""

    held: bool
    head: str
    rest: str
    offset: str  # the zone's UTC offset ("+01:00") all that local day; else a never-suffix


# An offset no ISO text ends with: the zone's offset changes that day (DST).
_ISO_OFFSET_NONE = "\n"


# `datetime.isoformat()`'s own form with a UTC offset in whole minutes, -00:00 aside (read as
# +00:00): a string of this form that `datetime.fromisoformat` reads is written back as it is
# (tests/test_cli_lean.py checks it over the form), and `parse_instant` reads it the same way.
_CANONICAL = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\+[0-9]{2}:[0-5][0-9]|-(?!00:00)[0-9]{2}:[0-5][0-9])"
).fullmatch


def canonical_instant(text: str) -> datetime | None:
    """`parse_instant(text)` when `text` is written as `datetime.isoformat()` writes the result
    (`2025-11-03T07:00:00+01:00`), so that the text itself is the answer's `created_at`
    (measured: isoformat costs about a microsecond, a tenth of a line); else None."""
    if _CANONICAL(text) is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # e.g. 2025-02-30: the reference says why
        return None


_Spans = dict[SpanKey, _SpanAnswer]  # (span, local day, year) → answer
# (span, year, `Scheduler.decided_alike`) → answer: one answer for the days that share it
_Alike = dict[tuple[int, int, tuple[object, ...]], _SpanAnswer]


class _Template:
    """A valid template: its scheduler and the `Message` fields its lines share; and, when its
    answers are decided by span, the windows, its group's remembered answers and its own
    `middle` (`","audience":"…","kind":"…","reasons":`)."""

    __slots__ = (
        "alike",
        "alike_of",
        "days",
        "decide",
        "decide_at",
        "fields",
        "like",
        "middle",
        "open_spans",
        "spans",
        "tz",
        "urgent_given",
        "windows",
    )

    def __init__(
        self, decide: Callable[[Message], Decision], fields: dict[str, Any], urgent_given: bool
    ) -> None:
        self.decide = decide  # the scheduler's bound `decide`
        self.fields = fields
        # when `fields` make a valid `Message`: one of them, and the scheduler's bound
        # `decide_at` (a line's decision without validating its own Message)
        self.like: Message | None = None
        self.decide_at: Callable[[datetime, Message], Decision] | None = None
        self.urgent_given = urgent_given
        self.windows: CompiledWindows | None = None  # None: every line is decided
        self.open_spans = False
        self.spans: _Spans = {}
        # when not urgent: what its decision reads of a creation but the instant
        # (`Scheduler.decided_alike` for its kind and audience), and its group's answers by it
        self.alike_of: Callable[[SpanKey], tuple[object, ...] | None] | None = None
        self.alike: _Alike = {}
        self.tz: tzinfo | None = None
        self.middle = ""
        # a date and offset as written ("2025-11-03+01:00") → its spans by wall time; shared
        # by the templates of the same windows
        self.days: dict[str, DaySpans | None] = {}


_INVALID = object()  # a template the reference refuses: its lines are the reference's
_NO_SHAPE = object()  # a shape whose slot is not proven: its lines are parsed
_SEEN_ONCE = DaySpans((), (None,), (None,))  # a date and offset seen once: no spans built yet


def _valid_message(fields: dict[str, Any]) -> Message | None:
    """A `Message` of these fields when they are valid whatever its (aware) creation, else
    None: its justification is checked per line by the reference, so a shared answer may be
    used only once it passed (its check does not read the creation)."""
    try:
        return Message(created_at=_ANY_INSTANT, **fields)
    except DeconnexionError:
        return None


_ANY_INSTANT = datetime(2025, 1, 1, tzinfo=UTC)


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
        self._groups: dict[tuple[Any, ...], tuple[_Spans, _Alike]] = {}
        self._days: dict[CompiledWindows, dict[str, DaySpans | None]] = {}
        # a line's bytes but its creation's (cli/shapes.py) → its template, or _NO_SHAPE
        self._shapes: dict[bytes, _Template | object] = {}

    def __call__(self, line: bytes | str) -> tuple[str, bool]:
        if type(line) is bytes:
            slot = created_slot(line)
            if slot >= 0:
                shape = line[:slot] + line[slot + ISO_LENGTH :]
                template = self._shapes.get(shape)
                if template is None:
                    answer = self._parsed(line)
                    self._learn_shape(line, slot, shape)
                    return answer
                if isinstance(template, _Template):  # else _NO_SHAPE
                    text = line[slot : slot + ISO_LENGTH].decode("latin-1")
                    found = self._by_text(template, text)
                    if found is not None:
                        return found, False
        return self._parsed(line)

    def _by_text(self, template: _Template, text: str) -> str | None:
        """`_by_span`'s remembered answer for a line of a proven shape whose instant is `text`,
        read from the text (cli/shapes.py); None when it must be parsed (the instant is not
        canonical or not in its day's offset, the answer is not remembered yet)."""
        days = template.days
        written = text[:10] + text[19:]
        day = days.get(written)
        if day is None or day is _SEEN_ONCE:
            if template.windows is None or (day is None and written in days):
                return None  # no spans for that date and offset
            if len(days) >= self.LIMIT:
                days.clear()
            if day is None:  # built when seen again: most dates of a batch are, some not
                days[written] = _SEEN_ONCE
                return None
            day = days[written] = day_spans(template.windows, written)
            if day is None:
                return None
        key = day.key(text, template.open_spans)
        if key is None:
            return None
        known = template.spans.get(key)
        if known is None:
            return self._learn_text(template, text, key)
        if known.held:
            return known.head + text + template.middle + known.rest
        if not text.endswith(known.offset):
            return None  # released at its creation, written in another offset than the zone's
        return known.head + text + '","created_at":"' + text + template.middle + known.rest

    def _learn_text(self, template: _Template, text: str, key: SpanKey) -> str | None:
        """`_learn` for a line of a proven shape whose span is not remembered yet, from the
        instant's text alone: `text` is canonical (`DaySpans` read its date, offset and wall
        time), so it is what `canonical_instant` would read and `key` what `_by_span` would
        find, without parsing the line again (measured: see `LeanRelease`). None when the
        decision raises: the line is then parsed, and the reference says why."""
        try:
            return self._learn(template, datetime.fromisoformat(text), text, key)
        except DeconnexionError:
            return None

    def _learn_shape(self, line: bytes, slot: int, shape: bytes) -> None:
        """Remember the template of `shape` once its slot is proven to be the creation of a
        line of a template answered by span (cli/shapes.py), `_NO_SHAPE` when it never can be
        (its lines are parsed)."""
        try:
            fields = from_json(line)
        except ValueError:
            return
        if type(fields) is not dict:
            return
        created = fields.pop("created", None)
        found: _Template | object | None = _NO_SHAPE
        if type(created) is str and "publish_to_students_at" not in fields:
            try:
                found = self._templates.get(tuple(fields.items()))
            except TypeError:  # a list or an object as a value
                found = _NO_SHAPE
            if found is None:
                return  # not judged yet (the line's instant was wrong): a later line tells
            if not (
                isinstance(found, _Template)
                and found.windows is not None
                and (not found.urgent_given or type(fields["urgent"]) is bool)
                and shape_proven(line, slot, created, fields)
            ):
                found = _NO_SHAPE
        if len(self._shapes) >= self.LIMIT:
            self._shapes.clear()
        self._shapes[shape] = found

    def _parsed(self, line: bytes | str) -> tuple[str, bool]:
        """The answer of a line parsed as JSON (every line but those of a known shape)."""
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
            created_at = canonical_instant(created)
            if created_at is None:
                created_at = instant_or_now(created, "created")
                created_iso = created_at.isoformat()
            else:
                created_iso = created  # what created_at.isoformat() writes
            if publish is None:
                if template.windows is not None:
                    answer = self._by_span(template, created_at, created_iso)
                    if answer is not None:
                        return answer, False
                if template.like is not None and template.decide_at is not None:
                    return self._write(
                        template.decide_at(created_at, template.like), created_iso
                    ), False
                message = Message(created_at=created_at, **template.fields)
            else:
                message = Message(
                    created_at=created_at,
                    publish_to_students_at=parse_instant(publish, "publish_to_students_at"),
                    **template.fields,
                )
            return self._write(template.decide(message), created_iso), False
        except DeconnexionError:
            return self.reference(line)

    def _by_span(self, template: _Template, created_at: datetime, created_iso: str) -> str | None:
        """The answer from the span's remembered text (learnt from this line on a miss);
        None when the line must be decided (outside the range, an open span that does not
        decide). `created_iso` is `created_at.isoformat()`."""
        windows = template.windows
        if windows is None:
            return None
        where = windows.span(created_at.timestamp())
        if where is None or (where[0] & 1 and not template.open_spans):
            return None
        key = (where[0], where[1], created_at.year)
        known = template.spans.get(key)
        if known is None:
            return self._learn(template, created_at, created_iso, key)
        if known.held:
            return known.head + created_iso + template.middle + known.rest
        if created_iso.endswith(known.offset):
            # created_at in the zone's own offset of that day: it reads the same in the zone
            release = created_iso
        else:
            release = created_at.astimezone(template.tz).isoformat()
        return (
            known.head + release + '","created_at":"' + created_iso + template.middle + known.rest
        )

    def _learn(self, template: _Template, created_at: datetime, created: str, key: SpanKey) -> str:
        """Decide the line, and remember its answer for the span when the text is exactly the
        assembly `_by_span` makes (else it is decided every time: never a guess). `created` is
        `created_at.isoformat()`.

        A held span's answer is the same on every local day of it whose creation `decide()`
        reads alike (`Scheduler.decided_alike`: the nights, weekends and holidays with the same
        reasons and calendar provenance), so it is decided once for them.
        Measured over benchmarks/cli_batch.py's lines in one process: 33,511 -> 27,447
        decisions for 200,000 lines; 4.88 -> 4.78 billion instructions for 60,000 (callgrind,
        after start-up)."""
        alike = None if template.alike_of is None else template.alike_of(key)
        if alike is not None:
            shared = template.alike.get((key[0], key[2], alike))
            if shared is not None:  # held (`decided_alike`): this day's text but its creation
                self._remember_span(template, key, True, shared.head, shared.rest)
                return shared.head + created + template.middle + shared.rest
        if template.like is not None and template.decide_at is not None:
            decision = template.decide_at(created_at, template.like)
        else:
            decision = template.decide(Message(created_at=created_at, **template.fields))
        text = self._write(decision, created)
        if decision.held:  # released at a bound: its text is the writer's, formatted once
            release = self._write.moment(decision.release_at)
            head = '{"held":true,"release_at":"' + release + '","created_at":"'
            start = head + created + template.middle
        else:
            head = '{"held":false,"release_at":"'
            # released at its creation, as `_by_span` writes it (the writer's own release_at is
            # read in the text: it holds no quote, so a different one fails `startswith`)
            release = created_at.astimezone(template.tz).isoformat()
            start = head + release + '","created_at":"' + created + template.middle
        if text.startswith(start):
            answer = self._remember_span(template, key, decision.held, head, text[len(start) :])
            if alike is not None and decision.held:
                if len(template.alike) >= self.LIMIT:
                    template.alike.clear()
                template.alike[key[0], key[2], alike] = answer
        return text

    def _remember_span(
        self, template: _Template, key: SpanKey, held: bool, head: str, rest: str
    ) -> _SpanAnswer:
        if len(template.spans) >= self.LIMIT:
            template.spans.clear()
        offset = day_offset(key[1], template.tz) if template.tz is not None else None
        answer = template.spans[key] = _SpanAnswer(
            held, head, rest, _ISO_OFFSET_NONE if offset is None else offset
        )
        return answer

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
            sched = self.reference.schedulers.get(request)
        except DeconnexionError:
            return self._remember(fields, _INVALID)
        # the justification is checked with each line's Message, like the reference's
        shared = message_fields(request)
        template = _Template(sched.decide, shared, "urgent" in fields)
        template.like = _valid_message(shared)
        if template.like is not None:
            template.decide_at = sched.decide_at
        by_span = sched.decided_by_span(request.kind, request.audience)
        if by_span is not None and template.like is not None:
            template.windows, template.open_spans = by_span
            template.tz = sched.tz
            template.days = self._days.setdefault(by_span[0], {})
            template.middle = (
                f'","audience":"{request.audience.value}","kind":"{request.kind.value}","reasons":'
            )
            # Templates decided alike share their answers: the same windows, zone and audience;
            # an urgent one also the same role, justification and grade-or-not (its reasons
            # name them).
            group: tuple[Any, ...] = (
                sched.windows(request.audience),
                by_span,
                sched.establishment.timezone,
            )
            if request.urgent:
                group += (request.sender_role, request.justification, request.kind is Kind.GRADE)
            template.spans, template.alike = self._groups.setdefault(
                (request.audience, group), ({}, {})
            )
            if not request.urgent:
                kind, audience = request.kind, request.audience
                template.alike_of = lambda key: sched.decided_alike(kind, audience, key[0], key[1])
        return self._remember(fields, template)

    def _remember(self, fields: dict[str, Any], template: _Template | object) -> object:
        if len(self._templates) >= self.LIMIT:
            self._templates.clear()
        self._templates[tuple(fields.items())] = template
        return template
