"""Decision requests as programs send them, and the answers: one shape for every caller.

The command line (`check`, `release`, `windows`, their `--json` and `--stdin` forms) and the
decision service (`deconnexion serve`) read these models and print these answers, so a PHP or
Java caller sees the same field names everywhere: the CLI flags without their dashes
(`created`, `kind`, `sender_role`, `zone`, …) and the keys of the `--json` output.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from deconnexion.core.message import Audience, Kind, Message, SenderRole
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.core.timeutil import parse_instant
from deconnexion.errors import InvalidInputError, shown

__all__ = [
    "CheckRequest",
    "ReleaseRequest",
    "Schedulers",
    "Where",
    "WindowsRequest",
    "answer_check",
    "answer_release",
    "answer_windows",
    "instant_or_now",
    "invalid_request",
    "message_fields",
]

NOW = "now"
WHERE = ("zone", "academie", "departement", "uai")


class Where(BaseModel):
    """Which establishment: one of `zone`, `academie`, `departement`, `uai` (as the flags)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zone: StrictStr | None = Field(None, description="A, B, C, Corse, Guadeloupe, Réunion, …")
    academie: StrictStr | None = Field(None, description="e.g. Paris, Aix-Marseille, Normandie")
    departement: StrictStr | None = Field(None, description="e.g. 75, 067, 2A, 974")
    uai: StrictStr | None = Field(None, description="establishment code, e.g. 0750001A")

    def where(self) -> tuple[str | None, str | None, str | None, str | None]:
        return (self.zone, self.academie, self.departement, self.uai)


class CheckRequest(Where):
    """`deconnexion check INSTANT`: is this instant quiet, and when does it open?"""

    instant: StrictStr = Field(NOW, description='ISO 8601 with an offset, or "now"')
    audience: Audience = Audience.STUDENTS


class ReleaseRequest(Where):
    """`deconnexion release`: when may this message be released, and why?"""

    created: StrictStr = Field(NOW, description='ISO 8601 with an offset, or "now" (default)')
    kind: Kind
    audience: Audience
    sender_role: SenderRole = SenderRole.SYSTEM
    urgent: StrictBool = False
    justification: StrictStr | None = None
    publish_to_students_at: StrictStr | None = Field(None, description="ISO 8601, grades only")


class WindowsRequest(Where):
    """`deconnexion windows --from DATE --to DATE`: the quiet windows with their reasons."""

    model_config = ConfigDict(populate_by_name=True)

    date_from: StrictStr = Field(alias="from", description="YYYY-MM-DD, first day")
    date_to: StrictStr = Field(alias="to", description="YYYY-MM-DD, day after the last")
    audience: Audience = Audience.STUDENTS


def instant_or_now(text: str, field: str) -> datetime:
    """`text` as an aware instant; `now` is the current time, read at each call."""
    if text.strip().lower() == NOW:
        return datetime.now(UTC)
    return parse_instant(text, field)


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{field}: {text!r} is not a date; expected YYYY-MM-DD",
            field=field,
            value=text,
            accepted="a date YYYY-MM-DD",
        ) from None


class Schedulers:
    """One `Scheduler` per establishment, built on first use (compiled windows are shared)."""

    LIMIT = 4096  # distinct establishments kept; beyond, the cache starts again

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy.national()
        self._cache: dict[tuple[str | None, ...], Scheduler] = {}

    def get(self, request: Where) -> Scheduler:
        key = request.where()
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= self.LIMIT:
                self._cache.clear()
            zone, academie, departement, uai = key
            establishment = Establishment(
                zone=zone, academie=academie, departement=departement, uai=uai
            )
            found = self._cache[key] = Scheduler(self.policy, establishment)
        return found


def answer_check(sched: Scheduler, request: CheckRequest) -> dict[str, Any]:
    t = instant_or_now(request.instant, "instant")
    audience = request.audience
    windows = sched.windows(audience)
    nxt = sched.next_open(t, audience)
    epoch, opens = t.timestamp(), nxt.timestamp()
    quiet = opens != epoch  # next_open is the instant itself exactly when it is open
    reasons = windows.reasons(epoch, opens) if quiet else ()
    return {
        "instant": t.astimezone(sched.tz).isoformat(),
        "quiet": quiet,
        "next_open": nxt.isoformat(),
        "reasons": [r.to_dict() for r in reasons],
        "timezone": sched.establishment.timezone,
        "provenance": windows.provenance(epoch, opens).value,
        "audience": audience.value,
    }


