"""`ExactPasses`: the open-window pass of a request remembered by the exact bytes the gate
judged, so the next request with the same bytes passes without the request-line, route,
header and establishment steps.

The decision of `Gate.triage` to pass a request unread depends on: the request line as
received (method, ``raw_path``, ``path``, ``root_path``, ``query_string``: the judged line, the
route rule, its path parameters and query), the header *names* (a repeated name or a
method-override header sends the request down the full path), the values of the *judged
headers* (``content-length`` against `max_body`, and every header a rule reads urgency from),
the establishment, and the time. A key holds the first three exactly (`HeaderShape` tells which
headers are judged, once per sequence of names); an entry (`ExactPass`) holds the establishment
the pass was found for and the open interval [start, end) it is valid in. A request with the
same key passes when its establishment is that very object (asked of the resolvers, unless the
resolver is `fixed` and the identity resolver a built-in one, which never raise) and the clock,
read for this request, is inside [start, end). Anything else (idempotency keys, credentials,
the body) is forwarded untouched and decides nothing here, as in the full path.

Keys start with the middleware's own token, so one gate's pass never serves another gate
(other routes, policy, `max_body`). Entries live in the process's "exact passes" cache and the
shapes in "header shapes" (deconnexion.core.caches): bounded, and emptied with the others by
`CACHES.clear()`. Measured with callgrind on the open-window POST of benchmarks/asgi.py: see
`deconnexion.web.middleware`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from deconnexion.core.caches import CACHES, Table
from deconnexion.web.fields import Plan
from deconnexion.web.request_line import METHOD_OVERRIDES, RequestLine
from deconnexion.web.routes import RouteRule

__all__ = [
    "EXACT_PASSES",
    "NAME",
    "REQUEST_LINE",
    "SHAPES",
    "ExactPass",
    "HeaderShape",
    "header_shape",
    "judged_headers",
]

# The five scope values the judged line is computed from, read in one C call (a KeyError when
# a server leaves one out: such a request takes the full path, which has defaults).
REQUEST_LINE = itemgetter("method", "raw_path", "path", "root_path", "query_string")
NAME = itemgetter(0)  # a header's name, for tuple(map(NAME, headers))


class ExactPass(NamedTuple):  # unpacked positionally on every hit: cheaper than attributes
    """The judged line to leave in the scope, the establishment the pass was found for, and
    the open interval [start, end) in which a request with the same key passes."""

    line: RequestLine
    establishment: Any
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class HeaderShape:
    """What one sequence of header names means to the gate. `passable`: no name repeats and
    no method-override header (either sends the request down the full path). `judged`: the
    judged headers present, as ``(name, value)`` pairs read by position in one C call, or
    None when there is none. `overrides`: a method-override header is present."""

    passable: bool
    judged: Callable[[Sequence[tuple[bytes, bytes]]], Any] | None
    overrides: bool


SHAPES: Table[tuple[frozenset[bytes], tuple[Any, ...]], HeaderShape] = CACHES.table("header shapes")
EXACT_PASSES: Table[tuple[Any, ...], ExactPass] = CACHES.table("exact passes")


def judged_headers(rules: Iterable[RouteRule]) -> frozenset[bytes]:
    """The headers `Gate.triage` reads the values of: ``content-length`` and every header a
    rule reads urgency from (lower-case, as the full path reads them)."""
    names = {b"content-length"}
    for rule in rules:
        for kind, key, _ in dict(Plan(rule).readers).get("urgent", ()):
            if kind == "header":
                names.add(key.encode("latin-1"))
    return frozenset(names)


def header_shape(judged: frozenset[bytes], names: tuple[Any, ...]) -> HeaderShape:
    """The shape of `names` for a gate judging the headers `judged` (lower-case names, as
    ASGI servers give them and as the full path reads them)."""
    key = (judged, names)
    found = SHAPES.get(key)
    if found is None:
        found = SHAPES.put(key, _shape(judged, names))
    return found


def _shape(judged: frozenset[bytes], names: tuple[Any, ...]) -> HeaderShape:
    overrides = not METHOD_OVERRIDES.isdisjoint(names)
    passable = not overrides and len(set(names)) == len(names)
    at = [i for i, name in enumerate(names) if name in judged]
    # itemgetter of one position returns the pair itself, of several a tuple of pairs: either
    # is hashable and names its headers, so keys of different shapes never compare equal
    return HeaderShape(passable, itemgetter(*at) if at else None, overrides)
