"""Shared pieces of the ASGI tests: instants, users, a fake authentication layer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from deconnexion.web.identity import SenderUser

PARIS = ZoneInfo("Europe/Paris")
# Tuesday 4 November 2025 (zone C, the day after the Toussaint holidays).
QUIET = datetime(2025, 11, 4, 22, 0, tzinfo=PARIS).timestamp()
OPEN = datetime(2025, 11, 4, 10, 0, tzinfo=PARIS).timestamp()
NEXT_MORNING = datetime(2025, 11, 5, 7, 0, tzinfo=PARIS).timestamp()

USERS = {
    "prof": SenderUser("m.martin", "teacher", "0750001A"),
    "chef": SenderUser("mme.durand", "chef_etablissement", "0750001A"),
    "chef-strasbourg": SenderUser("m.klein", "chef_etablissement", "0671234X"),
    "prof-strasbourg": SenderUser("mme.weber", "teacher", "0671234X"),
}

Scope = MutableMapping[str, Any]
App = Callable[[Scope, Any, Any], Awaitable[None]]


class Clock:
    """A settable clock for the middleware, the admin API and the worker."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fake_auth(app: App) -> App:
    """Stand-in for Starlette's AuthenticationMiddleware: `Authorization: <user>`."""

    async def wrapped(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            token = dict(scope.get("headers") or ()).get(b"authorization", b"").decode()
            user = USERS.get(token)
            if user is not None:
                scope = {**scope, "user": user}
        await app(scope, receive, send)

    return wrapped