def message_fields(request: ReleaseRequest) -> dict[str, Any]:
    """The request's `Message` fields but its two instants (`created`, the students' publish
    time). Only what differs from Message's defaults: a default is not validated again
    (measured: a quarter of the construction on a batch line)."""
    fields: dict[str, Any] = {"kind": request.kind, "audience": request.audience}
    if request.sender_role is not SenderRole.SYSTEM:
        fields["sender_role"] = request.sender_role
    if request.urgent:
        fields["urgent"] = True
    if request.justification is not None:
        fields["justification"] = request.justification
    return fields


def release_message(request: ReleaseRequest) -> Message:
    fields = message_fields(request)
    fields["created_at"] = instant_or_now(request.created, "created")
    if request.publish_to_students_at is not None:
        publish = request.publish_to_students_at
        fields["publish_to_students_at"] = parse_instant(publish, "publish_to_students_at")
    return Message(**fields)


def answer_release(sched: Scheduler, request: ReleaseRequest) -> dict[str, Any]:
    return sched.decide(release_message(request)).to_dict()


def answer_windows(sched: Scheduler, request: WindowsRequest) -> dict[str, Any]:
    start = datetime.combine(_day(request.date_from, "from"), time(0), sched.tz)
    end = datetime.combine(_day(request.date_to, "to"), time(0), sched.tz)
    if end <= start:
        raise InvalidInputError(
            f"to {request.date_to} must be after from {request.date_from}",
            field="to",
            value=request.date_to,
            accepted=f"a date after {request.date_from}",
        )
    windows = sched.quiet_windows(start, end, request.audience)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "timezone": sched.establishment.timezone,
        "audience": request.audience.value,
        "windows": [w.to_dict() for w in windows],
    }


def invalid_request(exc: ValidationError, model: type[BaseModel]) -> InvalidInputError:
    """The first problem of a request as an error naming the field, the value and what is
    accepted."""
    err = exc.errors(include_url=False)[0]
    kind = err["type"]
    loc = [str(x) for x in err["loc"]]
    field = loc[0] if loc else None
    value = err.get("input")
    if field is not None and field in model.model_fields:
        alias = model.model_fields[field].alias
        field = alias or field
    accepted = _accepted(kind, field, err.get("ctx") or {}, model)
    expected = f"; expected {accepted}" if accepted else ""
    if kind == "json_invalid":
        field, value, code = None, None, "invalid_json"
        detail = str(err["msg"]).removeprefix("Invalid JSON: ")
        message = f"the request is not valid JSON ({detail}){expected}"
    elif kind == "missing":
        value, code = None, "missing_field"
        message = f"{field}: missing{expected}"
    elif kind == "extra_forbidden":
        code = "unknown_field"
        message = f"{field}: unknown field{expected}"
    elif not loc:
        code = "invalid_request"
        message = f"the request: {err['msg']} (got {shown(value)}){expected}"
        value = None
    elif kind == "enum":
        code = "invalid_choice"
        message = f"{field}: {shown(value)} is not accepted{expected}"
    else:
        code = "invalid_input"
        message = f"{field}: {err['msg']} (got {shown(value)}){expected}"
    return InvalidInputError(message, field=field, value=value, accepted=accepted, code=code)


def _accepted(kind: str, field: str | None, ctx: dict[str, Any], model: type[BaseModel]) -> str:
    annotation = model.model_fields[field].annotation if field in model.model_fields else None
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(str(m.value) for m in annotation)
    if kind == "extra_forbidden":
        names = [f.alias or name for name, f in model.model_fields.items()]
        return "one of " + ", ".join(names)
    if "expected" in ctx:
        return str(ctx["expected"])
    if kind in ("string_type", "missing") and field in WHERE:
        return "a string"
    return {
        "string_type": "a string",
        "bool_type": "true or false",
        "model_type": "a JSON object",
        "dict_type": "a JSON object",
        "json_invalid": "one JSON object",
    }.get(kind, "")
