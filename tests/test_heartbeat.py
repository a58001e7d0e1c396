"""/health says whether the release worker is alive: the beat of the worker in the same
process, or the heartbeat file of a worker in another one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from _asgi_support import QUIET, Clock

from deconnexion.release.heartbeat import Heartbeat, HeartbeatFile
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store import MemoryStore
from deconnexion.web.admin import admin_app

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _never(messages: Any) -> Any:  # nothing is due in these tests
    raise AssertionError("nothing should be delivered")


async def _health(app: Any) -> tuple[int, dict[str, Any]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        response = await client.get("/health")
    return response.status_code, response.json()


async def test_health_reports_a_running_worker_alive_then_stopped() -> None:
    clock = Clock(QUIET)
    store = MemoryStore()
    worker = ReleaseWorker(store, _never, clock=clock, poll_interval=5)
    app = admin_app(store, worker=worker, clock=clock)
    code, before = await _health(app)
    assert (code, before["status"], before["worker"]["alive"]) == (200, "degraded", False)
    task = asyncio.create_task(worker.run())
    while worker.heartbeat.last_beat is None:
        await asyncio.sleep(0)
    code, running = await _health(app)
    assert (code, running["status"]) == (200, "ok")
    assert running["worker"]["alive"] is True and running["worker"]["id"] == worker.worker_id
    assert running["worker"]["stale_after_seconds"] == 2 * (5 + 60)
    worker.stop()
    await task
    _, stopped = await _health(app)
    assert (stopped["status"], stopped["worker"]["alive"]) == ("degraded", False)


async def test_a_worker_silent_longer_than_stale_after_is_reported_dead() -> None:
    clock = Clock(QUIET)
    store = MemoryStore()
    worker = ReleaseWorker(store, _never, clock=clock, poll_interval=5, lease_seconds=10)
    worker.heartbeat.beat(clock())
    app = admin_app(store, worker=worker, clock=clock)
    clock.now += 30  # exactly stale_after: still alive
    assert (await _health(app))[1]["worker"]["alive"] is True
    clock.now += 0.5
    _, found = await _health(app)
    assert found["status"] == "degraded"
    assert found["worker"]["alive"] is False and found["worker"]["age_seconds"] == 30.5


async def test_without_a_worker_or_heartbeat_file_health_says_worker_null() -> None:
    code, found = await _health(admin_app(MemoryStore()))
    assert (code, found) == (200, {"status": "ok", "worker": None})


def test_heartbeat_file_is_read_by_another_process_reader(tmp_path: Path) -> None:
    path = tmp_path / "beat.json"
    beats = Heartbeat("host:1:abc", stale_after=90.0, path=str(path))
    beats.beat(QUIET)
    reader = HeartbeatFile(str(path))
    found = reader.status(QUIET + 10)
    assert found["alive"] is True and found["id"] == "host:1:abc"
    assert found["last_beat_at"] == "2025-11-04T21:00:00+00:00"
    assert reader.status(QUIET + 91)["alive"] is False
    beats.stop(QUIET + 20)
    assert reader.status(QUIET + 21)["alive"] is False


def test_heartbeat_file_is_rewritten_at_most_once_a_second(tmp_path: Path) -> None:
    path = tmp_path / "beat.json"
    beats = Heartbeat("w", stale_after=90.0, path=str(path))
    beats.beat(QUIET)
    beats.beat(QUIET + 0.5)  # kept in memory, not written
    assert json.loads(path.read_text())["last_beat"] == QUIET
    beats.beat(QUIET + 1.0)
    assert json.loads(path.read_text())["last_beat"] == QUIET + 1.0


@pytest.mark.parametrize(("content", "error"), [(None, "no file"), ("{not json", "beat.json")])
def test_a_missing_or_broken_heartbeat_file_means_not_alive_with_the_reason(
    tmp_path: Path, content: str | None, error: str
) -> None:
    path = tmp_path / "beat.json"
    if content is not None:
        path.write_text(content)
    found = HeartbeatFile(str(path)).status(QUIET)
    assert found["alive"] is False and error in found["error"]


def test_an_unwritable_heartbeat_file_never_stops_the_worker(tmp_path: Path) -> None:
    beats = Heartbeat("w", stale_after=90.0, path=str(tmp_path / "missing-dir" / "beat.json"))
    beats.beat(QUIET)  # logged, not raised
    assert beats.status(QUIET)["alive"] is True


async def test_gateway_without_worker_reports_the_heartbeat_file(tmp_path: Path) -> None:
    from deconnexion.web.gateway import Gateway
    from deconnexion.web.routes import RouteRules
    from deconnexion.web.signing import SignedHeaderResolver

    path = tmp_path / "beat.json"
    clock = Clock(QUIET)
    Heartbeat("other-host:7:w", stale_after=180.0, path=str(path)).beat(QUIET - 5)
    app = Gateway(
        upstream="http://127.0.0.1:9",
        store=MemoryStore(),
        config=RouteRules.from_file(str(ROOT / "examples" / "routes.toml")),
        identity=SignedHeaderResolver("s" * 32),
        clock=clock,
        run_worker=False,
        heartbeat_file=str(path),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        found = (await client.get("/_deconnexion/health")).json()
    assert found["status"] == "ok" and found["worker"]["id"] == "other-host:7:w"
