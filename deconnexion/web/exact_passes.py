"""`ExactPasses`: the open-window pass of a request remembered by the exact bytes the gate
judged, so the next request with the same bytes passes without the request-line, route,
header and establishment steps.

The decision of `Gate.triage` to pass a request unread depends on: the request line as
received (method, ``raw_path``, ``path``, ``root_path``, ``query_string``: the judged line, the
route rule, its path parameters and query), the header *names* (a repeated name or a
method-override header sends the request down the full path, and so does any header a rule
reads urgency from), the ``content-length`` value against `max_body`, the establishment, and
the time. A key holds the request line and the header names exactly; an entry (`ExactPass`)
holds the establishment the pass was found for, the open interval [start, end) it is valid in
and where ``content-length`` is among the headers. A request with the same key passes when
its establishment is that very object (asked of the resolvers, unless the resolver is `fixed`
and the identity resolver a built-in one, which never raise), the clock, read for this
request, is inside [start, end), and its declared length is not over `max_body`. Anything
else (idempotency keys, credentials, the body) is forwarded untouched and decides nothing
here, as in the full path.

Keys start with the middleware's own token, so one gate's pass never serves another gate
(other routes, policy, `max_body`). Entries live in the process's "exact passes" cache
(deconnexion.core.caches): bounded, and emptied with the others by `CACHES.clear()`.
Measured with callgrind on the open-window POST of benchmarks/asgi.py: see
`deconnexion.web.middleware`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from deconnexion.core.caches import CACHES, Table
from deconnexion.web.fields import Plan
from deconnexion.web.request_line import METHOD_OVERRIDES, RequestLine
from deconnexion.web.routes import RouteRule

__all__ = [
    "EXACT_PASSES",
    "LINE_FIELDS",
    "NAME",
    "REQUEST_LINE",
    "ExactPass",
    "exact_key",
    "exact_pass",
    "key_names",
    "length_digits",
    "urgency_headers",
]

# The five scope values the judged line is computed from, read in one C call (a KeyError when
# a server leaves one out: such a request takes the full path, which has defaults).
LINE_FIELDS = ("method", "raw_path", "path", "root_path", "query_string")
REQUEST_LINE = itemgetter(*LINE_FIELDS)
NAME = itemgetter(0)  # a header's name, for map(NAME, headers)


def exact_key(token: object, scope: Mapping[str, Any], headers: Iterable[Any]) -> tuple[Any, ...]:
    """A request's key in `EXACT_PASSES`: the gate's token, the five request-line values, then
    every header name in order, in one flat tuple (one hash and one comparison, where nested
    tuples cost one per level). The middleware builds the same tuple inline."""
    return (token, *REQUEST_LINE(scope), *map(NAME, headers))


def key_names(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """The header names of an `exact_key`."""
    return key[1 + len(LINE_FIELDS) :]


@dataclass(frozen=True, slots=True)  # slots: each field read is one specialised load
class ExactPass:
    """The judged line to leave in the scope, the establishment the pass was found for, the
    open interval [start, end) in which a request with the same key passes, and the position
    of ``content-length`` among the headers (-1: none)."""

    line: RequestLine
    establishment: Any
    start: float
    end: float
    length_at: int


EXACT_PASSES: Table[tuple[Any, ...], ExactPass] = CACHES.table("exact passes")


def urgency_headers(rules: Iterable[RouteRule]) -> frozenset[bytes]:
    """Every header a rule reads urgency from (lower-case, as the full path reads them)."""
    names = set()
    for rule in rules:
        for kind, key, _ in dict(Plan(rule).readers).get("urgent", ()):
            if kind == "header":
                names.add(key.encode("latin-1"))
    return frozenset(names)


def length_digits(max_body: int) -> int:
    """How many characters a declared length has at least when it may exceed `max_body`: a
    shorter one is accepted without being parsed (10**(d-1) <= max_body when max_body has d
    digits)."""
    return len(str(max_body))


def exact_pass(
    names: tuple[Any, ...],
    urgency: frozenset[bytes],
    line: RequestLine,
    establishment: Any,
    span: tuple[float, float],
) -> ExactPass | None:
    """The entry for a request whose headers have these `names` that the full path passed
    unread, or None when a name repeats or a method-override or urgency header is present
    (such a request is always judged by the full path)."""
    if len(set(names)) != len(names) or not (METHOD_OVERRIDES | urgency).isdisjoint(names):
        return None
    at = names.index(b"content-length") if b"content-length" in names else -1
    return ExactPass(line, establishment, span[0], span[1], at)
