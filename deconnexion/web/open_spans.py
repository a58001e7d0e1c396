"""The gate's fast paths: pass a gated request in an open window without building a `Message`
and a `Decision`, and, when the rule allows, without even reading the body.

Only what the scheduler says is cached. A *plain* message (no urgency, no scheduled
publication, no parents' grade delay) is released at once exactly when its audience's window
is open, and open intervals lie within one school day; so once an instant `t` is known open for
(scheduler, audience), the whole open interval containing `t` is (`OpenSpans`).

A rule is *decidable unread* (`Unread`) when no body field can make its message non-plain:
no callable extractor, no `publish_to_students_at`, urgency not read from the body, and not
(possibly a grade and possibly for parents). Such a request passes unread, its body streamed
to the application untouched, when no urgency is asked and every audience it could name is
open now.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from deconnexion.core.caches import CACHES, Table
from deconnexion.core.message import Audience, Kind
from deconnexion.errors import DeconnexionError, InvalidInputError
from deconnexion.web.fields import Plan, convert

__all__ = ["OpenSpans", "Unread", "unread_plan", "urgency_asked"]

_SPANS: Table[tuple[Any, tuple[Audience, ...]], tuple[float, float]] = CACHES.table("open spans")


class OpenSpans:
    """(scheduler, audiences) → the open interval [start, end) common to them, last seen
    (kept in the process's "open spans" cache, deconnexion.core.caches)."""

    def __init__(self) -> None:
        self._spans = _SPANS

    def still_open(self, scheduler: Any, audiences: tuple[Audience, ...], t: float) -> bool:
        """True when `t` is inside the open interval remembered for these audiences."""
        span = self._spans.get((scheduler, audiences))
        return span is not None and span[0] <= t < span[1]

    def all_open(self, scheduler: Any, audiences: tuple[Audience, ...], t: float) -> bool:
        """Like `still_open`, asking the scheduler (and remembering) on a miss."""
        span = self._spans.get((scheduler, audiences))
        if span is not None and span[0] <= t < span[1]:
            return True
        try:
            when = datetime.fromtimestamp(t, UTC)
            if any(scheduler.is_quiet(when, a) for a in audiences):
                return False
        except (DeconnexionError, ValueError, OverflowError, OSError):
            return False  # out of range, strict mode: the full path answers
        self.remember(scheduler, audiences, t)
        return True

    def remember(self, scheduler: Any, audiences: tuple[Audience, ...], t: float) -> None:
        """`t` was decided open for these audiences: keep the interval around it."""
        lo, hi = float("-inf"), float("inf")
        for audience in audiences:
            bounds = getattr(scheduler.windows(audience), "bounds", None)
            if not bounds:
                return
            i = bisect_right(bounds, t)
            if i & 1 == 0 or i >= len(bounds):  # not inside an open interval after all
                return
            lo, hi = max(lo, bounds[i - 1]), min(hi, bounds[i])
        self._spans.put((scheduler, audiences), (lo, hi))


@dataclass(frozen=True, slots=True)
class Unread:
    """How to decide a request of one rule without its body."""

    audiences: tuple[Audience, ...]  # every audience the body could name
    urgent: tuple[tuple[str, Any, str], ...]  # (kind, key, source) readers, never the body
    headers: frozenset[bytes]  # header names the urgent readers look at
    may_be_grade: bool = True  # a grade waits for the policy's publication hours, if it has any
    # urgency is read from headers only: none of `headers` present means none asked
    header_only: bool = False


def _constants(readers: Sequence[tuple[str, Any, str]], name: str) -> Any:
    """The converted value of the first source if it is a constant, None if it is not, and
    raise when the constant itself is invalid."""
    kind, key, source = readers[0]
    return convert(name, key, source) if kind == "const" else None


def unread_plan(plan: Plan) -> Unread | None:
    rule = plan.rule
    if rule.extract is not None or rule.publish_to_students_at is not None:
        return None
    readers = dict(plan.readers)
    urgent = readers.get("urgent", ())
    if any(kind == "body" for kind, _, _ in urgent):
        return None
    try:
        audiences = _constants(readers["audience"], "audience") or tuple(Audience)
        kind = _constants(readers["kind"], "kind")
    except InvalidInputError:
        return None  # a bad constant: the full path explains it
    if kind in (None, Kind.GRADE) and Audience.PARENTS in audiences:
        return None
    names = frozenset(key.encode("latin-1") for kind, key, _ in urgent if kind == "header")
    header_only = all(kind == "header" for kind, _, _ in urgent)
    return Unread(tuple(audiences), tuple(urgent), names, kind in (None, Kind.GRADE), header_only)


def urgency_asked(
    unread: Unread,
    headers: Mapping[bytes, bytes],
    scope: Mapping[str, Any],
    params: Mapping[str, str],
) -> bool:
    """True when the request asks for urgency, or its flag cannot be read (full path).
    `headers` holds the request's headers named in `unread.headers`."""
    for kind, key, source in unread.urgent:
        value: Any = None
        if kind == "const":
            value = key
        elif kind == "header":
            raw = headers.get(key.encode("latin-1"))
            value = None if raw is None else raw.decode("latin-1")
        elif kind == "path":
            value = params.get(key)
        elif kind == "query":
            query = scope.get("query_string", b"").decode("latin-1")
            value = next((v for k, v in parse_qsl(query, keep_blank_values=True) if k == key), None)
        if value is None:
            continue
        try:
            return bool(convert("urgent", value, source))
        except InvalidInputError:
            return True
    return False
