"""Tests written the way a vendor writes them: their own Starlette app, an httpx client, and
freezegun's `freeze_time` — no clock injected anywhere. Every default clock (hold queue, gate,
release worker, admin API) must follow the frozen time."""

from __future__ import annotations

import asyncio
import inspect
import pkgutil
import time
from datetime import datetime
from importlib import import_module
from typing import Any

import httpx
import pytest
from freezegun import freeze_time
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import deconnexion
from deconnexion import (
    DeconnexionMiddleware,
    HoldQueue,
    MemoryStore,
    ReleaseWorker,
    SenderUser,
    admin_app,
    replay_deliverer,
)
from deconnexion.core.caches import CACHES

TUESDAY_NIGHT = "2025-11-04 22:00:00+01:00"
TUESDAY_MORNING = "2025-11-04 10:00:00+01:00"
WEDNESDAY_0659 = "2025-11-05 06:59:00+01:00"
WEDNESDAY_0700 = "2025-11-05 07:00:00+01:00"
TOKENS = {
    "prof": SenderUser("m.martin", "teacher", "0750001A"),
    "chef": SenderUser("mme.durand", "chef_etablissement", "0750001A"),
}


class Tokens(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        user = TOKENS.get(conn.headers.get("authorization", ""))
        return None if user is None else (AuthCredentials(["authenticated"]), user)


class VendorApp:
    """A school's notification API gated by deconnexion, wired as the README shows."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

        async def send_message(request: Request) -> JSONResponse:
            self.sent.append(await request.json())
            return JSONResponse({"sent": True}, status_code=201)

        self.store = MemoryStore()
        api = Starlette(routes=[Route("/api/messages", send_message, methods=["POST"])])
        gated = DeconnexionMiddleware(
            api,
            queue=HoldQueue(self.store),
            routes=[{"path": "/api/messages", "kind": "message", "audience": "body:audience"}],
        )
        self.worker = ReleaseWorker(self.store, replay_deliverer(gated, self.store))
        self.app = Starlette(
            routes=[Mount("/_deconnexion", admin_app(self.store)), Mount("/", gated)],
            middleware=[Middleware(AuthenticationMiddleware, backend=Tokens())],
        )

    def request(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ent") as client:
                return await client.request(
                    method, path, headers={"authorization": token}, **kwargs
                )

        return asyncio.run(call())

    def post(self, text: str, token: str = "prof") -> httpx.Response:
        return self.request(
            "POST", "/api/messages", token, json={"text": text, "audience": "parents"}
        )

    def release_due(self) -> int:
        return asyncio.run(self.worker.run_once())


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_message_posted_at_frozen_22h_is_held_and_answered_202() -> None:
    vendor = VendorApp()
    with freeze_time(TUESDAY_NIGHT):
        response = vendor.post("Sortie annulée")
    assert response.status_code == 202, response.text
    assert response.json()["release_at"].startswith("2025-11-05T07:00:00")
    assert vendor.sent == []


def test_message_posted_at_frozen_10h_goes_straight_to_the_app() -> None:
    vendor = VendorApp()
    with freeze_time(TUESDAY_MORNING):
        response = vendor.post("Réunion parents-professeurs jeudi")
    assert response.status_code == 201, response.text
    assert vendor.sent == [{"text": "Réunion parents-professeurs jeudi", "audience": "parents"}]


def test_worker_releases_at_the_frozen_7h_and_not_one_minute_before() -> None:
    vendor = VendorApp()
    with freeze_time(TUESDAY_NIGHT):
        assert vendor.post("Sortie annulée").status_code == 202
    with freeze_time(WEDNESDAY_0659):
        assert vendor.release_due() == 0
    assert vendor.sent == []
    with freeze_time(WEDNESDAY_0700):
        assert vendor.release_due() == 1
    assert vendor.sent == [{"text": "Sortie annulée", "audience": "parents"}]


def test_admin_api_records_a_cancellation_at_the_frozen_time() -> None:
    vendor = VendorApp()
    with freeze_time(TUESDAY_NIGHT):
        held_id = vendor.post("Sortie annulée").json()["id"]
    with freeze_time("2025-11-04 23:15:00+01:00"):
        cancelled = vendor.request("POST", f"/_deconnexion/held/{held_id}/cancel", "prof")
        assert cancelled.status_code == 200, cancelled.text
        trail = vendor.request("GET", "/_deconnexion/audit", "chef").json()
    assert [(e["action"], e["at"]) for e in trail["items"]] == [
        ("hold", "2025-11-04T22:00:00+01:00"),
        ("cancel", "2025-11-04T23:15:00+01:00"),
    ]


def _package_callables() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for info in pkgutil.walk_packages(deconnexion.__path__, "deconnexion."):
        if info.name.endswith("__main__"):
            continue  # importing it runs the CLI
        module = import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == info.name:
                found.append((f"{info.name}.{name}", value.__init__))
            elif inspect.isfunction(value) and value.__module__ == info.name:
                found.append((f"{info.name}.{name}", value))
    return found


def test_no_default_argument_binds_the_real_clock_at_import() -> None:
    bound_early = {time.time, time.monotonic, time.time_ns, datetime.now, datetime.utcnow}
    offenders = [
        f"{where}({name}=...)"
        for where, fn in _package_callables()
        for name, p in inspect.signature(fn).parameters.items()
        if any(p.default is b for b in bound_early)
    ]
    assert offenders == []


@pytest.mark.parametrize("when", [TUESDAY_NIGHT, WEDNESDAY_0700])
def test_default_clocks_read_the_frozen_time(when: str) -> None:
    store = MemoryStore()
    with freeze_time(when):
        assert HoldQueue(store).clock() == epoch(when)
        assert ReleaseWorker(store, replay_deliverer(admin_app(store), store)).clock() == epoch(
            when
        )


def test_a_remembered_open_pass_ends_at_the_frozen_20h_sharp() -> None:
    vendor = VendorApp()
    with freeze_time("2025-11-04 19:59:59+01:00"):
        assert vendor.post("avant").status_code == 201
        assert vendor.post("avant encore").status_code == 201  # from the remembered pass
    with freeze_time("2025-11-04 20:00:00+01:00"):
        assert vendor.post("après").status_code == 202
    assert [m["text"] for m in vendor.sent] == ["avant", "avant encore"]


def test_an_exact_pass_ends_at_the_frozen_20h_sharp() -> None:
    vendor = VendorApp()
    CACHES.clear()
    with freeze_time("2025-11-04 19:59:59+01:00"):
        assert vendor.post("la même").status_code == 201
        assert CACHES.sizes()["exact passes"] == 1
        assert vendor.post("la même").status_code == 201  # the same bytes: the exact pass
    with freeze_time("2025-11-04 20:00:00+01:00"):
        assert vendor.post("la même").status_code == 202
    assert [m["text"] for m in vendor.sent] == ["la même", "la même"]
