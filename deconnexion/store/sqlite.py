"""SQLite hold store: the embedded default. One file, WAL, stdlib `sqlite3`.

One connection per store object, guarded by a lock (several threads may share the object);
several processes may open the same file (writes take SQLite's lock with `BEGIN IMMEDIATE`
and wait up to `busy_timeout`). It is a one-machine store: every worker compares release
times with that machine's clock (the `now` it passes); workers on several machines need
PostgreSQL, which judges "due" by the database's clock. The file is marked with `PRAGMA
application_id` and its schema version kept in `PRAGMA user_version`; a file that is not a
SQLite database, or a database that is not ours, is refused with `NotADatabaseError` before
anything is written to it. SQL lives in `sqlite.sql`.
"""

from __future__ import annotations

import builtins
import itertools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from deconnexion.errors import NotADatabaseError, StoreError, StoreRefusedError
from deconnexion.store.base import (
    AuditEntry,
    HeldFields,
    HeldMessage,
    InsertOutcome,
    Rescheduled,
    build_outcome,
    held_fields,
    rows_of,
)
from deconnexion.store.claimed import RELEASE_HEAD, ClaimedMessage, decode_release, zone_reader
from deconnexion.store.codec import dumps
from deconnexion.store.common import (
    CLAIMED_HEAD,
    COLUMNS,
    ClaimedSeqs,
    Waker,
    claim_params,
    decode_claimed,
    decode_many,
    expire_entry,
    fail_entries,
    load_queries,
    plan_reschedule,
    statements,
)
from deconnexion.store.insert_plan import (
    Collapses,
    Existing,
    Key,
    collapse_keys_of,
    collapses_within,
    keys_of,
    nothing_to_plan,
    plan_inserts,
)
from deconnexion.store.sql_body import SQLBody
from deconnexion.store.sqlite_rows import (
    HEAD,
    NullFreeRows,
    insert_statements,
)

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "SQLiteStore"]

APPLICATION_ID = 0x44434E58  # "DCNX": marks the file as a deconnexion hold store
SCHEMA_VERSION = 5
_BODY = ("payload", "meta", "decision")
# Errors of the data a write binds (a lone surrogate cannot be encoded, an integer beyond
# 64 bits), not of the database: only that write's request is at fault.
_REFUSED = (sqlite3.DataError, UnicodeError, OverflowError)
# a claimed message going back to held (give_back, fail_retry) finds a newer held message with
# its collapse key: it becomes "replaced" instead; {superseded} in sqlite.sql, which decides both
# its state and its pending flag with it
SUPERSEDED = """collapse_key IS NOT NULL AND EXISTS (
            SELECT 1 FROM held AS o
            WHERE o.establishment = held.establishment AND o.key_scope = held.key_scope
              AND o.collapse_key = held.collapse_key AND o.state = 'held'
        )"""
_SUBS = {
    "superseded": SUPERSEDED,
    "columns": ", ".join(("b." if c in _BODY else "h.") + c for c in COLUMNS),
    "head": ", ".join(HEAD),
    "values": "{values}",  # filled per statement by insert_statements
    "release": ", ".join([*(f"h.{c}" for c in RELEASE_HEAD), "b.payload", "b.meta", "b.decision"]),
}
Q = load_queries("sqlite.sql", claimed=", ".join(CLAIMED_HEAD), **_SUBS)
INSERTS = insert_statements(Q["insert_held"])
# the same claims returning only the claimed seqs (SQLiteStore.claim_release), by name
_RELEASE_Q = load_queries("sqlite.sql", claimed="seq", **_SUBS)
RELEASE_CLAIMS = {name: _RELEASE_Q[name] for name in ("claim_due", "claim_held")}
# version n: the block that turns version n-1 into n
MIGRATIONS = {n: Q[f"schema_v{n}"] for n in range(1, SCHEMA_VERSION + 1)}
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
TUNING = (
    "PRAGMA cache_size = -32768",  # 32 MiB of page cache: index pages of big backlogs
    "PRAGMA wal_autocheckpoint = 8192",  # checkpoint every ~32 MiB of WAL, not every 4 MiB
)

_WAKERS: dict[str, Waker] = {}
_WAKERS_LOCK = threading.Lock()


