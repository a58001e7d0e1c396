"""The gateway for real: uvicorn on 127.0.0.1 in front of an upstream notification service
(also uvicorn on 127.0.0.1), SQLite store, release worker running, time set by the test.

The scenario of issue 4: at a quiet instant a POST is held (202), a GET passes byte-identical,
a PUT passes, a forged urgent header stays held, the signed chef d'établissement's urgent POST
passes; after the release instant the upstream receives each held POST exactly once, with its
Idempotency-Key. A second test starts `deconnexion gateway` as a process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _gateway_support import Served, free_socket
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from deconnexion.store import open_store
from deconnexion.web.gateway import Gateway
from deconnexion.web.routes import RouteRules
from deconnexion.web.signing import SignedHeaderResolver, sign_sender

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-secret-0123456789abcdef"
METRICS_TOKEN = "e2e-metrics-token-0123456789"
QUIET = 1762290000.0  # Tuesday 2025-11-04 22:00 Europe/Paris
RELEASE = 1762322400.0  # Wednesday 2025-11-05 07:00 Europe/Paris
TIMELINE = bytes(range(256)) * 64 + "é€ timeline".encode()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Upstream:
    """The ENT's notification service, recording every request it receives."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

        async def record(request: Request) -> Response:
            entry = {
                "method": request.method,
                "path": request.url.path,
                "body": await request.body(),
                "key": request.headers.get("idempotency-key"),
                "held_id": request.headers.get("deconnexion-held-id"),
            }
            with self.lock:
                self.requests.append(entry)
            return JSONResponse({"ok": True}, status_code=201 if request.method == "POST" else 200)

        async def timeline(request: Request) -> Response:
            async def chunks() -> Any:
                for i in range(0, len(TIMELINE), 4096):
                    yield TIMELINE[i : i + 4096]

            return StreamingResponse(chunks(), media_type="application/octet-stream")

        self.app = Starlette(
            routes=[
                Route("/api/notifications", record, methods=["POST"]),
                Route("/api/grades/{id}", record, methods=["PUT"]),
                Route("/api/timeline", timeline),
            ]
        )

    def posts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["method"] == "POST"]


@pytest.fixture
def upstream() -> Iterator[tuple[Upstream, Served]]:
    up = Upstream()
    with Served(up.app) as served:
        yield up, served


def _wait_for(condition: Any, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_gateway_scenario(upstream: tuple[Upstream, Served], tmp_path: Path) -> None:
    up, up_served = upstream
    clock = Clock(QUIET)
    store = open_store(f"sqlite:///{tmp_path / 'held.db'}")
    gateway = Gateway(
        upstream=up_served.url,
        store=store,
        config=RouteRules.from_file(ROOT / "examples" / "routes.toml"),
        identity=SignedHeaderResolver(SECRET, clock=clock),
        clock=clock,
        worker_options={"poll_interval": 0.1},
        metrics_token=METRICS_TOKEN,
    )

    def signed(user: str, role: str) -> dict[str, str]:
        return {"Deconnexion-Sender": sign_sender(SECRET, user, role, "0750001A", QUIET + 3600)}

    prof, chef = signed("m.martin", "teacher"), signed("mme.durand", "chef_etablissement")
    try:
        with Served(gateway) as gw, httpx.Client(base_url=gw.url, timeout=10) as c:
            held = c.post(
                "/api/notifications",
                json={"kind": "message", "audience": "parents", "text": "Sortie"},
                headers={**prof, "Idempotency-Key": "sortie-1"},
            )
            assert held.status_code == 202, held.text
            assert held.headers["deconnexion-release-at"] == "2025-11-05T07:00:00+01:00"

            direct = httpx.get(up_served.url + "/api/timeline").content
            through = c.get("/api/timeline")
            assert through.status_code == 200
            assert through.content == direct == TIMELINE

            put = c.put("/api/grades/9", json={"note": 12}, headers=prof)
            assert put.status_code == 200

            forged = dict(prof)
            forged["Deconnexion-Sender"] = forged["Deconnexion-Sender"].replace(
                "teacher", "chef_etablissement"
            )
            urgent = {"Deconnexion-Urgent": "true", "Deconnexion-Justification": "neige"}
            refused = c.post(
                "/api/notifications",
                json={"kind": "message", "audience": "parents", "text": "forgé"},
                headers={**forged, **urgent, "Idempotency-Key": "forged-1"},
            )
            assert refused.status_code == 202
            assert "urgent_refused" in [r["code"] for r in refused.json()["reasons"]]

            passed = c.post(
                "/api/notifications",
                json={"kind": "message", "audience": "parents", "text": "Collège fermé"},
                headers={**chef, **urgent},
            )
            assert passed.status_code == 201
            assert [p["body"] for p in up.posts()] == [
                b'{"kind":"message","audience":"parents","text":"Coll\xc3\xa8ge ferm\xc3\xa9"}'
            ]

            listing = c.get("/_deconnexion/held", headers=chef).json()
            assert {i["id"] for i in listing["items"]} == {
                held.json()["id"],
                refused.json()["id"],
            }

            clock.now = RELEASE + 1
            _wait_for(lambda: len(up.posts()) == 3)
            time.sleep(0.5)  # give a duplicate the chance to show up
            released = up.posts()[1:]
            assert sorted(p["key"] for p in released) == ["forged-1", "sortie-1"]
            assert len(up.posts()) == 3
            assert {p["held_id"] for p in released} == {held.json()["id"], refused.json()["id"]}
            scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}  # the chef's header expired
            metrics = c.get("/_deconnexion/metrics", headers=scraper).text
            assert 'deconnexion_messages{state="released"} 2' in metrics
    finally:
        store.close()


def test_gateway_command_serves_health(upstream: tuple[Upstream, Served], tmp_path: Path) -> None:
    _, up_served = upstream
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # the child binds it; a race with another process is unlikely on loopback
    env = {**os.environ, "DECONNEXION_SECRET": SECRET}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "deconnexion", "gateway",
            "--upstream", up_served.url,
            "--store", f"sqlite:///{tmp_path / 'held.db'}",
            "--routes", str(ROOT / "examples" / "routes.toml"),
            "--port", str(port), "--log-level", "warning",
        ],
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/_deconnexion/health").status_code == 200
            except httpx.TransportError:
                return False

        _wait_for(healthy, 20)
        r = httpx.get(f"http://127.0.0.1:{port}/api/timeline")
        assert r.content == TIMELINE
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stderr is not None:
            proc.stderr.close()


def test_gateway_command_without_secret_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DECONNEXION_SECRET"}
    done = subprocess.run(
        [
            sys.executable, "-m", "deconnexion", "gateway",
            "--upstream", "http://127.0.0.1:9",
            "--store", f"sqlite:///{tmp_path / 'held.db'}",
            "--routes", str(ROOT / "examples" / "routes.toml"),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "DECONNEXION_SECRET is not set" in done.stderr
