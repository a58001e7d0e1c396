"""What the SQL stores share, written once: cancelling, reading messages, stats, the audit
trail and the policy registry, over a thin driver seam each dialect gives.

A dialect (`SQLiteStore`, `PostgresStore`) keeps its SQL in its own `.sql` file (`_q`, the
same block names in both) and the driver's differences in a handful of methods:

    _tx()            a write transaction, yielding something that executes statements
    _read()          a read-only transaction (SQLite: no write lock taken)
    _array(values)   a list parameter as the dialect's SQL reads it (JSON text, an array)
    _json_param(d)   a dict parameter for a JSON column
    _json_value(v)   a JSON column read back as a dict
    _decode_rows(r)  rows of the HeldMessage columns as `HeldMessage`s

Statements take named parameters (`:id` / `%(id)s`) or positional tuples (`?` / `%s`), both
given the same way to `execute`; results are read with `fetchone`, `fetchall`, `rowcount`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from deconnexion.store.base import AuditEntry, HeldMessage, State, Stats
from deconnexion.store.common import sorted_counts

__all__ = ["Executor", "Result", "SQLBody"]


class Result(Protocol):
    """What `execute` returns: a DB-API cursor."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> builtins.list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Executor(Protocol):
    """What a transaction yields: a SQLite connection or a psycopg cursor."""

    def execute(self, query: str, params: Any = ..., /) -> Any: ...

    def executemany(self, query: str, params: Iterable[Any], /) -> Any: ...


class SQLBody:
    """The `HoldStore` methods that are the same SQL shape on every dialect."""

    _q: dict[str, str]

    # -- the driver seam (each dialect) ----------------------------------------------------

    def _tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _array(self, values: Sequence[str]) -> Any:
        raise NotImplementedError

    def _json_param(self, value: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _json_value(self, value: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _decode_rows(self, rows: Iterable[Sequence[Any]]) -> builtins.list[HeldMessage]:
        raise NotImplementedError

    # -- writing ---------------------------------------------------------------------------

    def cancel(self, establishment: str, message_id: str, actor: str | None, now: float) -> bool:
        with self._tx() as c:
            done: Result = c.execute(
                self._q["cancel"], {"id": message_id, "establishment": establishment}
            )
            if done.rowcount != 1:
                return False
            self._audit(c, [AuditEntry(now, establishment, message_id, "cancel", actor, {})])
            return True

    def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        with self._tx() as c:
            self._audit(c, entries)

    def _audit(self, c: Executor, entries: Sequence[AuditEntry]) -> None:
        if entries:
            c.executemany(
                self._q["insert_audit"],
                [
                    (
                        e.at,
                        e.establishment,
                        e.message_id,
                        e.action,
                        e.actor,
                        self._json_param(e.detail),
                    )
                    for e in entries
                ],
            )

    def record_policies(self, policies: Mapping[str, str]) -> None:
        if policies:
            with self._tx() as c:
                c.executemany(self._q["record_policy"], builtins.list(policies.items()))

    # -- reading ---------------------------------------------------------------------------

    def get(self, establishment: str, message_id: str) -> HeldMessage | None:
        with self._read() as c:
            params = {"id": message_id, "establishment": establishment}
            row = c.execute(self._q["get"], params).fetchone()
        return None if row is None else self._decode_rows([row])[0]

    def list(
        self,
        establishment: str,
        states: Iterable[State] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[HeldMessage]:
        params: dict[str, Any] = {"establishment": establishment, "limit": limit, "offset": offset}
        query = self._q["list"]
        if states is not None:
            wanted = sorted(set(states))
            params["states"] = self._array(wanted)
            query = self._q["list_held"] if wanted == ["held"] else self._q["list_states"]
        with self._read() as c:
            rows = c.execute(query, params).fetchall()
        return self._decode_rows(rows)

    def stats(self, establishment: str | None = None) -> Stats:
        suffix = "_all" if establishment is None else ""
        params = {"establishment": establishment}
        q = self._q
        with self._read() as c:
            by_state = dict(c.execute(q["stats_states" + suffix], params).fetchall())
            by_reason = dict(c.execute(q["stats_reasons" + suffix], params).fetchall())
            times = c.execute(q["stats_times" + suffix], params).fetchone()
        oldest, nxt = times if times is not None else (None, None)
        return Stats(
            establishment,
            int(by_state.get("held", 0)),
            sorted_counts({k: int(v) for k, v in by_reason.items()}),
            sorted_counts({k: int(v) for k, v in by_state.items()}),
            oldest,
            nxt,
        )

    def count_due(self, now: float) -> int:
        with self._read() as c:
            found = c.execute(self._q["count_due"], {"now": now}).fetchone()
        return int(found[0]) if found else 0

    def next_due_at(self) -> float | None:
        with self._read() as c:
            found = c.execute(self._q["next_due_at"]).fetchone()
        return None if found is None or found[0] is None else float(found[0])

    def audit(
        self,
        establishment: str,
        since: float | None = None,
        limit: int = 1000,
        message_id: str | None = None,
    ) -> builtins.list[AuditEntry]:
        params = {
            "establishment": establishment,
            "since": -1e300 if since is None else since,
            "message_id": message_id,
            "limit": limit,
        }
        with self._read() as c:
            rows = c.execute(self._q["audit"], params).fetchall()
        return [AuditEntry(at, e, m, a, who, self._json_value(d)) for at, e, m, a, who, d in rows]

    def establishments_with_held(self) -> builtins.list[str]:
        with self._read() as c:
            return [r[0] for r in c.execute(self._q["establishments_with_held"])]

    def recorded_policy(self, digest: str) -> str | None:
        with self._read() as c:
            found = c.execute(self._q["recorded_policy"], {"digest": digest}).fetchone()
        return None if found is None else str(found[0])

    def held_policies(self, establishment: str) -> dict[str | None, int]:
        with self._read() as c:
            found = c.execute(self._q["held_policies"], {"establishment": establishment})
            return {digest: int(n) for digest, n in found}
