"""One hold request, checked and turned into the record a store keeps (`HeldMessage`).

Everything a caller can get wrong is refused here, before any write, with the field, the
value received and what is accepted: naive datetimes, a payload that is not bytes / text /
JSON or is too large, an empty idempotency key, an establishment string that cannot be a
tenant key, a decision made for another message.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .errors import InvalidInputError, PayloadError
from .message import Audience, Decision, Kind, Message, SenderRole
from .store.base import HeldMessage, State, priority_for
from .territories import Establishment
from .timeutil import aware

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "Batch",
    "HoldRequest",
    "HoldResult",
    "build_held",
    "decision_record",
    "establishment_key",
    "json_object",
    "new_id",
]

DEFAULT_MAX_PAYLOAD = 1024 * 1024  # 1 MiB
# one encoder, built once: json.dumps with options builds a new one per call
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
MAX_KEY_LENGTH = 512
Payload = bytes | bytearray | memoryview | str | dict[str, Any] | list[Any]


@dataclass(frozen=True, slots=True)
class HoldRequest:
    """The arguments of `HoldQueue.hold`, for `hold_many`."""

    establishment: Establishment | str
    message: Message
    decision: Decision
    payload: Payload
    idempotency_key: str
    recipients: Sequence[str] | str = ()
    collapse_key: str | None = None
    actor: str | None = None
    content_type: str | None = None
    meta: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class HoldResult:
    """What happened to one request. `outcome` "duplicate": the idempotency key was known,
    `id` and `release_at` are the existing message's. `release_at` is in the establishment's
    time zone."""

    id: str
    outcome: Literal["held", "duplicate", "replaced"]
    replaced_id: str | None
    release_at: datetime
    state: State = "held"


def new_id() -> str:
    """32 hex digits like a uuid4, but starting with the time in ms: ids of one batch sort
    together, which keeps the store's id index appending instead of splitting pages."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def establishment_key(value: Establishment | str, field: str = "establishment") -> str:
    """`Establishment.key`, or a key given as a string (as stored by an earlier hold)."""
    if isinstance(value, Establishment):
        return value.key
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field}: expected an Establishment or its key string, got "
            f"{type(value).__name__} {value!r}"
        )
    if (
        not value
        or value != value.strip()
        or len(value) > 200
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in value)
    ):
        raise InvalidInputError(
            f"{field}: {value!r} is not an establishment key; expected Establishment(...).key "
            "such as '0750001A', 'zone:Zone C' or your own id: 1 to 200 printable characters "
            "without surrounding spaces"
        )
    return value


def decision_record(decision: Decision) -> dict[str, Any]:
    """The stored form of a decision: `Decision.to_dict()` without the French sentence
    (rebuilt on display; formatting it costs more than storing the whole message)."""
    return decision.to_dict(explanation=False)


class Batch:
    """Per-batch caches: a batch repeats establishments, decisions and enum values, and
    looking them up again costs more than storing the message."""

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        # values keep the object itself: its id() cannot be reused while the batch lives
        self.places: dict[int, tuple[object, str, str | None]] = {}
        self.decisions: dict[int, tuple[object, dict[str, Any], float, tuple[str, ...]]] = {}
        self._id_prefix = f"{time.time_ns() // 1_000_000:012x}"

    def new_id(self) -> str:
        """Like `new_id()`, with the time read once per batch."""
        return self._id_prefix + os.urandom(10).hex()

    def place(self, value: Establishment | str, field: str) -> tuple[str, str | None]:
        """(key, time zone or None) of an establishment."""
        found = self.places.get(id(value))
        if found is None:
            key = establishment_key(value, field)
            tz = value.timezone if isinstance(value, Establishment) else None
            found = self.places[id(value)] = (value, key, tz)
        return found[1], found[2]

    def decision(self, d: Decision, prefix: str) -> tuple[dict[str, Any], float, tuple[str, ...]]:
        """(stored record, release epoch, reason codes) of a checked decision."""
        found = self.decisions.get(id(d))
        if found is None:
            if not isinstance(d, Decision):
                raise InvalidInputError(
                    f"{prefix}decision: expected the Decision of Scheduler.decide(message), got "
                    f"{type(d).__name__}"
                )
            release = aware(d.release_at, f"{prefix}decision.release_at").timestamp()
            aware(d.created_at, f"{prefix}decision.created_at")
            if not math.isfinite(release):
                raise InvalidInputError(f"{prefix}decision.release_at: {release!r} is not a time")
            found = self.decisions[id(d)] = (d, decision_record(d), release, d.codes)
        return found[1], found[2], found[3]


_KIND = {k: k.value for k in Kind}
_AUDIENCE = {a: a.value for a in Audience}
_ROLE = {r: r.value for r in SenderRole}


