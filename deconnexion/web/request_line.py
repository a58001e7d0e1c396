"""The request line as the gate judges it and the gateway forwards it: one canonical form.

A server hands over the request target twice, as the bytes received (``raw_path``,
``query_string``) and decoded (``path``). The gate judges the bytes; route rules match their
decoded form; the gateway forwards the very same bytes. A target that an upstream could read
as another path is refused with 400, never rewritten, so there is nothing to disagree on:

- every request: the target is origin-form (``/path?query``). ``*``, ``http://host/…``,
  ``host:port`` and ``@host/…`` are refused.
- a request whose method a route rule names (a *gated method*), in addition: visible ASCII
  only, in the characters RFC 3986 allows (anything else percent-encoded), well-formed
  ``%XX`` escapes, no fragment (``#``), no dot segment (``.``, ``..``, ``%2E%2E``…), no empty
  segment (``//``, except one trailing slash), no encoded separator (``%2F``, ``%5C``), no
  backslash, no ``;`` (servlet containers cut path parameters off), no control character
  and nothing but UTF-8 once decoded; and the decoded path must be the server's ``path``.
- a method is case-sensitive (RFC 9110 §9.1): ``post`` is refused where ``POST`` is gated.

Route rules then match the decoded path case-insensitively and with or without one trailing
slash (`match_key`): ``/API/Messages/`` is judged as ``/api/messages``, since many upstream
routers read it so, and is forwarded as sent.

Method-override headers (`METHOD_OVERRIDES`) are dropped from every request by the gate, so
the method judged is the one the application or upstream acts on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, NamedTuple
from urllib.parse import quote, unquote_to_bytes

from deconnexion.core.caches import CACHES, Table
from deconnexion.errors import InvalidInputError
from deconnexion.web._http import Scope, route_path

__all__ = [
    "METHOD_OVERRIDES",
    "REQUEST_LINE_KEY",
    "RequestLine",
    "forwarded_target",
    "judged_line",
    "match_key",
    "without_overrides",
]

REQUEST_LINE_KEY = "deconnexion.request_line"
METHOD_OVERRIDES = frozenset({b"x-http-method-override", b"x-http-method", b"x-method-override"})

# RFC 3986 pchar without ";" (a path parameter for servlet containers), "/"-separated.
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,=:@]|%[0-9A-Fa-f]{2})"
_PATH = re.compile(rf"(?:/{_PCHAR}*)+".encode())
# The common case, checked with one match: no escape, and every segment starts with a
# character other than "." so none is a dot segment; such a path is its own decoded form.
_PLAIN = re.compile(rb"(?:/[A-Za-z0-9\-_~!$&'()*+,=:@][A-Za-z0-9\-._~!$&'()*+,=:@]*)+/?")
# What httpx sends unchanged in a query: visible ASCII but '"', "#", "<", ">".
_QUERY = re.compile(rb"[\x21\x24-\x3b\x3d\x3f-\x7e]*")
_ENCODED_SEPARATOR = re.compile(rb"%(?:2[fF]|5[cC])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SAFE = "/!$&'()*+,=:@~"  # what quote() leaves as is when a server gave no raw_path


class RequestLine(NamedTuple):  # a tuple: built on every gated request, 4x faster than a dataclass
    """One judged request line. `raw_path` and `query` are the bytes forwarded (percent-encoded,
    as received); `path` is `raw_path` decoded, below the app's root path: what rules match."""

    method: str
    raw_path: bytes
    query: bytes
    path: str

    @property
    def target(self) -> bytes:
        return self.raw_path + b"?" + self.query if self.query else self.raw_path


# Canonical lines by the exact request line received (see `_line_key`): an API's clients send
# the same few targets again and again. A hit is one tuple and one dict lookup instead of the
# regex match, decode and comparisons of `_canonical` (measured with callgrind on the
# open-window POST of benchmarks/asgi.py: 5,700 instructions a request fewer). Only accepted
# lines are kept: a refused one is judged again every time.
_LINES: Table[tuple[Any, ...], RequestLine] = CACHES.table("request lines")


def _line_key(scope: Scope) -> tuple[Any, ...]:
    """Every scope value `_canonical` reads, as received: equal keys, equal lines. Nothing of
    the sender is in it, nor needed: the line is the same whoever sends it."""
    return (
        scope["method"],
        scope.get("raw_path"),
        scope["path"],
        scope.get("root_path", ""),
        scope.get("query_string", b""),
    )


