"""A user's project type-checks with `mypy --strict` against the public names, the lazily
loaded ones (`DeconnexionMiddleware`, `admin_app`, …) included: they have real types."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

USER_APP = """
from starlette.applications import Starlette

from deconnexion import (
    DeconnexionMiddleware,
    HoldQueue,
    MemoryStore,
    ReleaseWorker,
    Scheduler,
    admin_app,
    replay_deliverer,
)

store = MemoryStore()
app = Starlette()
app.add_middleware(
    DeconnexionMiddleware,
    queue=HoldQueue(store),
    routes=[{"path": "/api/messages", "kind": "message", "audience": "body:audience"}],
)
app.mount("/_deconnexion", admin_app(store))
worker: ReleaseWorker = ReleaseWorker(store, replay_deliverer(app, store))
quiet: bool = Scheduler(zone="C").is_quiet(__import__("datetime").datetime.now().astimezone())
"""

# Each is wrong in a way only real types reveal (with `object`, all would pass or all fail).
WRONG = {
    "middleware option misspelt": (
        USER_APP.replace("queue=HoldQueue(store)", "queu=HoldQueue(store)"),
        'Unexpected keyword argument "queu"',
    ),
    "store where a queue goes": (
        USER_APP.replace("queue=HoldQueue(store)", "queue=store"),
        'Argument "queue" to "add_middleware"',
    ),
    "admin app is not a string": (
        USER_APP.replace("app.mount(", "name: str = admin_app(store)\napp.mount("),
        "Incompatible types in assignment",
    ),
}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")  # shared: the package is checked once


def mypy(tmp_path: Path, source: str, cache: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "user_app.py"
    script.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), str(script)],
        cwd=tmp_path,
        # As from site-packages: the editable install's import hook is invisible to mypy.
        env={**os.environ, "MYPYPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_user_app_with_the_middleware_passes_mypy_strict(tmp_path, cache):
    done = mypy(tmp_path, USER_APP, cache)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_user_app_fails_mypy_strict(tmp_path, name, cache):
    source, expected = WRONG[name]
    done = mypy(tmp_path, source, cache)
    assert done.returncode == 1, done.stdout + done.stderr
    assert expected in done.stdout, done.stdout
    assert "Found 1 error" in done.stdout, done.stdout
