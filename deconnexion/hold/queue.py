"""The hold queue: what an application calls to hold, inspect, cancel and reschedule messages.

`HoldQueue` owns the logic above a `HoldStore` (memory, SQLite, PostgreSQL): validation,
payload encoding, priorities, time zones, audit of urgent overrides and refusals, and
rescheduling from a `Scheduler`. Every operation names one establishment: a message of
another establishment is "not found", never visible. The release worker
(`deconnexion.release.worker`) takes messages out through the same store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from deconnexion.core.message import Decision, Message, PolicyIdentity
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.core.timeutil import aware, from_epoch, wall_clock, zone
from deconnexion.errors import InvalidInputError, PolicyNotRecordedError, StoreRefusedError
from deconnexion.hold.collector import COLLECTOR_PAUSE, GC_PAUSE_BATCH
from deconnexion.hold.follows import FollowCheck
from deconnexion.hold.request import (
    DEFAULT_MAX_PAYLOAD,
    CheckedInputs,
    HoldRequest,
    HoldResult,
    Payload,
    Places,
    build_request,
    build_result,
    build_row,
    decision_record,
    establishment_key,
    json_object,
)
from deconnexion.store.base import (
    STATES,
    AuditEntry,
    HeldMessage,
    HeldRows,
    HoldStore,
    Rescheduled,
    State,
    Stats,
)

__all__ = ["HoldQueue", "HoldRequest", "HoldResult"]


class _Decides(Protocol):
    def decide(self, message: Message) -> Decision: ...


class HoldQueue:
    """Hold messages in `store` until their release. `clock` returns epoch seconds."""

    def __init__(
        self,
        store: HoldStore,
        clock: Callable[[], float] = wall_clock,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_payload_bytes = max_payload_bytes
        self._recorded: set[str] = set()  # policy digests this queue has recorded in the store
        self._follows = FollowCheck()
        self._places = Places()  # establishments checked by earlier calls

    # -- holding ---------------------------------------------------------------------------

    def hold(
        self,
        *,
        establishment: Establishment | str,
        message: Message,
        decision: Decision,
        payload: Payload,
        idempotency_key: str,
        recipients: Sequence[str] | str = (),
        collapse_key: str | None = None,
        actor: str | None = None,
        content_type: str | None = None,
        meta: dict[str, Any] | None = None,
        anonymous: bool = False,
        expires_at: datetime | None = None,
        follows: str | None = None,
    ) -> HoldResult:
        """Hold one message until `decision.release_at`.

        Keys belong to their sender, `actor`: holding the same idempotency key again while
        the first message of that actor is still pending (held or claimed) returns it
        ("duplicate"); once it is delivered (or cancelled…) the key holds a new message. A
        held message of the same actor with the same collapse key is replaced by this one
        ("replaced"); another actor's never is. `anonymous=True` (a sender nobody
        authenticated): the keys match no other message, so this one is always held anew
        and replaces nothing.

        `expires_at` (aware; or the policy's `expires_after` for the kind, whichever comes
        first): if the release falls after it, the message is never delivered — at once
        (outcome "expired"), at a reschedule, or when a worker claims it too late.

        `follows`, for a grade to parents: the id of its students' held copy, held by the
        same sender. The worker then delivers it no sooner than the policy's delay after the
        students' copy was actually delivered (`deconnexion.release.follow`), whatever
        smoothing, retries or crashes do."""
        request = build_request(
            establishment, message, decision, payload, idempotency_key, recipients,
            collapse_key, actor, content_type, meta, anonymous, expires_at, follows,
        )  # fmt: skip
        return self._hold([request], single=True)[0]

    def hold_many(self, requests: Sequence[HoldRequest]) -> list[HoldResult]:
        """Hold a batch in one transaction, results in the same order. If one request is
        invalid, the error names it (`requests[3].payload: …`) and nothing is held.

        If the store refuses a row validation let through (`StoreRefusedError`), the batch
        is written again request by request: the others are held, and the error names the
        guilty request, its `results` attribute the outcome of each (a `HoldResult` or the
        error). A store outage (`StoreError`) holds nothing.

        A batch of `GC_PAUSE_BATCH` requests or more pauses Python's cycle collector while
        it is checked and written (see `deconnexion.hold.collector`)."""
        if len(requests) < GC_PAUSE_BATCH:
            return self._hold(requests, single=False)
        with COLLECTOR_PAUSE.paused():
            return self._hold(requests, single=False)

    def hold_each(self, requests: Sequence[HoldRequest]) -> list[HoldResult | InvalidInputError]:
        """Hold a batch, one transaction when possible; each request succeeds or fails
        alone: an invalid request, or one the store refuses, gets its error in its place in
        the list (unnamed: the error is that request's own) and the others are held. Only a
        store outage (`StoreError`) raises, and then nothing is held. The gate's group
        commit writes through this: one bad request never fails another's."""
        checked = self._checked(len(requests))
        out: list[HoldResult | InvalidInputError | None] = [None] * len(requests)
        rows: list[tuple[Any, ...]] = []
        zones: list[str] = []
        where: list[int] = []
        for n, request in enumerate(requests):
            try:
                row, tz = build_row(request, checked)
            except InvalidInputError as exc:
                out[n] = exc
                continue
            refused = self._follows.error(self.store, request, row)
            if refused is not None:
                out[n] = refused
                continue
            rows.append(row)
            zones.append(tz)
            where.append(n)
        for n, result in zip(where, self._insert(rows, zones, checked.policies), strict=True):
            out[n] = result
        return [r for r in out if r is not None]

    def _checked(self, count: int) -> CheckedInputs:
        """A call's `CheckedInputs`, with the establishments this queue has checked before."""
        self._places.forget_beyond()
        return CheckedInputs(self.max_payload_bytes, count, self._places)

    def _hold(self, requests: Sequence[HoldRequest], *, single: bool) -> list[HoldResult]:
        checked = self._checked(len(requests))
        rows: list[tuple[Any, ...]] = []
        zones: list[str] = []
        for request in requests:
            try:
                row, tz = build_row(request, checked)
            except InvalidInputError:
                if single:
                    raise
                self._name_the_bad_request(checked, requests, len(rows))
                raise  # not reached: checking again raises the same error, named
            rows.append(row)
            zones.append(tz)
        self._check_followed(requests, rows, single)
        results = self._insert(rows, zones, checked.policies)
        for n, result in enumerate(results):
            if isinstance(result, InvalidInputError):
                if single:
                    raise result
                held = sum(isinstance(r, HoldResult) for r in results)
                error = StoreRefusedError(
                    f"requests[{n}]: {result} — the {held} other valid requests of this batch "
                    f"of {len(requests)} were held (see .results)"
                )
                error.results = tuple(results)
                raise error
        return results  # type: ignore[return-value]  # no error: all are HoldResult

    def _insert(
        self,
        rows: list[tuple[Any, ...]],
        zones: Sequence[str],
        policies: dict[str, str],
    ) -> list[HoldResult | InvalidInputError]:
        """Store checked rows in one transaction; if the store refuses one's data, each
        alone, so only the guilty request fails. A store outage raises. The `policies`
        the rows name (digest → JSON) are recorded first."""
        if not rows:
            return []
        self._record_policies(policies)
        try:
            outcomes: list[Any] = self.store.insert_many(HeldRows(rows), now=self.clock())
        except StoreRefusedError as exc:
            if len(rows) == 1:
                return [exc]
            outcomes = []
            for row in rows:
                try:
                    outcomes.extend(self.store.insert_many(HeldRows([row]), now=self.clock()))
                except StoreRefusedError as alone:
                    outcomes.append(alone)
        self._follows.remember(self.store, rows, outcomes)
        times: dict[tuple[float, str], datetime] = {}  # a batch shares few release times
        results: list[HoldResult | InvalidInputError] = []
        for o, tz in zip(outcomes, zones, strict=True):
            if isinstance(o, StoreRefusedError):
                results.append(o)
                continue
            at = times.get((o.release_at, tz))
            if at is None:
                at = times[(o.release_at, tz)] = from_epoch(o.release_at, zone(tz))
            results.append(build_result(o.id, o.outcome, o.replaced_id, at, o.state))
        return results

    def _record_policies(self, policies: dict[str, str]) -> None:
        """Record the policies a batch was decided under before the messages naming them (a
        policy recorded for a batch that then fails is harmless), once per queue."""
        new = {d: text for d, text in policies.items() if d not in self._recorded}
        if new:
            self.store.record_policies(new)
            self._recorded.update(new)

    def _check_followed(
        self, requests: Sequence[HoldRequest], rows: Sequence[tuple[Any, ...]], single: bool
    ) -> None:
        """Each parents' grade of a batch follows a message it may follow, or nothing is held."""
        for n, (request, row) in enumerate(zip(requests, rows, strict=True)):
            if request.follows is None:  # most requests: no call, no prefix formatted
                continue
            error = self._follows.error(
                self.store, request, row, "" if single else f"requests[{n}]."
            )
            if error is not None:
                if not single:
                    raise type(error)(
                        f"{error} — nothing of this batch of {len(requests)} was held"
                    )
                raise error

    @staticmethod
    def _name_the_bad_request(
        checked: CheckedInputs, requests: Sequence[HoldRequest], n: int
    ) -> None:
        """Check request `n` again with its name in the error (`requests[3].payload: …`):
        naming every request as it is checked costs more than checking twice the bad one."""
        try:
            build_row(requests[n], checked, f"requests[{n}].")
        except InvalidInputError as exc:
            raise type(exc)(f"{exc} — nothing of this batch of {len(requests)} was held") from None

    # -- one establishment's messages ------------------------------------------------------

    def get(self, establishment: Establishment | str, message_id: str) -> HeldMessage | None:
        """The message, or None if unknown or another establishment's."""
        return self.store.get(establishment_key(establishment), message_id)

    def cancel(
        self, establishment: Establishment | str, message_id: str, actor: str | None = None
    ) -> bool:
        """Cancel a held message. False if unknown, another establishment's, or no longer
        held (already claimed by a worker, released, replaced…)."""
        return self.store.cancel(establishment_key(establishment), message_id, actor, self.clock())

    def release_now(
        self, establishment: Establishment | str, message_id: str, actor: str | None = None
    ) -> bool:
        """Make a held message due now (an operator's decision, audited)."""
        key = establishment_key(establishment)
        return self.store.release_now(key, message_id, actor, self.clock())

    def stats(self, establishment: Establishment | str | None = None) -> Stats:
        """Counters of one establishment; None: of all (an operator's view)."""
        return self.store.stats(None if establishment is None else establishment_key(establishment))

    def audit(
        self,
        establishment: Establishment | str,
        since: datetime | None = None,
        limit: int = 1000,
        message_id: str | None = None,
    ) -> list[AuditEntry]:
        start = None if since is None else aware(since, "since").timestamp()
        return self.store.audit(establishment_key(establishment), start, limit, message_id)

    def due_soonest(self) -> datetime | None:
        """When the next message becomes claimable (UTC), None if nothing is pending."""
        at = self.store.next_due_at()
        return None if at is None else datetime.fromtimestamp(at, UTC)

    # -- urgent messages -------------------------------------------------------------------

    def record_override(
        self,
        *,
        establishment: Establishment | str,
        message: Message,
        actor: str | None,
        justification: str | None = None,
        decision: Decision | None = None,
        meta: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> AuditEntry:
        """Audit an urgent message sent during a quiet window by the head of school."""
        detail = _urgent_detail(message, decision, meta)
        detail["justification"] = justification or message.justification
        return self._record(establishment, message_id, "urgent_override", actor, detail)

    def record_refusal(
        self,
        *,
        establishment: Establishment | str,
        message: Message,
        actor: str | None,
        decision: Decision | None = None,
        message_id: str | None = None,
        reason: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Audit an "urgent" flag that was not honoured (the message was held instead)."""
        detail = _urgent_detail(message, decision, meta)
        detail["justification"] = message.justification
        if reason:
            detail["reason"] = reason
        return self._record(establishment, message_id, "urgent_refused", actor, detail)

    def _record(
        self,
        establishment: Establishment | str,
        message_id: str | None,
        action: Any,
        actor: str | None,
        detail: dict[str, Any],
    ) -> AuditEntry:
        entry = AuditEntry(
            self.clock(), establishment_key(establishment), message_id, action, actor, detail
        )
        self.store.append_audit([entry])
        return entry

    # -- calendar or policy changes --------------------------------------------------------

    def reschedule(
        self,
        establishment: Establishment | str,
        scheduler: _Decides | None = None,
        *,
        actor: str | None = None,
    ) -> int:
        """Ask again for every held message of the establishment (a closure was added, a newer
        calendar imported…); each gets the release time now given for the original message.
        Released or in-flight messages are never touched. Returns how many changed; each change
        is audited ("reschedule", from → to).

        Without `scheduler`, each message is decided again under the policy it was held
        under (recorded by the store), for `establishment` (an `Establishment`): nothing is
        ever moved under a policy it was not decided by. A message with no recorded policy
        raises `PolicyNotRecordedError` and nothing changes: name the policy with a
        `Scheduler`. With `scheduler`, every message is decided by it and now records its
        policy."""
        key = establishment_key(establishment)
        if scheduler is None:
            schedulers = self._recorded_schedulers(establishment)

        in_zone = _ZonedSchedulers()

        def again(row: HeldMessage) -> Rescheduled:
            chosen = scheduler if scheduler is not None else _recorded(schedulers, row)
            decision = in_zone(chosen, row).decide(rebuild_message(row))
            release = aware(decision.release_at, "scheduler.decide().release_at").timestamp()
            policy = decision.policy
            recorded = None if policy is None else (policy.digest, policy.json)
            return Rescheduled(release, decision.codes, decision_record(decision), recorded)

        return self.store.reschedule(key, again, actor=actor, now=self.clock())

    def _recorded_schedulers(self, establishment: Establishment | str) -> dict[str, _Decides]:
        """A scheduler per policy the establishment's held messages were decided under."""
        if not isinstance(establishment, Establishment):
            raise InvalidInputError(
                f"establishment: {establishment!r}: rescheduling under the recorded policies "
                "needs an Establishment (its calendar), or pass a scheduler"
            )
        counts = self.store.held_policies(establishment.key)
        unrecorded = counts.pop(None, 0)
        if unrecorded:
            raise PolicyNotRecordedError(
                f"{unrecorded} held message(s) of {establishment.key} have no recorded policy "
                "(held before deconnexion recorded it): reschedule them with the policy they "
                "were held under (deconnexion reschedule --policy FILE); nothing was changed"
            )
        out: dict[str, _Decides] = {}
        for digest in [d for d in counts if d is not None]:
            text = self.store.recorded_policy(digest)
            if text is None:
                raise PolicyNotRecordedError(
                    f"policy {digest} named by held messages of {establishment.key} is not in "
                    "the store: reschedule them with --policy FILE; nothing was changed"
                )
            policy = Policy.from_recorded(PolicyIdentity(digest, text))
            out[digest] = Scheduler(policy, establishment)
        return out

    # `list` comes last: below this `def`, `list` in a method's annotations would name the
    # method, not the builtin (it keeps its name: it is the documented API).
    def list(
        self,
        establishment: Establishment | str,
        states: Iterable[State] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[HeldMessage]:
        wanted = None if states is None else _states(states)
        if not (isinstance(limit, int) and 1 <= limit <= 10_000):
            raise InvalidInputError(f"limit: {limit!r}, expected an integer from 1 to 10000")
        if not (isinstance(offset, int) and offset >= 0):
            raise InvalidInputError(f"offset: {offset!r}, expected an integer >= 0")
        return self.store.list(establishment_key(establishment), wanted, limit, offset)


def _recorded(schedulers: dict[str, _Decides], row: HeldMessage) -> _Decides:
    found = None if row.policy is None else schedulers.get(row.policy)
    if found is None:  # held meanwhile, under a policy not looked up: stop, change nothing
        raise PolicyNotRecordedError(
            f"held message {row.id} ({row.policy or 'no recorded policy'}) was held while "
            "rescheduling began; run the reschedule again (nothing was changed)"
        )
    return found


class _ZonedSchedulers:
    """The scheduler for a held message in the time zone it was decided in.

    A store knows an establishment by its key (`Establishment.key`), which does not carry an
    establishment's own time zone (a collège on Nuku Hiva keeps Marquesas time, UTC−9:30, in a
    territory on Tahiti time): rebuilt from its key, the establishment would get its
    territory's zone and a reschedule would move the message 30 minutes early. The decision
    recorded with each message names its zone; a `Scheduler` in another zone is rebuilt once
    per zone for the same policy and establishment.
    """

    def __init__(self) -> None:
        self._built: dict[tuple[Scheduler, str], Scheduler] = {}

    def __call__(self, chosen: _Decides, row: HeldMessage) -> _Decides:
        recorded = row.decision.get("timezone")
        if not isinstance(chosen, Scheduler) or not recorded or recorded == chosen.tz.key:
            return chosen
        key = (chosen, str(recorded))
        found = self._built.get(key)
        if found is None:
            where = chosen.establishment.model_copy(update={"timezone": str(recorded)})
            found = self._built[key] = Scheduler(chosen.policy, where)
        return found


def rebuild_message(row: HeldMessage) -> Message:
    """The `Message` a held record was decided from."""
    tz = zone(str(row.decision.get("timezone") or "UTC"))
    publish = row.publish_to_students_at
    return Message(
        kind=row.kind,
        audience=row.audience,
        created_at=from_epoch(row.created_at, tz),
        sender_role=row.sender_role,
        urgent=row.urgent,
        justification=row.justification,
        publish_to_students_at=None if publish is None else from_epoch(publish, tz),
    )


def _states(states: Iterable[State]) -> list[State]:
    if isinstance(states, str):
        states = [states]  # type: ignore[list-item]  # a lone "held" is a common slip
    wanted = list(states)
    for s in wanted:
        if s not in STATES:
            raise InvalidInputError(f"states: {s!r} is not a state; expected {', '.join(STATES)}")
    return wanted


def _urgent_detail(
    message: Message, decision: Decision | None, meta: dict[str, Any] | None
) -> dict[str, Any]:
    if not isinstance(message, Message):
        raise InvalidInputError(f"message: expected a Message, got {type(message).__name__}")
    detail: dict[str, Any] = {
        "kind": message.kind.value,
        "audience": message.audience.value,
        "sender_role": message.sender_role.value,
        "created_at": message.created_at.isoformat(),
    }
    if decision is not None:
        detail["release_at"] = decision.release_at.isoformat()
        detail["reasons"] = list(decision.codes)
    if meta:
        detail["meta"] = json_object(meta, "meta")
    return detail
