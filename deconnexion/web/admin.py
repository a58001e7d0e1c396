"""The admin API: a mountable Starlette app over the hold store, one establishment per caller.

    GET  /health                 store reachable? worker alive (its heartbeat)?
    GET  /metrics                Prometheus text: a head sees her establishment's; the
                                 metrics token (Authorization: Bearer) every one's + worker
    GET  /openapi.json           this API, described
    GET  /held                   held messages of the caller's establishment
    GET  /held/{id}              one of them
    POST /held/{id}/cancel       the sender or the head of establishment (DELETE /held/{id})
    POST /held/{id}/release      release now: head of establishment only
    GET  /stats                  counters of the caller's establishment
    GET  /audit                  audit trail: head of establishment only

The caller is whoever the identity resolver says (the app's authentication by default); the
establishment comes from the caller. A message of another establishment is 404, as if it did
not exist: a caller of X never learns anything about Y.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from deconnexion.errors import (
    DeconnexionError,
    InvalidInputError,
    MissingExtraError,
    StoreError,
    StoreRefusedError,
)

try:
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - the dev environment has the extra
    raise MissingExtraError("asgi", "starlette") from exc

from deconnexion.core.territories import Establishment
from deconnexion.core.timeutil import wall_clock, zone
from deconnexion.metrics import prometheus_text
from deconnexion.release.heartbeat import HeartbeatFile
from deconnexion.store.base import STATES, HeldMessage, HoldStore, State
from deconnexion.web.admin_models import (
    AuditList,
    Changed,
    Health,
    Held,
    HeldList,
    StatsBody,
    reply,
)
from deconnexion.web.admin_openapi import OPERATIONS, openapi
from deconnexion.web.answers import error_response
from deconnexion.web.identity import IdentityResolver, ScopeIdentity, Sender
from deconnexion.web.tenant import EstablishmentResolver, from_sender, head_of, same_establishment

__all__ = ["admin_app", "held_to_dict"]

MAX_LIMIT = 1000


class _Caller:
    def __init__(self, sender: Sender, establishment: Establishment) -> None:
        self.sender = sender
        self.establishment = establishment
        self.key = establishment.key
        self.tz = zone(establishment.timezone)
        # a head proven to be of this establishment; a head without a UAI, placed here by
        # default, sees and does only what any sender may: their own messages
        self.head = head_of(sender, establishment)

    def may_see(self, held: HeldMessage) -> bool:
        return self.head or (held.actor is not None and held.actor == self.sender.id)


def held_to_dict(held: HeldMessage, tz: Any) -> dict[str, Any]:
    """The JSON form of a held message (without its payload)."""
    found = held.meta.get("http")
    http: dict[str, Any] = found if isinstance(found, dict) else {}

    def iso(t: float | None) -> str | None:
        return None if t is None else datetime.fromtimestamp(t, tz).isoformat()

    return {
        "id": held.id,
        "state": held.state,
        "kind": held.kind,
        "audience": held.audience,
        "urgent": held.urgent,
        "actor": held.actor,
        "sender_role": held.sender_role,
        "recipients": list(held.recipients),
        "reasons": list(held.reasons),
        "created_at": iso(held.created_at),
        "release_at": iso(held.release_at),
        "released_at": iso(held.released_at),
        "attempts": held.attempts,
        "last_error": held.last_error,
        "idempotency_key": held.idempotency_key,
        "collapse_key": held.collapse_key,
        "request": {"method": http.get("method"), "path": http.get("path")},
        "payload_bytes": len(held.payload),
        "content_type": held.content_type,
    }


def admin_app(
    store: HoldStore | Any,
    *,
    identity: IdentityResolver | None = None,
    establishment: EstablishmentResolver | None = None,
    worker: Any = None,
    clock: Callable[[], float] = wall_clock,
    heartbeat: HeartbeatFile | None = None,
    gated: Iterable[tuple[str, str]] = (),
    metrics_token: str | None = None,
) -> Starlette:
    """The admin API over `store` (a `HoldStore`, or a `HoldQueue` whose store it uses).
    `worker` (a `ReleaseWorker`) adds its heartbeat to /health; without one, `heartbeat`
    reads the heartbeat file of a worker in another process. `gated` (method, path) pairs
    add the gated routes' 202 contract to /openapi.json.

    /metrics needs a login like the rest: a head of establishment gets her establishment's
    counters only; `metrics_token` (at least 16 characters, sent as `Authorization: Bearer
    TOKEN`, compared in constant time) is the scraper's credential and sees every
    establishment and the counters of `worker`. Without a token configured, nothing sees
    every establishment."""
    store = getattr(store, "store", store)
    scraper = _bearer(metrics_token)
    who = identity or ScopeIdentity()
    where = establishment or from_sender()

    async def thread(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(fn, *args)
        except StoreRefusedError as exc:  # a value of the request the store cannot read
            raise HTTPException(400, str(exc)) from None
        except StoreError as exc:
            raise HTTPException(503, f"hold store unavailable: {exc}") from None

    def caller(request: Request) -> _Caller:
        sender = who(request.scope)
        if not sender.authenticated:
            raise HTTPException(401, "authentication required")
        try:
            found = where(request.scope, sender)
        except DeconnexionError as exc:
            raise HTTPException(403, str(exc)) from None
        if found is None or not same_establishment(sender, found):
            raise HTTPException(403, "the caller belongs to no establishment served here")
        return _Caller(sender, found)

    async def mine(request: Request, me: _Caller) -> HeldMessage:
        held = await thread(store.get, me.key, request.path_params["id"])
        if held is None or not me.may_see(held):
            raise HTTPException(404, f"no held message {request.path_params['id']!r}")
        result: HeldMessage = held
        return result

    async def health(request: Request) -> Response:
        await thread(store.next_due_at)
        if worker is not None:
            beat: dict[str, Any] | None = worker.heartbeat.status(worker.clock())
        else:
            beat = heartbeat.status(clock()) if heartbeat is not None else None
        status = "degraded" if beat is not None and not beat["alive"] else "ok"
        return reply(Health, {"status": status, "worker": beat})

    async def metrics(request: Request) -> Response:
        if scraper is not None and _presented(request, scraper):
            stats = await thread(store.stats, None)  # the operator's view: every establishment
            extra = worker.prometheus_text() if worker is not None else ""
        else:
            me = caller(request)  # 401 anonymous, 403 outside every establishment served
            if not me.head:
                raise HTTPException(
                    403,
                    "metrics are reserved to the head of establishment (her establishment's) "
                    "and to the metrics token (every establishment's)",
                )
            stats, extra = await thread(store.stats, me.key), ""
        return PlainTextResponse(
            prometheus_text(stats, clock()) + extra,
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    document = openapi(gated)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(document)

    async def list_held(request: Request) -> Response:
        me = caller(request)
        states = _states(request.query_params.getlist("state") or ["held"])
        limit = _int(request.query_params, "limit", 100, 1, MAX_LIMIT)
        offset = _int(request.query_params, "offset", 0, 0, 10**9)
        rows = await thread(store.list, me.key, states, limit, offset)
        items = [held_to_dict(h, me.tz) for h in rows if me.may_see(h)]
        return reply(HeldList, {"establishment": me.key, "items": items, "count": len(items)})

    async def get_held(request: Request) -> Response:
        me = caller(request)
        return reply(Held, held_to_dict(await mine(request, me), me.tz))

    async def cancel(request: Request) -> Response:
        me = caller(request)
        held = await mine(request, me)
        done = await thread(store.cancel, me.key, held.id, me.sender.id, clock())
        if not done:
            raise HTTPException(409, f"message {held.id!r} is {held.state}, no longer held")
        return reply(Changed, {"id": held.id, "state": "cancelled"})

    async def release(request: Request) -> Response:
        me = caller(request)
        if not me.head:
            raise HTTPException(403, "release now is reserved to the head of establishment")
        held = await mine(request, me)
        done = await thread(store.release_now, me.key, held.id, me.sender.id, clock())
        if not done:
            raise HTTPException(409, f"message {held.id!r} is {held.state}, no longer held")
        return reply(Changed, {"id": held.id, "state": "held", "release_at": "now"})

    async def stats(request: Request) -> Response:
        me = caller(request)
        found = await thread(store.stats, me.key)
        return reply(
            StatsBody,
            {
                "establishment": me.key,
                "held": found.held,
                "by_reason": found.by_reason,
                "by_state": found.by_state,
                "oldest_held_created_at": _iso(found.oldest_held_created_at, me.tz),
                "next_release_at": _iso(found.next_release_at, me.tz),
            },
        )

    async def audit(request: Request) -> Response:
        me = caller(request)
        if not me.head:
            raise HTTPException(403, "the audit trail is reserved to the head of establishment")
        since = _float(request.query_params, "since")
        limit = _int(request.query_params, "limit", 1000, 1, 10_000)
        message_id = request.query_params.get("message_id")
        rows = await thread(store.audit, me.key, since, limit, message_id)
        return reply(
            AuditList,
            {
                "establishment": me.key,
                "items": [
                    {
                        "at": _iso(e.at, me.tz),
                        "action": e.action,
                        "message_id": e.message_id,
                        "actor": e.actor,
                        "detail": e.detail,
                    }
                    for e in rows
                ],
            },
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return error_response(status, _CODES.get(status, "error"), detail)

    handlers: dict[str, Callable[[Request], Any]] = {
        "health": health,
        "metrics": metrics,
        "openapi_json": openapi_json,
        "list_held": list_held,
        "get_held": get_held,
        "cancel": cancel,
        "release": release,
        "stats": stats,
        "audit": audit,
    }
    return Starlette(
        routes=[Route(op.path, handlers[op.name], methods=[op.method]) for op in OPERATIONS],
        exception_handlers={HTTPException: http_error},
    )


_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    503: "store_unavailable",
}


def _iso(t: float | None, tz: Any) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, tz).isoformat()


def _states(values: list[str]) -> list[State]:
    out: list[State] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if name not in STATES:
                raise HTTPException(
                    400, f"state: {name!r} is not a state; expected one of {', '.join(STATES)}"
                )
            out.append(name)
    return out


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise HTTPException(400, f"{name}: {raw!r}; expected an integer from {low} to {high}")
    return value


def _float(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise HTTPException(400, f"{name}: {raw!r}; expected epoch seconds")
    return value


MIN_TOKEN_LENGTH = 16


def _bearer(token: str | None) -> bytes | None:
    """The expected `Authorization` value for the metrics token."""
    if token is None:
        return None
    if not isinstance(token, str) or len(token.strip()) < MIN_TOKEN_LENGTH:
        raise InvalidInputError(
            f"metrics_token: {len(str(token))} characters is too short; at least "
            f"{MIN_TOKEN_LENGTH} accepted (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    return b"Bearer " + token.strip().encode()


def _presented(request: Request, expected: bytes) -> bool:
    values = [v for k, v in request.scope.get("headers") or () if k == b"authorization"]
    return len(values) == 1 and hmac.compare_digest(values[0].strip(), expected)