class SQLiteStore(SQLBody):
    """A `HoldStore` in one SQLite file (or `:memory:`).

    `synchronous` "FULL" (default) survives power loss; "NORMAL" survives a crash of the
    process but may lose the last commits on power loss, and is faster for small batches.
    `poll_interval` bounds how late `wait_for_change` notices writes from other processes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        busy_timeout: float = 10.0,
        synchronous: str = "FULL",
        poll_interval: float = 0.25,
    ) -> None:
        self.path = os.fspath(path)
        if synchronous.upper() not in SYNCHRONOUS:
            raise StoreError(
                f"synchronous: {synchronous!r} is not accepted; expected one of "
                + ", ".join(SYNCHRONOUS)
            )
        self._lock = threading.RLock()
        self._closed = False
        self._claimed = ClaimedSeqs()
        self._poll = poll_interval
        memory = self.path == ":memory:" or self.path.startswith("file::memory:")
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            where = os.path.abspath(self.path)
            raise StoreError(
                f"cannot open the SQLite store {self.path!r} ({where}): {exc}; the folder must "
                "exist and be writable (in a URL, sqlite:///rel/held.db is relative to the "
                "working directory, sqlite:////abs/held.db absolute)"
            ) from exc
        try:
            self._check_ours()
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if not memory:
                self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            for pragma in TUNING:
                self._conn.execute(pragma)
            self._migrate()
            self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreError(f"cannot open the SQLite store {self.path!r}: {exc}") from exc
        except BaseException:
            self._conn.close()
            raise
        if memory:
            self._waker = Waker()
        else:
            with _WAKERS_LOCK:
                key = os.path.realpath(self.path)
                self._waker = _WAKERS.setdefault(key, Waker())
        self._seen = self._waker.generation

    # -- opening ---------------------------------------------------------------------------

    def _check_ours(self) -> None:
        """Read the header only: never write to a file that is not ours."""
        try:
            app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            tables = [
                r[0]
                for r in self._conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
        except sqlite3.DatabaseError as exc:
            raise NotADatabaseError(
                f"{self.path!r} is not a SQLite database ({exc}); expected a deconnexion "
                "hold store or a path where one can be created"
            ) from exc
        if app_id != APPLICATION_ID and (app_id != 0 or tables):
            shown = ", ".join(tables[:8]) or "none"
            raise NotADatabaseError(
                f"{self.path!r} is a SQLite database but not a deconnexion hold store "
                f"(application_id {app_id}, tables: {shown}); expected a deconnexion hold "
                "store or a path where one can be created"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path!r} has hold store schema version {version}, newer than this "
                f"deconnexion knows ({SCHEMA_VERSION}); upgrade deconnexion"
            )

    def _migrate(self) -> None:
        with self._tx() as c:
            version = c.execute("PRAGMA user_version").fetchone()[0]
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for stmt in statements(MIGRATIONS[target]):
                    c.execute(stmt)
            if version < SCHEMA_VERSION:
                c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _tx(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; `immediate` takes the write lock at once (no upgrade deadlock)."""
        with self._lock:
            if self._closed:
                raise StoreError(f"the SQLite store {self.path!r} is closed")
            c = self._conn
            try:
                c.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
                yield c
                c.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                self._rollback()
                raise StoreError(f"SQLite store {self.path!r}: {exc}") from exc
            except _REFUSED as exc:  # the data, not the database: see StoreRefusedError
                self._rollback()
                raise StoreRefusedError(
                    f"SQLite store {self.path!r} cannot keep this data: {_one_line(exc)}"
                ) from exc
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"SQLite store {self.path!r}: {exc}") from exc
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    # -- the driver seam of the shared SQL body (`sql_body.SQLBody`) -----------------------

    _q = Q

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._tx(immediate=False)

    def _array(self, values: Sequence[str]) -> str:
        return dumps(builtins.list(values))  # read with json_each

    def _json_param(self, value: dict[str, Any]) -> str:
        return dumps(value)

    def _json_value(self, value: Any) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(value)
        return decoded

    def _decode_rows(self, rows: Iterable[Sequence[Any]]) -> builtins.list[HeldMessage]:
        return decode_many(rows)

    # -- writing ---------------------------------------------------------------------------

    def insert_many(
        self, messages: Sequence[HeldMessage], *, now: float
    ) -> builtins.list[InsertOutcome]:
        if not messages:
            return []
        rows = rows_of(messages)
        with self._tx() as c:
            outcomes = None
            collapses = collapses_within(rows) if nothing_to_plan(rows) else None
            if collapses is not None:
                outcomes = self._insert_new(c, rows, collapses, now)
            if outcomes is None:
                outcomes = self._insert_planned(c, messages, now)
        self._waker.notify()
        return outcomes

    def _insert_new(
        self, c: sqlite3.Connection, rows: Sequence[HeldFields], collapses: Collapses, now: float
    ) -> builtins.list[InsertOutcome] | None:
        """The common batch: every idempotency key new, every collapse key free in the store
        (the batch's own repeats are `collapses`). Written at once under a savepoint; a key
        already pending or a collapse key already held (or an idempotency key repeated in the
        batch) fails its unique index, held_key or held_collapse, which undoes it (None):
        looking every key up first costs more than the rare retry."""
        if not collapses.replaces:
            states: Iterable[str] = itertools.repeat("held")
        else:
            keys = {"keys": dumps(collapses.replaced_keys(rows))}
            if c.execute(Q["find_keys"], keys).fetchone() is not None:
                return None  # a replaced row repeats a pending key: planned
            states = collapses.states(len(rows))
        c.execute("SAVEPOINT fresh")
        try:
            self._write(c, rows, states, now)
        except sqlite3.IntegrityError:
            c.execute("ROLLBACK TO fresh")
            c.execute("RELEASE fresh")
            return None
        c.execute("RELEASE fresh")
        if not collapses.replaces:
            return [build_outcome(r[_ID], "held", r[_RELEASE_AT]) for r in rows]
        self._audit(c, collapses.audit(rows, now))
        return collapses.outcomes(rows)

    def _insert_planned(
        self, c: sqlite3.Connection, messages: Sequence[HeldMessage], now: float
    ) -> builtins.list[InsertOutcome]:
        """Look up the batch's keys and collapse keys, then write what `plan_inserts` says."""
        found = c.execute(Q["find_keys"], {"keys": dumps(keys_of(messages))})
        by_key = {(e, scope, k): Existing(i, r, s) for e, scope, k, i, r, s in found}
        held_collapse: dict[Key, str] = {}
        ckeys = collapse_keys_of(messages)
        if ckeys:
            for e, scope, ck, i in c.execute(Q["find_collapse"], {"keys": dumps(ckeys)}):
                held_collapse[(e, scope, ck)] = i
        plan = plan_inserts(list(messages), by_key, held_collapse, now)
        if plan.replace_stored:
            c.executemany(Q["mark_replaced"], [(i,) for i in plan.replace_stored])
        rows = [held_fields(m) for m, _ in plan.inserts]
        self._write(c, rows, [state for _, state in plan.inserts], now)
        self._audit(c, plan.audit)
        return plan.outcomes

    def _write(
        self, c: sqlite3.Connection, rows: Sequence[HeldFields], states: Iterable[str], now: float
    ) -> None:
        first = c.execute(Q["last_seq"]).fetchone()[0] + 1
        written = NullFreeRows(INSERTS, rows, states, first, now)
        for statement, heads in written.inserts():
            c.executemany(statement, heads)
        c.executemany(Q["insert_body"], written.bodies)

    def release_now(
        self, establishment: str, message_id: str, actor: str | None, now: float
    ) -> bool:
        params = {"id": message_id, "establishment": establishment, "now": now}
        with self._tx() as c:
            found = c.execute(Q["held_release_at"], params).fetchone()
            if found is None:
                return False
            c.execute(Q["release_now"], params)
            detail = {"from": found[0]}
            entry = AuditEntry(now, establishment, message_id, "release_now", actor, detail)
            self._audit(c, [entry])
        self._waker.notify()
        return True

    def claim_due(
        self, now: float, limit: int, lease_seconds: float, worker_id: str
    ) -> builtins.list[HeldMessage]:
        params = claim_params(now, limit, lease_seconds, worker_id)
        lease_until = params["lease_until"]
        with self._tx() as c:
            rows = self._claim_rows(c, params)
            out = decode_claimed(rows, lease_until, worker_id)
            self._claimed.remember(out)
        return out

    def claim_release(
        self, now: float, limit: int, lease_seconds: float, worker_id: str
    ) -> builtins.list[ClaimedMessage]:
        """`claim_due`, each message read as the release reads it (`store.claimed`).

        The claim returns the seqs alone and one query reads the claimed rows with their
        held_body: a column returned by `UPDATE … RETURNING` costs SQLite more than the same
        column read by a SELECT (each is stored in a table of its own first), and the body
        was read by a query of its own anyway: 133,400 -> 128,600 instructions per released
        message (callgrind, the worker releasing benchmarks/queue.py's backlog)."""
        params = claim_params(now, limit, lease_seconds, worker_id)
        with self._tx() as c:
            expired = c.execute(Q["lease_expired"], params).fetchone() is not None
            claim = RELEASE_CLAIMS["claim_due"] if expired else RELEASE_CLAIMS["claim_held"]
            seqs = [r[0] for r in c.execute(claim, params)]
            if not seqs:
                return []
            rows = c.execute(Q["release_rows"], {"seqs": dumps(seqs)}).fetchall()
            out = decode_release(rows, zone_reader())
            self._claimed.remember(out)
        return out

    def _claim_rows(
        self, c: sqlite3.Connection, params: dict[str, Any]
    ) -> builtins.list[tuple[Any, ...]]:
        """Claim, then read the claimed rows' held_body: each row its claim's columns
        (seq third, the claim order first) followed by payload, meta and decision."""
        # no lease over (the usual case): the due held messages alone, already in order,
        # not merged with the expired leases and sorted again (3,400 instructions less per
        # claimed message, callgrind)
        expired = c.execute(Q["lease_expired"], params).fetchone() is not None
        claim = Q["claim_due"] if expired else Q["claim_held"]
        heads = c.execute(claim, params).fetchall()
        if not heads:
            return []
        seqs = dumps([h[_CLAIMED_SEQ] for h in heads])
        body = {s: (p, m, d) for s, p, m, d in c.execute(Q["claimed_bodies"], {"seqs": seqs})}
        return [h + body[h[_CLAIMED_SEQ]] for h in heads]

    def ack(self, ids: Sequence[str], worker_id: str, now: float) -> int:
        """Rows found by the seq their claim read (`ClaimedSeqs`), others by id: by seq, an
        acknowledged message costs 6,700 instructions less (callgrind, 50,000 messages): no
        JSON array of 32-character ids to read, no walk down the id's unique index."""
        if not ids:
            return 0
        with self._tx() as c:
            seqs, unknown = self._claimed.take(ids)
            done = 0
            if seqs:
                params = {"seqs": dumps(seqs), "worker_id": worker_id, "now": now}
                done += c.execute(Q["ack_seqs"], params).rowcount
            if unknown:
                params = {"ids": dumps(unknown), "worker_id": worker_id, "now": now}
                done += c.execute(Q["ack"], params).rowcount
        return done

    def fail(
        self, message_id: str, worker_id: str, now: float, error: str, retry_at: float | None
    ) -> bool:
        params = {"id": message_id, "worker_id": worker_id, "error": error, "retry_at": retry_at}
        with self._tx() as c:
            query = Q["fail_dead"] if retry_at is None else Q["fail_retry"]
            found = c.execute(query, params).fetchone()
            if found is None:
                return False
            e, i, a, state = found
            self._audit(c, fail_entries(e, i, a, state, worker_id, now, error, retry_at))
        if state == "held":
            self._waker.notify()
        return True

    def expire(self, ids: Sequence[str], worker_id: str, now: float) -> int:
        if not ids:
            return 0
        params = {"ids": dumps(builtins.list(ids)), "worker_id": worker_id, "now": now}
        with self._tx() as c:
            seqs = [r[0] for r in c.execute(Q["expire"], params)]
            rows = c.execute(Q["by_seqs"], {"seqs": dumps(seqs)}).fetchall() if seqs else []
            self._audit(c, [expire_entry(m, worker_id, now) for m in decode_many(rows)])
        return len(seqs)

    def give_back(self, ids: Sequence[str], worker_id: str, now: float, at: float) -> int:
        if not ids:
            return 0
        params = {"ids": dumps(builtins.list(ids)), "worker_id": worker_id, "at": at}
        with self._tx() as c:
            done: int = c.execute(Q["give_back"], params).rowcount
        if done:
            self._waker.notify()
        return done

    def reschedule(
        self,
        establishment: str,
        fn: Callable[[HeldMessage], float | Rescheduled],
        *,
        actor: str | None = None,
        now: float,
    ) -> int:
        with self._tx() as c:
            rows = decode_many(c.execute(Q["held_of"], {"establishment": establishment}))
            changed, audit, policies = plan_reschedule(
                rows, fn, establishment=establishment, actor=actor, now=now
            )
            c.executemany(Q["record_policy"], policies.items())
            updates = [
                {
                    "seq": row.seq,
                    "release_at": row.release_at,
                    "next_attempt_at": row.next_attempt_at,
                    "reasons": dumps(list(row.reasons)),
                    "decision": dumps(row.decision),
                    "policy": row.policy,
                    "state": row.state,
                }
                for row in changed
            ]
            c.executemany(Q["reschedule"], updates)
            c.executemany(Q["reschedule_body"], [(u["decision"], u["seq"]) for u in updates])
            self._audit(c, audit)
        if updates:
            self._waker.notify()
        return len(updates)

    # -- reading ---------------------------------------------------------------------------

    # -- waiting ---------------------------------------------------------------------------

    def wait_for_change(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self._closed:
            remaining = deadline - time.monotonic()
            generation = self._waker.wait(self._seen, min(remaining, self._poll))
            if generation != self._seen:
                self._seen = generation
                return not self._closed
            if self._other_process_wrote():
                return True
            if time.monotonic() >= deadline:
                return False
        return False

    def _other_process_wrote(self) -> bool:
        """`PRAGMA data_version` moves when another connection commits to the file."""
        with self._lock:
            if self._closed:
                return False
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            changed: bool = version != self._data_version
            self._data_version = version
            return changed

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._conn.close()
        self._waker.notify()


_ID, _RELEASE_AT = COLUMNS.index("id"), COLUMNS.index("release_at")
_CLAIMED_SEQ = CLAIMED_HEAD.index("seq")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())  # PostgreSQL's DETAIL/CONTEXT lines, in one answer
