"""Route rules: which requests diffuse information, and where their message fields are read.

A rule names a method and a path pattern (``/api/grades/{id}/publish``) and, for each message
field, a *source*: ``"body:audience"`` (a key of the JSON body, dotted for nesting),
``"header:Idempotency-Key"``, ``"path:id"``, ``"query:classe"``, or a constant (``"grade"``,
or ``"const:body:x"`` when a constant looks like a source). A list of sources is tried in order,
the first present wins. A callable ``extract`` supplies what declarations cannot.

Rules are compiled once (one regex each); `Routes.match` is what the middleware calls on every
request, and a method no rule uses is rejected with a set lookup. A rule gates ``POST`` unless
it names its methods (``methods = ["POST", "PUT"]``). Paths are compared case-insensitively and
with or without one trailing slash (``/API/Messages/`` is ``/api/messages``): many upstream
routers read them so, and holding one request too many is the safe side. Path parameters keep
the case sent. The middleware hands `match` the canonical path of `deconnexion.web.request_line`
(decoded, no dot segment, no ``//``), never the raw one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from deconnexion.core.config_file import load_mapping
from deconnexion.errors import InvalidInputError
from deconnexion.web.request_line import match_key

__all__ = [
    "CREDENTIAL_HEADERS",
    "DEFAULT_HEADER_ALLOWLIST",
    "DEFAULT_MAX_BODY",
    "PREFIXES",
    "RouteMatch",
    "RouteRule",
    "RouteRules",
    "Routes",
    "Source",
    "check_header_allowlist",
]

PREFIXES = ("body", "header", "path", "query", "const")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(path))?\}")
_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE", "GET"})

Source = str | tuple[str, ...]
# The message fields a rule reads from the request, each from its sources.
_FIELDS = (
    "kind",
    "audience",
    "recipients",
    "idempotency_key",
    "collapse_key",
    "urgent",
    "justification",
    "publish_to_students_at",
)
Extractor = Callable[[Any], Mapping[str, Any]]


class RouteRule(BaseModel):
    """One gated route. Field defaults suit a JSON notification API."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    path: str
    methods: tuple[str, ...] = ("POST",)
    name: str | None = None
    kind: Source = "message"
    audience: Source = "students"
    recipients: Source | None = None
    idempotency_key: Source | None = "header:Idempotency-Key"
    collapse_key: Source | None = None
    urgent: Source | None = "header:Deconnexion-Urgent"
    justification: Source | None = "header:Deconnexion-Justification"
    publish_to_students_at: Source | None = None
    extract: Extractor | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _method_alias(cls, data: Any) -> Any:
        # `method = "POST"` reads better than a list when there is one.
        if isinstance(data, Mapping) and "method" in data and "methods" not in data:
            data = dict(data)
            data["methods"] = data.pop("method")
        return data

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, value: Any) -> Any:
        items = [value] if isinstance(value, str) else list(value)
        out = []
        for item in items:
            method = str(item).strip().upper()
            if method not in _METHODS:
                raise ValueError(
                    f"unknown method {item!r}: expected one of {', '.join(sorted(_METHODS))}"
                )
            out.append(method)
        if not out:
            raise ValueError("a route needs at least one method")
        return tuple(out)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path {value!r} must start with '/' (e.g. /api/notifications)")
        return value

    @field_validator(*_FIELDS, mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return None if value is None else _check_source(value)
        if isinstance(value, list | tuple):
            return tuple(_check_source(v) for v in value)
        raise ValueError(f"expected a source string or a list of them, got {value!r}")

    def path_params(self) -> tuple[str, ...]:
        return tuple(m.group(1) for m in _PARAM.finditer(self.path))

    def sources(self) -> dict[str, tuple[str, ...]]:
        """Each declared field with its sources as a tuple."""
        out = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = (value,) if isinstance(value, str) else value
        return out


def _check_source(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a source must be a string, got {value!r}")
    prefix, sep, rest = value.partition(":")
    if sep and prefix in PREFIXES and not rest and prefix != "const":
        raise ValueError(f"source {value!r} names no {prefix} key (e.g. {prefix}:audience)")
    return value


DEFAULT_MAX_BODY = 1024 * 1024
# Headers kept with a held request and replayed with it. Credentials are not kept: the replay
# carries the sender verified at hold time instead of a token that may have expired by then.
DEFAULT_HEADER_ALLOWLIST = (
    "content-type",
    "content-language",
    "accept",
    "accept-language",
    "user-agent",
    "x-request-id",
    "x-correlation-id",
)
# Never stored, never replayed, refused in an allow-list: a held request would keep a
# password, a session or a signed identity in the database and send it again, expired, later.
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "deconnexion-sender"}
)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")


def check_header_allowlist(
    names: Iterable[str], credentials: Iterable[str] = ()
) -> tuple[str, ...]:
    """The allow-list, lower-cased; refused if it names a credential header
    (`CREDENTIAL_HEADERS`, and `credentials`: e.g. the header a signed identity is read from)
    or something that is not a header name."""
    refused = CREDENTIAL_HEADERS | {c.lower() for c in credentials}
    out = []
    for name in names:
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise InvalidInputError(
                f"header_allowlist: {name!r} is not a header name; expected letters, digits "
                "and -, e.g. 'x-request-id'"
            )
        if name.lower() in refused:
            raise InvalidInputError(
                f"header_allowlist: {name!r} carries credentials; credentials and signed "
                "sender headers are never stored nor replayed (the replay carries the sender "
                "verified at hold time): remove it. Refused: " + ", ".join(sorted(refused))
            )
        out.append(name.lower())
    return tuple(out)


