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

__all__ = ["OpenPass", "OpenPasses", "OpenSpans", "Unread", "unread_plan", "urgency_asked"]

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
        return self.open_span(scheduler, audiences, t) is not None

    def open_span(
        self, scheduler: Any, audiences: tuple[Audience, ...], t: float
    ) -> tuple[float, float] | None:
        """The open interval [start, end) common to `audiences` that contains `t`, or None
        when one of them is quiet at `t` (or the scheduler cannot tell: the full path answers).
        An instant open for the scheduler but outside its compiled bounds is open (True from
        `all_open`) with the one-instant span [t, t]: nothing to remember."""
        span = self._spans.get((scheduler, audiences))
        if span is not None and span[0] <= t < span[1]:
            return span
        try:
            when = datetime.fromtimestamp(t, UTC)
            if any(scheduler.is_quiet(when, a) for a in audiences):
                return None
        except (DeconnexionError, ValueError, OverflowError, OSError):
            return None  # out of range, strict mode: the full path answers
        return self.remember(scheduler, audiences, t) or (t, t)

    def remember(
        self, scheduler: Any, audiences: tuple[Audience, ...], t: float
    ) -> tuple[float, float] | None:
        """`t` was decided open for these audiences: keep the interval around it (returned)."""
        lo, hi = float("-inf"), float("inf")
        for audience in audiences:
            bounds = getattr(scheduler.windows(audience), "bounds", None)
            if not bounds:
                return None
            i = bisect_right(bounds, t)
            if i & 1 == 0 or i >= len(bounds):  # not inside an open interval after all
                return None
            lo, hi = max(lo, bounds[i - 1]), min(hi, bounds[i])
        return self._spans.put((scheduler, audiences), (lo, hi))


@dataclass(frozen=True, slots=True)
class OpenPass:
    """An establishment and a rule decidable unread, and the interval [start, end) in which
    every audience the rule may name is open there. Keeps both objects: an entry is used only
    for these very objects (`is`), so an id reused by another object never matches."""

    establishment: Any
    unread: Unread
    start: float
    end: float


# (id of the establishment, id of the rule's `Unread`) → the open span last found for them.
_PASSES: Table[tuple[int, int], OpenPass] = CACHES.table("open passes")


class OpenPasses:
    """The open-window pass of `Gate.triage` without asking the scheduler: one lookup keyed by
    the ids of the establishment the resolver returned and of the rule's `Unread`, then one
    comparison with the clock read for this request. The span ends exactly where the
    scheduler's open interval ends, so a request at or after `end` is judged afresh.

    Only for schedulers built by `deconnexion.web.middleware.schedulers` (one per policy and
    establishment, rebuilt alike): a custom `scheduler_for` may answer differently for the
    same establishment, and is asked every time. Entries live in the process's "open passes"
    cache (deconnexion.core.caches), emptied with the others by `CACHES.clear()` after a
    calendar import. Measured with callgrind on the open-window POST of benchmarks/asgi.py:
    a hit costs 3,100 instructions where the scheduler lookup (3,900), the grade-policy check
    and `OpenSpans.all_open` (2,600) cost 7,000; with the header dict built once by the
    middleware, a gated request went from 166,200 to 160,900 instructions."""

    def __init__(self) -> None:
        self._passes = _PASSES

    def open_at(self, establishment: Any, unread: Unread, t: float) -> bool:
        """True when `t` is inside the span remembered for these very objects."""
        found = self._passes.get((id(establishment), id(unread)))
        return (
            found is not None
            and found.establishment is establishment
            and found.unread is unread
            and found.start <= t < found.end
        )

    def found(self, establishment: Any, unread: Unread) -> OpenPass | None:
        """The pass remembered for these very objects, whatever the time."""
        found = self._passes.get((id(establishment), id(unread)))
        if found is None or found.establishment is not establishment or found.unread is not unread:
            return None
        return found

    def remember(self, establishment: Any, unread: Unread, span: tuple[float, float]) -> None:
        self._passes.put((id(establishment), id(unread)), OpenPass(establishment, unread, *span))


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
