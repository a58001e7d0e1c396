"""The deployment of examples/systemd for real: `deconnexion gateway` and `deconnexion worker`
started with no flag at all, configured by one set of DECONNEXION_* variables; the gateway's
/_deconnexion/health follows the worker's heartbeat file (absent, alive, stopped)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _gateway_support import free_socket
from test_gateway_e2e import Served, Upstream, _wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _start(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "deconnexion", command],
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=20)
    if proc.stderr is not None:
        proc.stderr.close()


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with Served(Upstream().app) as served:
        yield served.url


def test_gateway_and_worker_run_from_environment_alone(upstream_url: str, tmp_path: Path) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # the gateway binds it
    env = {
        **os.environ,
        "DECONNEXION_SECRET": "deploy-secret-0123456789abcdef",
        "DECONNEXION_UPSTREAM": upstream_url,
        "DECONNEXION_STORE": f"sqlite:///{tmp_path / 'held.db'}",
        "DECONNEXION_ROUTES": str(ROOT / "examples" / "routes.toml"),
        "DECONNEXION_PORT": str(port),
        "DECONNEXION_NO_WORKER": "true",
        "DECONNEXION_HEARTBEAT_FILE": str(tmp_path / "worker-heartbeat.json"),
        "DECONNEXION_DELIVER": f"file:{tmp_path / 'delivered.jsonl'}",
        "DECONNEXION_LOG_LEVEL": "warning",
    }
    url = f"http://127.0.0.1:{port}/_deconnexion/health"
    seen: dict[str, Any] = {}

    def health(gateway: subprocess.Popen[bytes]) -> dict[str, Any] | None:
        if gateway.poll() is not None:
            raise AssertionError(gateway.stderr.read().decode() if gateway.stderr else "exited")
        try:
            response = httpx.get(url, timeout=5)
        except httpx.TransportError:
            return None
        seen.update(response.json())
        return dict(seen)

    gateway = _start("gateway", env)
    try:
        _wait_for(lambda: health(gateway) is not None, 30)
        assert seen["status"] == "degraded" and seen["worker"]["alive"] is False
        assert "no file" in seen["worker"]["error"]
        worker = _start("worker", env)
        try:
            _wait_for(lambda: (h := health(gateway)) is not None and h["worker"]["alive"], 30)
            assert seen["status"] == "ok" and seen["worker"]["id"]
        finally:
            _stop(worker)
        _wait_for(lambda: (h := health(gateway)) is not None and not h["worker"]["alive"], 30)
        assert seen["status"] == "degraded"
    finally:
        _stop(gateway)
