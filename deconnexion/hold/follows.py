"""Whether a parents' grade may follow the message it names (`HoldRequest(follows=…)`).

A parents' grade follows a grade to students of the same establishment and sender; another
sender's message is "no message", as everywhere. `FollowCheck` asks the store, except for the
grades to students its own queue has just held, which it remembers (`Leaders`).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

from deconnexion.errors import InvalidInputError
from deconnexion.hold.request import HoldRequest
from deconnexion.store.base import HeldMessage, HoldStore

__all__ = ["LEADERS_KEPT", "FollowCheck"]

_FIELDS = [f.name for f in dataclasses.fields(HeldMessage)]  # a stored row's positions
_ID, _ESTABLISHMENT = _FIELDS.index("id"), _FIELDS.index("establishment")
_KIND, _AUDIENCE, _ACTOR = _FIELDS.index("kind"), _FIELDS.index("audience"), _FIELDS.index("actor")
_STORED = ("held", "replaced", "expired")  # outcomes that wrote the request's own row
LEADERS_KEPT = 65_536  # grades to students remembered per queue, the oldest forgotten first


class FollowCheck:
    """Checks `follows` against the store, remembering the grades to students this queue held.

    What the memory buys: the simulator holds a term's grades to students, then their parents'
    copies, each naming its students' copy; reading each of those back from SQLite (one
    transaction, one row decoded) was a tenth of its `hold_many`. It is exact: stores never
    delete a message, and the establishment, kind, audience and sender of a stored message
    never change, so a grade to students this queue stored is found by `store.get` with the
    same answer. Anything not remembered (held by another queue or process, forgotten) is read
    from the store as before; the memory is dropped if the queue's store changes."""

    def __init__(self, kept: int = LEADERS_KEPT) -> None:
        self._kept = kept
        self._store: object = None
        self._held: dict[str, tuple[str, str | None]] = {}  # id → (establishment, actor)
        self._lock = threading.Lock()

    def remember(self, store: HoldStore, rows: Sequence[tuple[Any, ...]], outcomes: Any) -> None:
        """Note the grades to students among `rows` that `store` has just stored."""
        with self._lock:
            if store is not self._store:
                self._store, self._held = store, {}
            held = self._held
            for row, o in zip(rows, outcomes, strict=True):
                if row[_KIND] != "grade" or row[_AUDIENCE] != "students":
                    continue
                if getattr(o, "outcome", None) in _STORED and o.id == row[_ID]:
                    held[row[_ID]] = (row[_ESTABLISHMENT], row[_ACTOR])
            while len(held) > self._kept:
                del held[next(iter(held))]  # dicts keep insertion order: the oldest

    def error(
        self, store: HoldStore, request: HoldRequest, row: tuple[Any, ...], prefix: str = ""
    ) -> InvalidInputError | None:
        """None if the request follows nothing or may follow what it names; else the error."""
        if request.follows is None:
            return None
        establishment, actor = row[_ESTABLISHMENT], row[_ACTOR]
        if store is self._store and self._held.get(request.follows) == (establishment, actor):
            return None  # a grade to students of this sender, stored by this queue
        leader = store.get(establishment, request.follows)
        if leader is not None and leader.actor != actor:
            leader = None
        if leader is not None and leader.kind == "grade" and leader.audience == "students":
            return None
        found = "no message" if leader is None else f"a {leader.kind} to {leader.audience}"
        return InvalidInputError(
            f"{prefix}follows: {request.follows!r} is {found} of this sender in establishment "
            f"{establishment!r}; expected the id HoldQueue.hold returned for the students' "
            "copy of this grade"
        )
