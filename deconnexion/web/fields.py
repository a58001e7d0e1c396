"""Read a gated request's message fields, as its `RouteRule` says, and validate them.

Every refusal is an `InvalidInputError` naming the field, where it was read, the value and
what is accepted; the middleware turns it into a 400 answer.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from deconnexion.core import text as checked
from deconnexion.core.message import Audience, Kind
from deconnexion.core.timeutil import parse_instant
from deconnexion.errors import InvalidInputError
from deconnexion.web.routes import RouteRule

__all__ = [
    "Extracted",
    "Plan",
    "RequestView",
    "convert",
    "extract",
    "parse_json",
    "request_digest",
]

MAX_KEY_LENGTH = 200
MAX_RECIPIENT_LENGTH = 512
MAX_RECIPIENTS = 100_000
_MISSING: Any = object()

_KIND_ALIASES = {
    "note": Kind.GRADE,
    "notes": Kind.GRADE,
    "devoir": Kind.HOMEWORK,
    "devoirs": Kind.HOMEWORK,
    "annonce": Kind.ANNOUNCEMENT,
    "emploi_du_temps": Kind.TIMETABLE,
    "edt": Kind.TIMETABLE,
    "autre": Kind.OTHER,
}
_AUDIENCE_ALIASES = {
    "eleves": (Audience.STUDENTS,),
    "student": (Audience.STUDENTS,),
    "parent": (Audience.PARENTS,),
    "familles": (Audience.PARENTS,),
    "personnels": (Audience.STAFF,),
    "enseignants": (Audience.STAFF,),
    "all": (Audience.STUDENTS, Audience.PARENTS, Audience.STAFF),
    "tous": (Audience.STUDENTS, Audience.PARENTS, Audience.STAFF),
}
_TRUE = frozenset({"1", "true", "yes", "oui", "on"})
_FALSE = frozenset({"0", "false", "no", "non", "off", ""})


@dataclass(slots=True)
class RequestView:
    """What an extractor sees of a gated request. `json` is None when the body was not read as
    JSON (no rule field needs it), `{}` for an empty body."""

    method: str
    path: str
    params: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names, repeated ones joined with ", "; only
    # those the rule reads (and content-type), all of them for a callable extractor
    query: Mapping[str, str]  # first value of each name (empty when no source reads it)
    body: bytes
    json: Any = None
    query_string: str = ""


@dataclass(slots=True)
class Extracted:
    kind: Kind
    audiences: tuple[Audience, ...]
    recipients: tuple[str, ...]
    idempotency_key: str | None
    collapse_key: str | None
    urgent: bool
    justification: str | None
    publish_to_students_at: datetime | None


def parse_json(body: bytes) -> Any:
    """The JSON document in `body` ({} when empty); a clear error otherwise."""
    if not body.strip():
        return {}
    try:
        return json.loads(body.decode("utf-8-sig"))  # RFC 8259: UTF-8 (a BOM is tolerated)
    except UnicodeDecodeError:
        raise InvalidInputError("request body: not UTF-8 text, expected a JSON document") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"request body: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise InvalidInputError("request body: JSON nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits (sys.int_info)
        raise InvalidInputError(
            f"request body: a JSON value Python refuses ({exc}); expected numbers of at most "
            "4300 digits"
        ) from None


class Plan:
    """A rule's sources parsed once: what each field reads, which headers matter, whether the
    body must be parsed as JSON and the query string at all."""

    __slots__ = ("headers", "readers", "rule", "wants_json", "wants_query")

    def __init__(self, rule: RouteRule) -> None:
        self.rule = rule
        readers = []
        for name, sources in rule.sources().items():
            readers.append((name, tuple(_parse_source(s) for s in sources)))
        self.readers: tuple[tuple[str, tuple[tuple[str, Any, str], ...]], ...] = tuple(readers)
        kinds = {kind for _, parsed in readers for kind, _, _ in parsed}
        custom = rule.extract is not None
        # None: every header (a callable extractor may read any of them).
        self.headers: frozenset[str] | None = (
            None
            if custom
            else frozenset(
                key for _, parsed in readers for kind, key, _ in parsed if kind == "header"
            )
            | {"content-type"}
        )
        self.wants_json = custom or "body" in kinds
        self.wants_query = custom or "query" in kinds


def _parse_source(source: str) -> tuple[str, Any, str]:
    prefix, sep, key = source.partition(":")
    if not sep or prefix not in ("body", "header", "path", "query", "const"):
        return ("const", source, source)
    if prefix == "header":
        return ("header", key.lower(), source)
    if prefix == "body":
        return ("body", tuple(key.split(".")), source)
    return (prefix, key, source)


def extract(rule: RouteRule | Plan, view: RequestView) -> Extracted:
    """The message fields of `view` under `rule` (declarations first, then `rule.extract`)."""
    plan = rule if isinstance(rule, Plan) else Plan(rule)
    raw: dict[str, tuple[Any, str]] = {}
    for name, parsed in plan.readers:
        for kind, key, source in parsed:
            value = _read(kind, key, view)
            if value is not _MISSING:
                raw[name] = (value, source)
                break
    custom = plan.rule.extract
    if custom is not None:
        extra = custom(view)
        unknown = set(extra) - set(_CONVERT)
        if unknown:
            raise TypeError(
                f"route {plan.rule.path}: extract returned unknown fields {sorted(unknown)}; "
                f"expected some of {sorted(_CONVERT)}"
            )
        raw.update({k: (v, "extract") for k, v in extra.items()})
    for name in ("kind", "audience"):
        if raw.get(name, (None,))[0] is None:
            raise InvalidInputError(
                f"{name}: missing (read from {_describe(plan.rule, name)}); "
                f"expected one of {_accepted(name)}"
            )
    out = dict(_DEFAULTS)
    for name, (value, source) in raw.items():
        if value is not None:
            out[name] = _CONVERT[name](value, name, source)
    return Extracted(
        kind=out["kind"],
        audiences=out["audience"],
        recipients=out["recipients"],
        idempotency_key=out["idempotency_key"],
        collapse_key=out["collapse_key"],
        urgent=out["urgent"],
        justification=out["justification"],
        publish_to_students_at=out["publish_to_students_at"],
    )


def request_digest(view: RequestView, sender_id: str | None) -> str:
    """A stable idempotency key for a request that carries none: sender, method, path,
    query and body."""
    h = hashlib.sha256()
    for part in (sender_id or "", view.method, view.path, view.query_string):
        h.update(part.encode())
        h.update(b"\0")
    h.update(view.body)
    return "sha256:" + h.hexdigest()[:40]


# -- reading ---------------------------------------------------------------------------------


def _read(kind: str, key: Any, view: RequestView) -> Any:
    if kind == "body":
        node = view.json
        for part in key:
            if not isinstance(node, dict) or part not in node:
                return _MISSING
            node = node[part]
        return _MISSING if node is None else node
    if kind == "const":
        return key
    if kind == "header":
        value = view.headers.get(key)
        return _MISSING if value is None else value
    if kind == "path":
        return view.params.get(key, _MISSING)
    return view.query.get(key, _MISSING)


def _describe(rule: RouteRule, name: str) -> str:
    sources = rule.sources().get(name)
    return ", ".join(sources) if sources else "nowhere: the route declares no source"


def _accepted(name: str) -> str:
    if name == "kind":
        return ", ".join(k.value for k in Kind)
    return ", ".join(a.value for a in Audience) + " (or a list of them, or 'all')"


# -- converting ------------------------------------------------------------------------------


def _norm(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.strip().lower())
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c))
    return ascii_only.replace(" ", "_").replace("-", "_").replace("'", "_")


_KINDS: dict[str, Kind] = {k.value: k for k in Kind}
_AUDIENCES: dict[str, tuple[Audience, ...]] = {a.value: (a,) for a in Audience}


def _kind(value: Any, name: str, source: str) -> Kind:
    if isinstance(value, str):
        fast = _KINDS.get(value)
        if fast is not None:
            return fast
        key = _norm(value)
        try:
            return Kind(key)
        except ValueError:
            if key in _KIND_ALIASES:
                return _KIND_ALIASES[key]
    raise InvalidInputError(
        f"{name}: {value!r} (from {source}) is not a kind; expected one of {_accepted(name)}"
    )


def _audiences(value: Any, name: str, source: str) -> tuple[Audience, ...]:
    if isinstance(value, str) and value in _AUDIENCES:
        return _AUDIENCES[value]
    items = value if isinstance(value, list) else [value]
    out: list[Audience] = []
    for item in items:
        found: tuple[Audience, ...] | None = None
        if isinstance(item, str):
            found = _AUDIENCES.get(item)
        if found is None and isinstance(item, str):
            key = _norm(item)
            try:
                found = (Audience(key),)
            except ValueError:
                found = _AUDIENCE_ALIASES.get(key)
        if found is None:
            raise InvalidInputError(
                f"{name}: {item!r} (from {source}) is not an audience; "
                f"expected one of {_accepted(name)}"
            )
        out.extend(a for a in found if a not in out)
    if not out:
        raise InvalidInputError(
            f"{name}: empty list (from {source}); expected one of {_accepted(name)}"
        )
    return tuple(out)


def _recipients(value: Any, name: str, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_RECIPIENTS:
        raise InvalidInputError(
            f"{name}: {len(items)} recipients (from {source}); at most {MAX_RECIPIENTS} accepted"
        )
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise InvalidInputError(
                f"{name}: recipient {item!r} (from {source}) is not an identifier; "
                "expected strings or integers"
            )
        text = str(item)
        if not text.isprintable() or len(text) > MAX_RECIPIENT_LENGTH:
            checked.identifier(text, f"{name} (from {source})", MAX_RECIPIENT_LENGTH)
        out.append(text)
    return tuple(out)


def _key(value: Any, name: str, source: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInputError(
            f"{name}: {value!r} (from {source}) is not a key; expected a string"
        )
    text = str(value).strip()
    return checked.identifier(text, f"{name} (from {source})", MAX_KEY_LENGTH) or None


def _bool(value: Any, name: str, source: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and _norm(value) in _TRUE | _FALSE:
        return _norm(value) in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InvalidInputError(
        f"{name}: {value!r} (from {source}) is not a yes/no value; "
        "expected true/false, 1/0, yes/no or oui/non"
    )


def _text(value: Any, name: str, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{name}: {value!r} (from {source}) is not text")
    if source.startswith("header:"):
        value = unquote(value)  # browsers only send Latin-1 headers: UTF-8 is percent-encoded
    return checked.justification(value, f"{name} (from {source})")


def _instant(value: Any, name: str, source: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str):
        return parse_instant(value, f"{name} (from {source})")
    raise InvalidInputError(
        f"{name}: {value!r} (from {source}) is not an instant; expected ISO 8601 with an "
        "offset (2025-11-03T07:00:00+01:00) or epoch seconds"
    )


_CONVERT: dict[str, Any] = {
    "kind": _kind,
    "audience": _audiences,
    "recipients": _recipients,
    "idempotency_key": _key,
    "collapse_key": _key,
    "urgent": _bool,
    "justification": _text,
    "publish_to_students_at": _instant,
}


def convert(name: str, value: Any, source: str) -> Any:
    """Validate one field's raw `value` read from `source` (InvalidInputError if refused)."""
    return _CONVERT[name](value, name, source)


_DEFAULTS: dict[str, Any] = {
    "recipients": (),
    "idempotency_key": None,
    "collapse_key": None,
    "urgent": False,
    "justification": None,
    "publish_to_students_at": None,
}
