"""`deconnexion serve` for real: uvicorn in a subprocess on a free 127.0.0.1 port, called with
httpx as a PHP or Java client would."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_command_answers_decide_check_windows_and_openapi() -> None:
    port = _free_port()  # the child binds it; a race with another process is unlikely on loopback
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deconnexion",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
            try:
                doc = httpx.get(f"{base}/openapi.json").json()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        validate(doc)
        decided = httpx.post(
            f"{base}/v1/decide",
            json={
                "created": "2025-11-14T21:00:00+01:00",
                "kind": "message",
                "audience": "parents",
                "uai": "0750001A",
            },
        )
        assert decided.status_code == 200
        assert decided.json()["release_at"] == "2025-11-17T07:00:00+01:00"
        checked = httpx.post(
            f"{base}/v1/check",
            json=[{"instant": "2025-11-14T20:00:00+01:00", "zone": "C"}, {"zone": "D"}],
        )
        first, bad = checked.json()
        assert first["quiet"] is True and bad["error"]["code"] == "unknown_territory"
        windows = httpx.get(
            f"{base}/v1/windows", params={"from": "2025-12-19", "to": "2026-01-06", "zone": "B"}
        )
        assert windows.status_code == 200 and windows.json()["windows"]
        refused = httpx.post(f"{base}/v1/decide", content=b"[" * 10_000)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_json"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stderr is not None:
            proc.stderr.close()


def test_serve_without_the_asgi_extra_says_what_to_install(tmp_path: Path) -> None:
    # A site directory that hides uvicorn, as in an install without the extra.
    (tmp_path / "uvicorn.py").write_text("raise ModuleNotFoundError(name='uvicorn')\n")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from deconnexion.cli import main; sys.exit(main(['serve']))",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "pip install 'deconnexion[asgi]'" in done.stderr