def judged_line(scope: Scope) -> RequestLine:
    """The canonical request line of `scope`, computed once and kept in the scope;
    `InvalidInputError` (a 400) when the target is not in canonical form."""
    found = scope.get(REQUEST_LINE_KEY)
    if isinstance(found, RequestLine):
        return found
    key = _line_key(scope)
    try:
        line = _LINES.get(key)
    except TypeError:  # an unhashable value from a server outside the ASGI spec: judge it
        line = _canonical(scope)
    else:
        if line is None:
            line = _LINES.put(key, _canonical(scope))
    scope[REQUEST_LINE_KEY] = line
    return line


def forwarded_target(scope: Scope) -> tuple[bytes, bytes]:
    """The path and query to forward: the judged line's when the gate judged one, else the
    target as received, which must at least be origin-form."""
    found = scope.get(REQUEST_LINE_KEY)
    if isinstance(found, RequestLine):
        return found.raw_path, found.query
    raw = _raw_path(scope)
    if not raw.startswith(b"/"):
        raise _refused(raw, scope, "only origin-form targets such as /api/messages are accepted")
    return raw, scope.get("query_string", b"")


def match_key(path: str) -> str:
    """What route rules compare: the decoded path in lower case, one trailing slash dropped."""
    key = path.lower()
    return key[:-1] if len(key) > 1 and key.endswith("/") else key


def without_overrides(
    headers: Sequence[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]] | None:
    """`headers` without method-override headers, or None when there is none. ASGI servers
    give lower-case names (the gate relies on it, as Starlette does); the common case is one
    set operation in C, 2x faster than a loop (measured on the non-gated path)."""
    if METHOD_OVERRIDES.isdisjoint(map(itemgetter(0), headers)):
        return None
    return [(k, v) for k, v in headers if k not in METHOD_OVERRIDES]


def _raw_path(scope: Scope) -> bytes:
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw
    return quote(str(scope["path"]), safe=_SAFE).encode("ascii")


def _canonical(scope: Scope) -> RequestLine:
    # On every gated request: the common case is one regex match and two comparisons.
    raw = scope.get("raw_path")
    if not raw or not isinstance(raw, bytes):
        raw = _raw_path(scope)
    query: bytes = scope.get("query_string", b"")
    decoded = raw.decode("ascii") if _PLAIN.fullmatch(raw) else _decoded(raw, scope)
    if query and not _QUERY.fullmatch(query):
        if b"#" in query:
            raise _refused(raw, scope, "a fragment (#…) is never part of a request target")
        raise _refused(raw, scope, "the query must be visible ASCII, others percent-encoded")
    # Servers put root_path in both path and raw_path (uvicorn, Starlette's Mount) or in
    # path only; either way what is matched is the path below root_path.
    path = scope["path"]
    root = scope.get("root_path", "")
    if path == decoded:
        below = route_path(scope) if root else decoded
    elif path == root + decoded:
        below = decoded
    else:
        raise _refused(raw, scope, f"it does not decode to the server's path {path!r}")
    return RequestLine(scope["method"], raw, query, below or "/")


def _decoded(raw: bytes, scope: Scope) -> str:
    """`raw` decoded, or the reason it is not in canonical form."""
    if not raw.startswith(b"/"):
        raise _refused(raw, scope, "only origin-form targets such as /api/messages are accepted")
    if b"#" in raw:
        raise _refused(raw, scope, "a fragment (#…) is never part of a request target")
    if b"\\" in raw or _ENCODED_SEPARATOR.search(raw):
        raise _refused(raw, scope, "backslashes and encoded separators (%2F, %5C) are refused")
    if not _PATH.fullmatch(raw):
        raise _refused(
            raw,
            scope,
            "the path must be visible ASCII in RFC 3986 characters, others percent-encoded "
            "(%XX), without ';'",
        )
    segments = raw.split(b"/")[1:]
    if b"" in segments[:-1]:
        raise _refused(raw, scope, "empty path segments (//) are refused")
    if any(unquote_to_bytes(s) in (b".", b"..") for s in segments):
        raise _refused(raw, scope, "dot segments (. and .., encoded or not) are refused")
    try:
        decoded = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise _refused(raw, scope, "the decoded path is not UTF-8") from None
    if _CONTROL.search(decoded):
        raise _refused(raw, scope, "the decoded path has a control character")
    return decoded


def _refused(raw: bytes, scope: Scope, why: str) -> InvalidInputError:
    query = scope.get("query_string", b"")
    target = raw + b"?" + query if query else raw
    shown = target.decode("latin-1")
    return InvalidInputError(f"request target {shown!r} of {scope.get('method')}: {why}")