class RouteRules(BaseModel):
    """A routes file (`deconnexion gateway --routes FILE`): the gated routes and the gate's
    options. `default_uai` is the establishment of requests whose sender carries none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routes: tuple[RouteRule, ...] = Field(min_length=1)
    header_allowlist: tuple[str, ...] = DEFAULT_HEADER_ALLOWLIST
    default_uai: str | None = None
    max_body: int = Field(default=DEFAULT_MAX_BODY, ge=0)

    @field_validator("header_allowlist")
    @classmethod
    def _no_credentials(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return check_header_allowlist(value)
        except InvalidInputError as exc:
            raise ValueError(str(exc).removeprefix("header_allowlist: ")) from None

    @field_validator("default_uai")
    @classmethod
    def _known_uai(cls, value: str | None) -> str | None:
        if value is not None:
            from deconnexion.core.territories import Establishment

            try:
                Establishment(uai=value)
            except InvalidInputError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _compiles(self) -> RouteRules:
        try:
            Routes(self.routes)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None
        return self

    def compile(self) -> Routes:
        return Routes(self.routes)

    @classmethod
    def from_file(cls, path: str | Path) -> RouteRules:
        """Load a `.toml` or `.json` routes file; errors name the file, route and field."""
        source = f"routes file {str(path)!r}"
        try:
            return cls.model_validate(load_mapping(path, "routes file"))
        except ValidationError as exc:
            raise InvalidInputError(f"{source}: " + _describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
        parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}{shown}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    rule: RouteRule
    params: dict[str, str]


class Routes:
    """The compiled set of gated routes."""

    def __init__(
        self, rules: Iterable[RouteRule | Mapping[str, Any]], *, source: str = "routes"
    ) -> None:
        self.rules = tuple(_rule(r, source, i) for i, r in enumerate(rules))
        self.methods = frozenset(m for r in self.rules for m in r.methods)
        self._compiled = [
            (frozenset(r.methods), _compile(r, source, i), r) for i, r in enumerate(self.rules)
        ]
        # Paths without parameters are looked up in a dict, unless a rule with parameters
        # comes first and could match the same path (first rule wins).
        self._literal: dict[tuple[str, str], RouteMatch] = {}
        for i, rule in enumerate(self.rules):
            if rule.path_params():
                continue
            key = match_key(rule.path)
            for method in rule.methods:
                earlier = self._scan(method, key, self._compiled[:i])
                self._literal.setdefault((method, key), earlier or RouteMatch(rule, {}))

    @staticmethod
    def _scan(
        method: str, path: str, compiled: list[tuple[frozenset[str], re.Pattern[str], RouteRule]]
    ) -> RouteMatch | None:
        for methods, regex, rule in compiled:
            if method in methods:
                found = regex.fullmatch(path)
                if found is not None:
                    return RouteMatch(rule, found.groupdict())
        return None

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The first rule matching `method` and the decoded `path` (case-insensitively, with or
        without one trailing slash), with its path parameters as sent."""
        if method not in self.methods:
            return None
        literal = self._literal.get((method, path))  # the common spelling: one lookup
        if literal is not None:
            return literal
        key = match_key(path)
        literal = self._literal.get((method, key))
        if literal is not None:
            return literal
        trimmed = path[:-1] if len(path) > 1 and path.endswith("/") else path
        return self._scan(method, trimmed, self._compiled)

    def __len__(self) -> int:
        return len(self.rules)


def _rule(item: RouteRule | Mapping[str, Any], source: str, index: int) -> RouteRule:
    if isinstance(item, RouteRule):
        return item
    if not isinstance(item, Mapping):
        raise InvalidInputError(f"{source}: route #{index + 1} is {item!r}, expected a table")
    data = dict(item)
    try:
        return RouteRule.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(route)"
            parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
        raise InvalidInputError(
            f"{source}: route #{index + 1} ({data.get('path', '?')}): " + "; ".join(parts)
        ) from None


def _compile(rule: RouteRule, source: str, index: int) -> re.Pattern[str]:
    pattern, pos = "", 0
    for m in _PARAM.finditer(rule.path):
        pattern += re.escape(rule.path[pos : m.start()])
        pattern += f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)"
        pos = m.end()
    rest = rule.path[pos:]
    if "{" in rest or "}" in rest:
        raise InvalidInputError(
            f"{source}: route #{index + 1}: bad parameter in path {rule.path!r}; "
            "expected {name} or {name:path}"
        )
    pattern += re.escape(rest[:-1] if rest.endswith("/") and rule.path != "/" else rest)
    names = set(rule.path_params())
    for field, sources in rule.sources().items():
        for s in sources:
            if s.startswith("path:") and s[5:] not in names:
                raise InvalidInputError(
                    f"{source}: route #{index + 1}: {field} = {s!r} but {rule.path!r} has no "
                    f"{{{s[5:]}}} parameter (it has: {', '.join(sorted(names)) or 'none'})"
                )
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:  # duplicate parameter names
        raise InvalidInputError(
            f"{source}: route #{index + 1}: path {rule.path!r}: {exc}"
        ) from None
