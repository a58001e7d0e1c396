"""Everything deconnexion remembers between calls, owned in one place: `CACHES`.

    table                   what it remembers                            filled by
    compiled windows        calendar + policy + audience → windows       core/scheduler.py
    calendar files          path → the `SchoolCalendar` read from it     core/calendar_data.py
    calendar pieces         holidays, snapshot days, shared `Reason`s    core/calendar.py,
                                                                         core/scheduler.py
    schedulers              (policy, establishment key) → `Scheduler`    web/middleware.py
    request lines           the request line as received → judged line   web/request_line.py
    establishments by UAI   UAI → `Establishment`                        web/tenant.py
    open spans              (scheduler, audiences) → open interval       web/open_spans.py
    open passes             (establishment, unread rule) → open interval web/open_spans.py
    exact passes            (gate, judged request bytes) → open pass     web/exact_passes.py
    French sentences        a held decision → its explanation            web/answers.py
    stored reasons          a `Reason` → its JSON in a stored decision   hold/stored_decision.py
    stored instants         a release instant → its ISO text and epoch   hold/stored_decision.py

One rule for every table: it keeps at most `BOUND` entries, and adding one more first drops the
oldest one (first in, first out). Values are immutable and cheap to rebuild compared with a
miss, so forgetting is always safe. A read is one dict lookup, without a lock; building and
adding take the table's lock, so two threads never build the same entry at once.
`CACHES.clear()` forgets everything: `deconnexion.core.scheduler.clear_cache` is that method,
called after `deconnexion calendar import`.

Modelled on exchange_calendars' `calendar_utils.ExchangeCalendarDispatcher`: one instance per
process, one eviction rule, `clear_cache = CACHES.clear`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable
from typing import Any, Generic, ParamSpec, TypeVar

__all__ = ["BOUND", "CACHES", "CacheRegistry", "Table"]

BOUND = 10_000  # entries per table; the largest (schedulers, UAIs) hold one per establishment

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
P = ParamSpec("P")
R = TypeVar("R")


class Table(Generic[K, V]):
    """One named cache: at most `bound` entries, the oldest dropped first."""

    __slots__ = ("_bound", "_items", "_lock", "get", "name")

    def __init__(self, name: str, bound: int) -> None:
        self.name = name
        self._bound = bound
        self._items: dict[K, V] = {}
        self._lock = threading.RLock()  # re-entrant: a build may read another entry
        self.get: Callable[[K], V | None] = self._items.get  # a read is the dict's own lookup

    def put(self, key: K, value: V) -> V:
        """Remember `value` under `key` (dropping the oldest entry when full); returns it."""
        with self._lock:
            items = self._items
            if key not in items and len(items) >= self._bound:
                del items[next(iter(items))]  # dicts keep insertion order: this is the oldest
            items[key] = value
        return value

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The value under `key`, built once (under the table's lock) on a miss."""
        found = self._items.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._items.get(key)
            if found is None:
                found = self.put(key, build())
        return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class CacheRegistry:
    """The named tables of one process, all under the same bound."""

    def __init__(self, bound: int = BOUND) -> None:
        self.bound = bound
        self._tables: dict[str, Table[Any, Any]] = {}
        self._lock = threading.Lock()

    def table(self, name: str) -> Table[Any, Any]:
        """The table called `name`, created on first use (modules ask once, at import)."""
        with self._lock:
            found = self._tables.get(name)
            if found is None:
                found = self._tables[name] = Table(name, self.bound)
            return found

    def memoize(self, name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator: remember a function's results in table `name`, keyed by its positional
        arguments (what `functools.lru_cache` would do, under this registry's rule)."""
        table = self.table(name)

        def decorate(function: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(function)
            def remembered(*args: P.args, **kwargs: P.kwargs) -> R:
                key = (function.__qualname__, args, tuple(kwargs.items()))
                found: R | None = table.get(key)
                if found is None:
                    found = table.put(key, function(*args, **kwargs))
                return found

            return remembered

        return decorate

    def clear(self) -> None:
        """Forget every entry of every table (e.g. after importing a newer official calendar)."""
        with self._lock:
            tables = list(self._tables.values())
        for table in tables:
            table.clear()

    def sizes(self) -> dict[str, int]:
        """How many entries each table holds now."""
        with self._lock:
            return {name: len(table) for name, table in self._tables.items()}


CACHES = CacheRegistry()