def build_held(r: HoldRequest, batch: Batch, prefix: str = "") -> tuple[HeldMessage, str]:
    """Check one request; return the record to store and the time zone to report in.
    `prefix` names the request in errors ("requests[3].")."""
    key, tz = batch.place(r.establishment, f"{prefix}establishment")
    message, decision = r.message, r.decision
    if not isinstance(message, Message):
        raise InvalidInputError(
            f"{prefix}message: expected a deconnexion Message, got {type(message).__name__}"
        )
    record, release, codes = batch.decision(decision, prefix)
    if decision.kind != message.kind or decision.audience != message.audience:
        raise InvalidInputError(
            f"{prefix}decision: made for a {decision.kind.value} to {decision.audience.value}, "
            f"but the message is a {message.kind.value} to {message.audience.value}; "
            "expected the decision of this message"
        )
    body, content_type = encode_payload(r.payload, prefix + "payload", batch.max_payload)
    if r.content_type is not None:
        content_type = _text(r.content_type, prefix, "content_type", 255)
    kind = _KIND[message.kind]
    publish = message.publish_to_students_at
    collapse = r.collapse_key
    held = HeldMessage(
        id=batch.new_id(),
        establishment=key,
        idempotency_key=_text(r.idempotency_key, prefix, "idempotency_key", MAX_KEY_LENGTH),
        collapse_key=None if collapse is None else _text(collapse, prefix, "collapse_key"),
        kind=kind,
        audience=_AUDIENCE[message.audience],
        sender_role=_ROLE[message.sender_role],
        urgent=message.urgent,
        priority=priority_for(kind, message.urgent),
        recipients=_recipients(r.recipients, prefix),
        payload=body,
        content_type=content_type,
        meta=_meta(r.meta, decision, prefix),
        created_at=message.created_at.timestamp(),
        release_at=release,
        next_attempt_at=release,
        reasons=codes,
        decision=record,
        actor=None if r.actor is None else _text(r.actor, prefix, "actor", 255),
        justification=message.justification,
        publish_to_students_at=None if publish is None else publish.timestamp(),
    )
    return held, tz or decision.timezone


def encode_payload(payload: Any, field: str, limit: int) -> tuple[bytes, str]:
    """bytes as given, str as UTF-8 text, dict/list as JSON; refused if larger than `limit`."""
    if isinstance(payload, (bytes, bytearray, memoryview)):  # tuple: faster
        body, content_type = bytes(payload), "application/octet-stream"
    elif isinstance(payload, str):
        try:
            body = payload.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PayloadError(
                f"{field}: text that cannot be encoded as UTF-8 ({exc.reason} at position "
                f"{exc.start}); expected valid text"
            ) from None
        content_type = "text/plain; charset=utf-8"
    elif isinstance(payload, (dict, list)):
        try:
            body = _JSON.encode(payload).encode("utf-8")
        except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as exc:
            raise PayloadError(
                f"{field}: cannot be written as JSON ({exc}); expected bytes, str, or a "
                "dict/list of str, numbers, booleans, None"
            ) from None
        content_type = "application/json"
    else:
        raise PayloadError(
            f"{field}: {type(payload).__name__} is not accepted; expected bytes, str, or a "
            "JSON-ready dict/list"
        )
    if len(body) > limit:
        raise PayloadError(
            f"{field}: {len(body):,} bytes is over the limit of {limit:,} bytes "
            "(HoldQueue(max_payload_bytes=...)); store large content elsewhere and hold a link"
        )
    return body, content_type


def _text(value: Any, prefix: str, name: str, limit: int = MAX_KEY_LENGTH) -> str:
    # the field name is only formatted for an error: this runs several times per message
    if value.__class__ is not str or not value.strip():
        if isinstance(value, str) and value.strip():
            return _text(str(value), prefix, name, limit)
        raise InvalidInputError(
            f"{prefix}{name}: expected a non-empty string, got {type(value).__name__} {value!r}"
        )
    if len(value) > limit:
        raise InvalidInputError(
            f"{prefix}{name}: {len(value)} characters, expected at most {limit}: {value[:40]!r}…"
        )
    return value


def _recipients(value: Any, prefix: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    try:
        items = value if value.__class__ is tuple else tuple(value)
    except TypeError:
        raise InvalidInputError(
            f"{prefix}recipients: expected a list of recipient ids, got "
            f"{type(value).__name__} {value!r}"
        ) from None
    for n, item in enumerate(items):
        if item.__class__ is not str or not item.strip() or len(item) > MAX_KEY_LENGTH:
            _text(item, prefix, f"recipients[{n}]")
    return items


def _meta(meta: Mapping[str, Any] | None, decision: Decision, prefix: str) -> dict[str, Any]:
    """The caller's meta, plus when the release window closes (the worker's smoothing never
    plans a delivery after it, so a backlog is never spread into the night)."""
    out = json_object(meta, prefix + "meta") if meta else {}
    if decision.open_until is not None and "open_until" not in out:
        out["open_until"] = decision.open_until.timestamp()
    return out


def json_object(value: Any, field: str) -> dict[str, Any]:
    """A JSON-ready copy of a dict with string keys (meta, audit details)."""
    if not value:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise PayloadError(
            f"{field}: expected a dict with string keys, got {type(value).__name__} {value!r:.80}"
        )
    try:
        copied: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise PayloadError(
            f"{field}: cannot be written as JSON ({exc}); expected str, numbers, booleans, "
            "None, lists and dicts"
        ) from None
    return copied
