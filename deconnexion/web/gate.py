"""The decision for one gated request, free of ASGI: who sends, which establishment, what
message, what the scheduler says, and what the hold queue stored.

`Gate.judge` returns a verdict (`deconnexion.web.answers`): `Passed`, `Held` (the stored
message, its release instant and decision) or `Refused` (400 bad input, 503 store or calendar
unavailable, with the reason). It shapes no response: the middleware answers. Store calls are
synchronous and run in a worker thread.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from deconnexion.core.message import (
    Audience,
    Decision,
    Kind,
    Message,
    Reason,
    ReasonCode,
    SenderRole,
)
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.errors import (
    CalendarUnknownError,
    DeconnexionError,
    InvalidInputError,
    OutOfRangeError,
    StoreError,
)
from deconnexion.hold.queue import HoldQueue
from deconnexion.hold.request import HoldRequest
from deconnexion.web._http import Scope, in_thread, route_path
from deconnexion.web.answers import Held, Passed, Refused, Verdict
from deconnexion.web.fields import Extracted, Plan, RequestView, extract, parse_json, request_digest
from deconnexion.web.group_commit import GroupCommit
from deconnexion.web.identity import IdentityResolver, Sender
from deconnexion.web.open_spans import (
    OpenPass,
    OpenPasses,
    OpenSpans,
    Unread,
    unread_plan,
    urgency_asked,
)
from deconnexion.web.request_line import forwarded_target
from deconnexion.web.routes import RouteMatch, check_header_allowlist
from deconnexion.web.signing import identity_headers
from deconnexion.web.tenant import EstablishmentResolver, member_of

__all__ = ["PASS", "PASS_UNREAD", "READ", "TOO_LARGE", "Gate"]

log = logging.getLogger("deconnexion.gate")


PASS = Passed()
READ, PASS_UNREAD, TOO_LARGE = 0, 1, 2


class Gate:
    def __init__(
        self,
        *,
        queue: HoldQueue,
        scheduler_for: Callable[[Establishment], Scheduler],
        identity: IdentityResolver,
        establishment: EstablishmentResolver,
        header_allowlist: Sequence[str],
        clock: Callable[[], float],
        schedulers_alike: bool = False,
    ) -> None:
        """`schedulers_alike`: `scheduler_for` answers alike for the same establishment object
        (`deconnexion.web.middleware.schedulers` does), so an open pass may be remembered per
        establishment (`OpenPasses`) without asking it again."""
        self.queue = queue
        self.scheduler_for = scheduler_for
        self.identity = identity
        self.establishment = establishment
        # refused when it names a credential, the signed identity header included
        kept = check_header_allowlist(header_allowlist, identity_headers(identity))
        self.allow = frozenset(h.encode("latin-1") for h in kept)
        self.clock = clock
        self._plans: dict[int, tuple[Plan, Unread | None]] = {}
        # Group commit when the queue can hold a batch in one transaction.
        self._group = GroupCommit(queue, HoldRequest) if hasattr(queue, "hold_many") else None
        self._open = OpenSpans()
        self._passes = OpenPasses() if schedulers_alike else None

    async def _hold(self, **fields: Any) -> Any:
        if self._group is not None:
            return await self._group.hold(**fields)
        return await in_thread(self.queue.hold, **fields)

    def _plan(self, match: RouteMatch) -> tuple[Plan, Unread | None]:
        found = self._plans.get(id(match.rule))
        if found is None:
            plan = Plan(match.rule)
            found = self._plans[id(match.rule)] = (plan, unread_plan(plan))
        return found

    def triage(
        self,
        scope: Scope,
        match: RouteMatch,
        max_body: int,
        named: Mapping[bytes, bytes] | None = None,
    ) -> int:
        """Before the body: READ it, PASS unread (see open_spans), or TOO_LARGE (declared).
        `named` is ``dict(scope["headers"])`` when the caller has built it already."""
        unread = (self._plans.get(id(match.rule)) or self._plan(match))[1]
        headers = scope.get("headers") or ()  # ASGI servers give lower-case names
        # One dict built in C answers every header question below (measured with callgrind on
        # the open-window POST of benchmarks/asgi.py, five headers: 1,500 instructions a request
        # fewer than a Python loop over them). A repeated name would be seen
        # once: then every declared length is checked and the body read (the full path joins
        # repeated values, so the gate judges what the application gets).
        if named is None:
            named = dict(headers)
        if len(named) != len(headers):
            for k, v in headers:
                if k == b"content-length" and v.isdigit() and int(v) > max_body:
                    return TOO_LARGE
            return READ
        length = named.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            return TOO_LARGE
        if unread is None:
            return READ
        if not (unread.header_only and unread.headers.isdisjoint(named)) and urgency_asked(
            unread, named, scope, match.params
        ):
            return READ
        try:
            establishment = self.establishment(scope, self.identity(scope))
            if establishment is None:
                return READ
            now = self.clock()  # read once, for this request
            passes = self._passes
            if passes is not None and passes.open_at(establishment, unread, now):
                return PASS_UNREAD
            scheduler = self.scheduler_for(establishment)
        except DeconnexionError:
            return READ  # the full path answers with the error
        if unread.may_be_grade and scheduler.policy.grade_publication:
            return READ  # open now is not enough: a grade waits for a publication hour
        span = self._open.open_span(scheduler, unread.audiences, now)
        if span is None:
            return READ
        if passes is not None and span[0] < span[1]:
            passes.remember(establishment, unread, span)
        return PASS_UNREAD

    def open_pass(self, scope: Scope, match: RouteMatch) -> OpenPass | None:
        """The open pass `triage` remembered for this request's establishment and rule (after
        it answered PASS_UNREAD), for the middleware's `ExactPasses`; None when there is none
        (a custom `scheduler_for`, a rule read in full, an instant outside compiled bounds)."""
        unread = self._plan(match)[1]
        if self._passes is None or unread is None:
            return None
        try:
            establishment = self.establishment(scope, self.identity(scope))
        except DeconnexionError:
            return None
        return None if establishment is None else self._passes.found(establishment, unread)

    async def judge(self, scope: Scope, match: RouteMatch, body: bytes) -> Verdict:
        try:
            return await self._judge(scope, match, body)
        except OutOfRangeError as exc:  # the server's calendar range, not the client's fault
            return Refused(503, "calendar_out_of_range", str(exc))
        except InvalidInputError as exc:
            return Refused(400, "invalid_request", str(exc))
        except CalendarUnknownError as exc:
            return Refused(503, "calendar_unknown", str(exc))
        except StoreError as exc:
            log.error("hold store unavailable: %s", exc)
            return Refused(503, "store_unavailable", f"hold store unavailable: {exc}")

    async def _judge(self, scope: Scope, match: RouteMatch, body: bytes) -> Verdict:
        rule = match.rule
        plan = self._plan(match)[0]
        headers = _headers(scope, plan.headers)
        query_string = scope.get("query_string", b"").decode("latin-1")
        view = RequestView(
            method=scope["method"],
            path=route_path(scope),
            params=match.params,
            headers=headers,
            query=_query(query_string) if plan.wants_query else {},
            body=body,
            json=parse_json(body) if plan.wants_json else None,
            query_string=query_string,
        )
        sender = self.identity(scope)
        establishment = self.establishment(scope, sender)
        if establishment is None:
            return Refused(
                400,
                "establishment_unknown",
                "cannot tell which establishment this request belongs to: the sender is not "
                "authenticated with a UAI and no default establishment is configured",
            )
        fields = extract(plan, view)
        epoch = self.clock()
        scheduler = self.scheduler_for(establishment)
        plain = _plain(fields) and not (
            fields.kind is Kind.GRADE and scheduler.policy.grade_publication
        )
        if plain and self._open.still_open(scheduler, fields.audiences, epoch):
            return PASS
        now = datetime.fromtimestamp(epoch, UTC)
        may_urgent = (
            fields.urgent
            and sender.authenticated
            and sender.role is not None
            and member_of(sender, establishment)  # proven: an identity without a UAI is not
        )
        role = sender.role if sender.authenticated and sender.role else SenderRole.SYSTEM
        decided = [(scheduler.decide(m), m) for m in _messages(fields, now, role, bool(may_urgent))]
        # One request cannot be split: it waits for its latest audience.
        decision, message = max(decided, key=lambda d: d[0].release_at)
        if not decision.held:
            if ReasonCode.URGENT_OVERRIDE in {r.code for r in decision.reasons}:
                await in_thread(
                    self.queue.record_override,
                    establishment=establishment,
                    message=message,
                    decision=decision,
                    actor=sender.id,
                    meta=self._meta(scope, rule.name or rule.path, sender, fields),
                )
            elif plain:
                self._open.remember(scheduler, fields.audiences, epoch)
            return PASS
        refused = fields.urgent and not may_urgent
        if refused:
            decision = dataclasses.replace(decision, reasons=(*decision.reasons, _refusal(sender)))
        key = fields.idempotency_key or request_digest(view, sender.id)
        result = await self._hold(
            establishment=establishment,
            message=message,
            decision=decision,
            payload=body,
            recipients=fields.recipients,
            idempotency_key=key,
            collapse_key=fields.collapse_key,
            actor=sender.id,
            # keys belong to their sender: nobody's message can be replaced, pre-empted or
            # shown by another sender's key, and an anonymous one matches no message at all
            anonymous=not (sender.authenticated and sender.id),
            content_type=headers.get("content-type", "application/octet-stream"),
            meta=self._meta(scope, rule.name or rule.path, sender, fields),
        )
        if fields.urgent and decision.held:
            why = _refusal(sender).label_en if refused else None
            await self._refusal(establishment, message, decision, sender, result.id, why)
        return _held(result, decision, key)

    async def _refusal(
        self,
        establishment: Establishment,
        message: Message,
        decision: Decision,
        sender: Sender,
        held_id: str,
        reason: str | None,
    ) -> None:
        # The message is safely held; a failing audit write must not turn that into an error.
        try:
            await in_thread(
                self.queue.record_refusal,
                establishment=establishment,
                message=message,
                decision=decision,
                actor=sender.id,
                message_id=held_id,
                reason=reason,
            )
        except DeconnexionError as exc:
            log.error("urgent refusal for %s not audited: %s", held_id, exc)

    def _meta(self, scope: Scope, route: str, sender: Sender, fields: Extracted) -> dict[str, Any]:
        kept = [
            [k.decode("latin-1"), v.decode("latin-1")]
            for k, v in scope.get("headers") or ()
            if k.lower() in self.allow
        ]
        return {
            "http": {
                "method": scope["method"],
                "path": scope["path"],
                "raw_path": forwarded_target(scope)[0].decode("latin-1"),
                "root_path": scope.get("root_path", ""),
                "query": scope.get("query_string", b"").decode("latin-1"),
                "headers": kept,
            },
            "route": route,
            "sender": sender.to_dict(),
            "audiences": [a.value for a in fields.audiences],
            "recipients": list(fields.recipients),
        }


def _messages(fields: Extracted, now: datetime, role: SenderRole, urgent: bool) -> list[Message]:
    return [
        Message(
            kind=fields.kind,
            audience=audience,
            created_at=now,
            sender_role=role,
            urgent=urgent,
            justification=fields.justification,
            publish_to_students_at=fields.publish_to_students_at,
        )
        for audience in fields.audiences
    ]


def _refusal(sender: Sender) -> Reason:
    if not sender.authenticated:
        why_fr, why_en = "expéditeur non authentifié", "sender not authenticated"
    elif sender.role is None:
        why_fr, why_en = "rôle de l'expéditeur inconnu", "sender role unknown"
    elif not sender.establishment:
        why_fr = "établissement de l'expéditeur non prouvé (identité sans UAI)"
        why_en = "sender's establishment not proven (identity without a UAI)"
    else:
        why_fr, why_en = "expéditeur d'un autre établissement", "sender from another establishment"
    return Reason(
        ReasonCode.URGENT_REFUSED,
        f"Urgence non retenue : {why_fr}",
        f"Urgent flag not honoured: {why_en}",
    )


def _held(result: Any, decision: Decision, key: str) -> Held:
    release = result.release_at
    if isinstance(release, int | float):
        release = datetime.fromtimestamp(release, decision.release_at.tzinfo)
    replaced = getattr(result, "replaced_id", None)
    return Held(result.id, result.outcome, release, decision, key, replaced or None)


def _plain(fields: Extracted) -> bool:
    """No urgency, no scheduled publication, no parents' grade delay: open now means pass."""
    return (
        not fields.urgent
        and fields.publish_to_students_at is None
        and not (fields.kind is Kind.GRADE and Audience.PARENTS in fields.audiences)
    )


def _headers(scope: Scope, wanted: frozenset[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers") or ():
        name = k.decode("latin-1").lower()
        if wanted is not None and name not in wanted:
            continue
        value = v.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _query(raw: str) -> Mapping[str, str]:
    out: dict[str, str] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        out.setdefault(k, v)
    return out
