"""In-memory hold store: for tests and demos; everything is lost when the process ends.

One lock guards everything, so each method is one atomic step, like a transaction. Records
go through a JSON round trip on the way in and out so callers see what a database would
give back (lists, not tuples, inside `meta`; no shared mutable dicts).
"""

from __future__ import annotations

import builtins
import heapq
import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from deconnexion.errors import StoreError
from deconnexion.store.base import (
    PENDING,
    AuditEntry,
    HeldMessage,
    InsertOutcome,
    Rescheduled,
    State,
    Stats,
)
from deconnexion.store.claimed import ClaimedMessage, release_claims
from deconnexion.store.common import (
    AuditSort,
    derived_hold,
    derived_release,
    expire_entry,
    fail_entries,
    plan_reschedule,
    sorted_counts,
)
from deconnexion.store.insert_plan import Existing, Key, collapse_keys_of, keys_of, plan_inserts

__all__ = ["MemoryStore"]

_Key = tuple[float, int, int, str]  # (release_at, priority, seq, id)


def _jcopy(value: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(value))
    return copied


class MemoryStore:
    """A `HoldStore` kept in dictionaries, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._dirty = False
        self._closed = False
        self._rows: dict[str, HeldMessage] = {}
        self._by_key: dict[Key, str] = {}  # the latest message of each key, maybe not pending
        self._collapse: dict[Key, str] = {}  # held messages only
        self._claimed: set[str] = set()
        self._due: builtins.list[_Key] = []  # held messages in claim order, lazily cleaned
        self._next: builtins.list[tuple[float, str]] = []  # (next_attempt_at, id), lazily cleaned
        self._audit: builtins.list[tuple[int, AuditEntry]] = []
        self._held: dict[str, tuple[float, float]] = {}  # id → (held_at, held_release_at)
        self._seq = 0
        self._policies: dict[str, str] = {}  # digest → canonical JSON

    # -- writing ---------------------------------------------------------------------------

    def insert_many(
        self, messages: Sequence[HeldMessage], *, now: float
    ) -> builtins.list[InsertOutcome]:
        with self._lock:
            self._check_open()
            ids = [m.id for m in messages]
            if len(set(ids)) != len(ids) or any(i in self._rows for i in ids):
                raise StoreError("insert_many: a message id is repeated or already stored")
            by_key: dict[Key, Existing] = {}
            for ik in keys_of(messages):
                found = self._by_key.get(ik)
                if found is not None and self._rows[found].state in PENDING:
                    old = self._rows[found]
                    by_key[ik] = Existing(old.id, old.release_at, old.state)
            held_collapse: dict[Key, str] = {}
            for ck in collapse_keys_of(messages):
                owner = self._collapse.get(ck)
                if owner is not None:
                    held_collapse[ck] = owner
            plan = plan_inserts(list(messages), by_key, held_collapse, now)
            for rid in plan.replace_stored:
                self._put(replace(self._rows[rid], state="replaced"))
            for m, state in plan.inserts:
                self._seq += 1
                row = replace(
                    m,
                    seq=self._seq,
                    state=state,
                    meta=_jcopy(m.meta),
                    decision=_jcopy(m.decision),
                    recipients=tuple(m.recipients),
                    reasons=tuple(m.reasons),
                )
                self._rows[m.id] = row
                self._held[m.id] = (now, m.release_at)
                if m.key_scope is not None:
                    self._by_key[(m.establishment, m.key_scope, m.idempotency_key)] = m.id
                if state == "held":
                    owned = _collapse_key(row)
                    if owned is not None:
                        self._collapse[owned] = m.id
                    self._index(row)
            self._append(plan.audit)
            self._wake()
            return plan.outcomes

    def cancel(self, establishment: str, message_id: str, actor: str | None, now: float) -> bool:
        with self._lock:
            row = self._mine(establishment, message_id)
            if row is None or row.state != "held":
                return False
            self._put(replace(row, state="cancelled"))
            self._append([AuditEntry(now, establishment, message_id, "cancel", actor, {})])
            return True

    def release_now(
        self, establishment: str, message_id: str, actor: str | None, now: float
    ) -> bool:
        with self._lock:
            row = self._mine(establishment, message_id)
            if row is None or row.state != "held":
                return False
            self._put(replace(row, release_at=now, next_attempt_at=now))
            detail = {"from": row.release_at}
            self._append([AuditEntry(now, establishment, message_id, "release_now", actor, detail)])
            self._wake()
            return True

    def claim_due(
        self, now: float, limit: int, lease_seconds: float, worker_id: str
    ) -> builtins.list[HeldMessage]:
        with self._lock:
            self._check_open()
            found: dict[str, HeldMessage] = {}
            for mid in self._claimed:
                row = self._rows[mid]
                if row.lease_until is not None and row.lease_until <= now:
                    found[mid] = row
            later: builtins.list[_Key] = []
            held_taken = 0
            while self._due and held_taken < limit and self._due[0][0] <= now:
                key = heapq.heappop(self._due)
                row = self._rows[key[3]]
                if row.state != "held" or _key(row) != key or key[3] in found:
                    continue  # stale entry
                if row.next_attempt_at > now:
                    later.append(key)
                    continue
                found[row.id] = row
                held_taken += 1
            chosen = sorted(found.values(), key=_key)[:limit]
            chosen_ids = {r.id for r in chosen}
            for row in found.values():
                if row.state == "held" and row.id not in chosen_ids:
                    later.append(_key(row))
            for key in later:
                heapq.heappush(self._due, key)
            out = []
            for row in chosen:
                claimed = replace(
                    row,
                    state="claimed",
                    lease_until=now + lease_seconds,
                    worker_id=worker_id,
                    attempts=row.attempts + 1,
                )
                self._put(claimed)
                out.append(_out(claimed))
            return out

    def claim_release(
        self, now: float, limit: int, lease_seconds: float, worker_id: str
    ) -> builtins.list[ClaimedMessage]:
        """`claim_due`, each message read as the release reads it (`store.claimed`)."""
        return release_claims(self.claim_due(now, limit, lease_seconds, worker_id))

    def ack(self, ids: Sequence[str], worker_id: str, now: float) -> int:
        done = 0
        with self._lock:
            for mid in ids:
                row = self._rows.get(mid)
                if row is None or row.state != "claimed" or row.worker_id != worker_id:
                    continue
                self._put(replace(row, state="released", released_at=now, lease_until=None))
                done += 1  # the "release" audit entry is derived from the row
            return done

    def fail(
        self, message_id: str, worker_id: str, now: float, error: str, retry_at: float | None
    ) -> bool:
        with self._lock:
            row = self._rows.get(message_id)
            if row is None or row.state != "claimed" or row.worker_id != worker_id:
                return False
            state: State = "dead"
            if retry_at is not None:
                # a newer message with the same collapse key supersedes this one
                ck = _collapse_key(row)
                state = "replaced" if ck is not None and ck in self._collapse else "held"
            new = replace(row, state=state, lease_until=None, last_error=error)
            if state == "held" and retry_at is not None:
                new = replace(new, next_attempt_at=max(retry_at, row.release_at))
            self._put(new)
            if state == "held" and ck is not None:
                self._collapse[ck] = row.id
            entries = fail_entries(
                row.establishment, row.id, row.attempts, state, worker_id, now, error, retry_at
            )
            self._append(entries)
            if state == "held":
                self._wake()
            return True

    def expire(self, ids: Sequence[str], worker_id: str, now: float) -> int:
        entries: builtins.list[AuditEntry] = []
        with self._lock:
            for mid in ids:
                row = self._rows.get(mid)
                if row is None or row.state != "claimed" or row.worker_id != worker_id:
                    continue
                if row.expires_at is None or row.expires_at > now:
                    continue
                self._put(replace(row, state="expired", lease_until=None))
                entries.append(expire_entry(row, worker_id, now))
            self._append(entries)
        return len(entries)

    def give_back(self, ids: Sequence[str], worker_id: str, now: float, at: float) -> int:
        done = 0
        with self._lock:
            for mid in ids:
                row = self._rows.get(mid)
                if row is None or row.state != "claimed" or row.worker_id != worker_id:
                    continue
                ck = _collapse_key(row)
                superseded = ck is not None and ck in self._collapse
                new = replace(
                    row,
                    state="replaced" if superseded else "held",
                    lease_until=None,
                    attempts=max(0, row.attempts - 1),
                    next_attempt_at=max(at, row.release_at),
                )
                self._put(new)
                if ck is not None and not superseded:
                    self._collapse[ck] = row.id
                done += 1
            if done:
                self._wake()
        return done

    def reschedule(
        self,
        establishment: str,
        fn: Callable[[HeldMessage], float | Rescheduled],
        *,
        actor: str | None = None,
        now: float,
    ) -> int:
        with self._lock:
            rows = [
                r
                for r in self._rows.values()
                if r.establishment == establishment and r.state == "held"
            ]
            rows.sort(key=lambda r: r.seq)
            changed, audit, policies = plan_reschedule(
                [_out(r) for r in rows], fn, establishment=establishment, actor=actor, now=now
            )
            for digest, text in policies.items():
                self._policies.setdefault(digest, text)
            updates = [replace(row, decision=_jcopy(row.decision)) for row in changed]
            for row in updates:  # fn raised nothing: apply all
                self._put(row)
            self._append(audit)
            if updates:
                self._wake()
            return len(updates)

    def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        with self._lock:
            self._append([replace(e, detail=_jcopy(e.detail)) for e in entries])

    def record_policies(self, policies: Mapping[str, str]) -> None:
        with self._lock:
            self._check_open()
            for digest, text in policies.items():
                self._policies.setdefault(digest, text)

    def recorded_policy(self, digest: str) -> str | None:
        with self._lock:
            return self._policies.get(digest)

    def held_policies(self, establishment: str) -> dict[str | None, int]:
        counts: dict[str | None, int] = {}
        with self._lock:
            for r in self._rows.values():
                if r.establishment == establishment and r.state == "held":
                    counts[r.policy] = counts.get(r.policy, 0) + 1
        return counts

    # -- reading ---------------------------------------------------------------------------

    def get(self, establishment: str, message_id: str) -> HeldMessage | None:
        with self._lock:
            row = self._mine(establishment, message_id)
            return None if row is None else _out(row)

    def list(
        self,
        establishment: str,
        states: Iterable[State] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[HeldMessage]:
        wanted = None if states is None else set(states)
        with self._lock:
            rows = [
                r
                for r in self._rows.values()
                if r.establishment == establishment and (wanted is None or r.state in wanted)
            ]
            rows.sort(key=lambda r: r.seq)
            return [_out(r) for r in rows[offset : offset + limit]]

    def stats(self, establishment: str | None = None) -> Stats:
        with self._lock:
            by_state: dict[str, int] = {}
            by_reason: dict[str, int] = {}
            oldest: float | None = None
            nxt: float | None = None
            for r in self._rows.values():
                if establishment is not None and r.establishment != establishment:
                    continue
                by_state[r.state] = by_state.get(r.state, 0) + 1
                if r.state != "held":
                    continue
                for code in r.reasons:
                    by_reason[code] = by_reason.get(code, 0) + 1
                oldest = r.created_at if oldest is None else min(oldest, r.created_at)
                nxt = r.release_at if nxt is None else min(nxt, r.release_at)
            return Stats(
                establishment,
                by_state.get("held", 0),
                sorted_counts(by_reason),
                sorted_counts(by_state),
                oldest,
                nxt,
            )

    def count_due(self, now: float) -> int:
        with self._lock:
            return sum(
                1
                for row in self._rows.values()
                if (row.state == "held" and max(row.release_at, row.next_attempt_at) <= now)
                or (row.state == "claimed" and (row.lease_until or 0.0) <= now)
            )

    def next_due_at(self) -> float | None:
        with self._lock:
            while self._next:
                at, mid = self._next[0]
                row = self._rows[mid]
                if row.state == "held" and row.next_attempt_at == at:
                    break
                heapq.heappop(self._next)
            best = self._next[0][0] if self._next else None
            for mid in self._claimed:
                lease = self._rows[mid].lease_until
                if lease is not None and (best is None or lease < best):
                    best = lease
            return best

    def audit(
        self,
        establishment: str,
        since: float | None = None,
        limit: int = 1000,
        message_id: str | None = None,
    ) -> builtins.list[AuditEntry]:
        low = -math.inf if since is None else since
        found: builtins.list[tuple[AuditSort, AuditEntry]] = []
        with self._lock:
            for n, e in self._audit:
                if e.establishment == establishment and e.at >= low:
                    if message_id is None or e.message_id == message_id:
                        found.append(((e.at, 1, n), replace(e, detail=_jcopy(e.detail))))
            for r in self._rows.values():
                if r.establishment != establishment:
                    continue
                if message_id is not None and r.id != message_id:
                    continue
                held_at, held_release_at = self._held[r.id]
                if held_at >= low:
                    entry = derived_hold(
                        r.establishment, r.id, r.actor, held_at, held_release_at, r.reasons
                    )
                    found.append(((held_at, 0, r.seq), entry))
                if r.state == "released" and r.released_at is not None and r.released_at >= low:
                    entry = derived_release(
                        r.establishment, r.id, r.worker_id, r.released_at, r.attempts
                    )
                    found.append(((r.released_at, 2, r.seq), entry))
        found.sort(key=lambda t: t[0])
        return [e for _, e in found[:limit]]

    def establishments_with_held(self) -> builtins.list[str]:
        with self._lock:
            return sorted({r.establishment for r in self._rows.values() if r.state == "held"})

    # -- waiting ---------------------------------------------------------------------------

    def wait_for_change(self, timeout: float) -> bool:
        with self._changed:
            woken = self._changed.wait_for(lambda: self._dirty or self._closed, timeout)
            self._dirty = False
            return bool(woken) and not self._closed

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    # -- internals (lock held) -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the memory store is closed")

    def _mine(self, establishment: str, message_id: str) -> HeldMessage | None:
        row = self._rows.get(message_id)
        if row is None or row.establishment != establishment:
            return None  # another tenant's message is "not found", never "forbidden"
        return row

    def _put(self, row: HeldMessage) -> None:
        old = self._rows[row.id]
        self._rows[row.id] = row
        if row.state == "claimed":
            self._claimed.add(row.id)
        else:
            self._claimed.discard(row.id)
        if row.state == "held" and (
            old.state != "held"
            or _key(old) != _key(row)
            or old.next_attempt_at != row.next_attempt_at
        ):
            self._index(row)
        ck = _collapse_key(row)
        if ck is not None and row.state != "held":
            if self._collapse.get(ck) == row.id:
                del self._collapse[ck]

    def _index(self, row: HeldMessage) -> None:
        heapq.heappush(self._due, _key(row))
        heapq.heappush(self._next, (row.next_attempt_at, row.id))

    def _append(self, entries: Sequence[AuditEntry]) -> None:
        base = len(self._audit)
        self._audit.extend((base + i, e) for i, e in enumerate(entries))

    def _wake(self) -> None:
        self._dirty = True
        self._changed.notify_all()


def _collapse_key(row: HeldMessage) -> Key | None:
    if row.collapse_key is None or row.key_scope is None:
        return None
    return (row.establishment, row.key_scope, row.collapse_key)


def _key(row: HeldMessage) -> _Key:
    return (row.release_at, row.priority, row.seq, row.id)


def _out(row: HeldMessage) -> HeldMessage:
    return replace(row, meta=_jcopy(row.meta), decision=_jcopy(row.decision))
