"""Replaying a held request: into the wrapped application in-process, past the gate.

`replay_deliverer(app, store)` is a release-worker deliverer. For each held message it rebuilds
the original request (method, path and query byte for byte, allow-listed headers, body), adds
``Idempotency-Key`` and ``Deconnexion-Held-Id``, and calls `app` with a `Replay` object under
the scope key ``"deconnexion.replay"``. `DeconnexionMiddleware` lets such a request through and
puts the sender verified at hold time back in ``scope["user"]`` / ``scope["auth"]``. A scope key
cannot be set by a client, so external requests never reach the bypass.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

from deconnexion.errors import (
    DeliveryError,
    PermanentDeliveryError,
    retryable_status,
)
from deconnexion.release.deliver import Deliverer, Delivery
from deconnexion.store.base import HeldMessage, HoldStore
from deconnexion.web._http import ASGIApp, Scope, call_app, in_thread
from deconnexion.web.identity import Sender, SenderUser
from deconnexion.web.routes import CREDENTIAL_HEADERS

__all__ = [
    "REPLAY_KEY",
    "Replay",
    "held_requests",
    "replay_deliverer",
    "replay_parts",
    "restore_sender",
]

REPLAY_KEY = "deconnexion.replay"
# credentials too: a row held before they were refused in allow-lists may still carry one
_SKIP = frozenset({"idempotency-key", "content-length", "transfer-encoding", "host"}) | (
    CREDENTIAL_HEADERS
)


@dataclass(frozen=True, slots=True)
class Replay:
    """The scope marker of a replayed request: which held message, from whom."""

    held_id: str
    sender: Sender
    attempt: int = 1


try:
    from starlette.authentication import AuthCredentials, UnauthenticatedUser
except ImportError:  # pragma: no cover - the asgi extra brings starlette

    class AuthCredentials:  # type: ignore[no-redef]
        def __init__(self, scopes: list[str] | None = None) -> None:
            self.scopes = list(scopes or [])

    class UnauthenticatedUser:  # type: ignore[no-redef]
        is_authenticated = False
        display_name = ""


def restore_sender(scope: Scope, sender: Sender) -> None:
    """Put `sender` where Starlette's authentication puts users (the default restorer)."""
    if not sender.authenticated:
        scope["user"] = UnauthenticatedUser()
        scope["auth"] = AuthCredentials([])
        return
    role = sender.role.value if sender.role is not None else ""
    scope["user"] = SenderUser(sender.id or "", role, sender.establishment)
    grants = ["authenticated", f"role:{role}"]
    if sender.establishment:
        grants.append(f"uai:{sender.establishment}")
    scope["auth"] = AuthCredentials(grants)


@dataclass(frozen=True, slots=True)
class ReplayParts:
    method: str
    path: str  # decoded, for messages
    raw_path: str  # percent-encoded, as received: what is sent again
    root_path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    sender: Sender


def replay_parts(held: HeldMessage, attempt: int = 1) -> ReplayParts:
    """The request to send again for `held`; `PermanentDeliveryError` if it is not one."""
    http = held.meta.get("http") if isinstance(held.meta, dict) else None
    if not isinstance(http, dict) or not isinstance(http.get("method"), str):
        raise PermanentDeliveryError(
            f"held message {held.id} was not held by the HTTP gate (no meta.http): "
            "nothing to replay"
        )
    headers = [
        (str(k), str(v)) for k, v in http.get("headers") or () if str(k).lower() not in _SKIP
    ]
    headers += [
        ("idempotency-key", held.idempotency_key),
        ("deconnexion-held-id", held.id),
        ("deconnexion-attempt", str(attempt)),
        ("content-length", str(len(held.payload))),
    ]
    path = str(http.get("path") or "/")
    # Held before raw paths were kept: the decoded path, encoded again.
    raw_path = str(http.get("raw_path") or quote(path, safe="/!$&'()*+,=:@~"))
    return ReplayParts(
        method=http["method"],
        path=path,
        raw_path=raw_path,
        root_path=str(http.get("root_path") or ""),
        query=str(http.get("query") or ""),
        headers=headers,
        body=held.payload,
        sender=Sender.from_dict(held.meta.get("sender") or {}),
    )


async def held_requests(
    store: HoldStore, delivery: Delivery
) -> AsyncIterator[tuple[HeldMessage, ReplayParts]]:
    """Each held message of `delivery` (once, in order) with the request to send again;
    `PermanentDeliveryError` for one the store no longer has. What both deliverers (this
    module's, in-process, and the gateway's, upstream) share."""
    for held_id in dict.fromkeys(delivery.ids):
        held = await in_thread(store.get, delivery.establishment, held_id)
        if held is None:
            raise PermanentDeliveryError(
                f"held message {held_id} of {delivery.establishment} not found"
            )
        yield held, replay_parts(held, delivery.attempt)


def replay_deliverer(app: ASGIApp, store: HoldStore, *, scheme: str = "http") -> Deliverer:
    """A release-worker deliverer replaying held requests into `app` (the application
    wrapped by `DeconnexionMiddleware`, or anything outside it)."""

    async def deliver(delivery: Delivery) -> None:
        async for held, parts in held_requests(store, delivery):
            scope: Scope = {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": "1.1",
                "method": parts.method,
                "scheme": scheme,
                "path": parts.path,
                "raw_path": parts.raw_path.encode("latin-1"),
                "root_path": parts.root_path,
                "query_string": parts.query.encode("latin-1"),
                "headers": [
                    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in parts.headers
                ],
                "client": None,
                "server": None,
                "state": {},
                REPLAY_KEY: Replay(held.id, parts.sender, delivery.attempt),
            }
            try:
                status = await call_app(app, scope, parts.body)
            except Exception as exc:
                raise DeliveryError(
                    f"replaying {parts.method} {parts.path} ({held.id}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            text = f"replaying {parts.method} {parts.path} ({held.id}): HTTP {status}"
            if status == 0 or status >= 400:  # 0: the app never started an answer
                raise (DeliveryError if retryable_status(status) else PermanentDeliveryError)(text)

    return deliver
