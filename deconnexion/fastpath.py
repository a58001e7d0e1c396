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

import threading
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from .errors import DeconnexionError, InvalidInputError
from .extract import Plan, convert
from .message import Audience, Kind

__all__ = ["OpenSpans", "Unread", "unread_plan", "urgency_asked"]

_LIMIT = 10_000


class OpenSpans:
    """(scheduler, audience) → the open interval [start, end) last seen."""

    def __init__(self) -> None:
        self._spans: dict[tuple[Any, Audience], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def still_open(self, scheduler: Any, audiences: Sequence[Audience], t: float) -> bool:
        """True when every audience is inside a remembered open interval at `t`."""
        for audience in audiences:
            span = self._spans.get((scheduler, audience))
            if span is None or not span[0] <= t < span[1]:
                return False
        return True

    def all_open(self, scheduler: Any, audiences: Sequence[Audience], t: float) -> bool:
        """Like `still_open`, asking the scheduler (and remembering) on a miss."""
        for audience in audiences:
            span = self._spans.get((scheduler, audience))
            if span is not None and span[0] <= t < span[1]:
                continue
            try:
                if scheduler.is_quiet(datetime.fromtimestamp(t, UTC), audience):
                    return False
            except (DeconnexionError, ValueError, OverflowError, OSError):
                return False  # out of range, strict mode: the full path answers
            self.remember(scheduler, (audience,), t)
        return True

    def remember(self, scheduler: Any, audiences: Sequence[Audience], t: float) -> None:
        """`t` was decided open for these audiences: keep the interval around it."""
        for audience in audiences:
            bounds = getattr(scheduler.windows(audience), "bounds", None)
            if not bounds:
                return
            i = bisect_right(bounds, t)
            if i & 1 == 0 or i >= len(bounds):  # not inside an open interval after all
                return
            with self._lock:
                if len(self._spans) >= _LIMIT:
                    self._spans.clear()
                self._spans[(scheduler, audience)] = (bounds[i - 1], bounds[i])


@dataclass(frozen=True, slots=True)
class Unread:
    """How to decide a request of one rule without its body."""

    audiences: tuple[Audience, ...]  # every audience the body could name
    urgent: tuple[tuple[str, Any, str], ...]  # (kind, key, source) readers, never the body


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
    return Unread(tuple(audiences), tuple(urgent))


def urgency_asked(unread: Unread, scope: Mapping[str, Any], params: Mapping[str, str]) -> bool:
    """True when the request asks for urgency, or its flag cannot be read (full path)."""
    for kind, key, source in unread.urgent:
        value: Any = None
        if kind == "const":
            value = key
        elif kind == "header":
            wanted = key.encode("latin-1")
            for k, v in scope.get("headers") or ():
                if k.lower() == wanted:
                    value = v.decode("latin-1")
                    break
        elif kind == "path":
            value = params.get(key)
        elif kind == "query":
            raw = scope.get("query_string", b"").decode("latin-1")
            value = next((v for k, v in parse_qsl(raw, keep_blank_values=True) if k == key), None)
        if value is None:
            continue
        try:
            return bool(convert("urgent", value, source))
        except InvalidInputError:
            return True
    return False
