"""The wheel installs `deconnexion` only, and works without extras in a clean virtualenv.

Built from a copy of the sources (the checkout is left untouched), installed with pip into a
new venv without `-e` and without extras; the command line then answers from the installed
package alone: no `examples` package, no starlette."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deconnexion.cli.simulate import CHECKOUT_HINT

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "deconnexion", "examples")


def _run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=600, cwd=cwd
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "out")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", work / "dist", src, cwd=work
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = (work / "dist").glob("deconnexion-*.whl")
    return found


def test_wheel_contains_the_deconnexion_package_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"deconnexion", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "deconnexion/py.typed" in names
    assert "deconnexion/data/fr-en-calendrier-scolaire.csv" in names


def test_wheel_installed_without_extras_answers_from_a_clean_venv(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", venv, cwd=tmp_path).returncode == 0
    installed = _run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    cli = venv / "bin" / "deconnexion"

    check = _run(cli, "check", "2025-11-04T22:00:00+01:00", "--zone", "C", "--json", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    answer = json.loads(check.stdout)
    assert (answer["quiet"], answer["next_open"]) == (True, "2025-11-05T07:00:00+01:00")

    now = _run(cli, "check", "now", "--zone", "C", "--json", cwd=tmp_path)
    assert now.returncode == 0, now.stderr
    assert isinstance(json.loads(now.stdout)["quiet"], bool)

    lines = (
        '{"created": "2025-11-14T21:00:00+01:00", "kind": "message", "audience": "parents", '
        '"uai": "0750001A"}\n{"created": "yesterday", "kind": "message", "audience": "parents", '
        '"zone": "C"}\n'
    )
    batch = subprocess.run(
        [str(cli), "release", "--stdin"], input=lines, capture_output=True, text=True,
        timeout=120, cwd=tmp_path,
    )  # fmt: skip
    first, second = (json.loads(line) for line in batch.stdout.splitlines())
    assert first["release_at"] == "2025-11-17T07:00:00+01:00" and "error" in second
    assert batch.returncode == 2  # one line refused, every line answered

    serve_help = _run(cli, "serve", "--help", cwd=tmp_path)
    assert serve_help.returncode == 0, serve_help.stderr

    no_extras = _run(venv / "bin" / "python", "-c", "import starlette", cwd=tmp_path)
    assert no_extras.returncode != 0  # the [asgi] extra was not installed
    no_examples = _run(venv / "bin" / "python", "-c", "import examples", cwd=tmp_path)
    assert "No module named 'examples'" in no_examples.stderr

    simulate = _run(cli, "simulate", cwd=tmp_path)
    assert simulate.returncode == 1
    assert simulate.stderr.strip().splitlines() == [f"deconnexion: error: {CHECKOUT_HINT}"]

    gateway_help = _run(cli, "gateway", "--help", cwd=tmp_path)
    assert gateway_help.returncode == 0, gateway_help.stderr
    assert "--upstream" in gateway_help.stdout
    gateway = _run(
        cli, "gateway", "--upstream", "http://127.0.0.1:9", "--store", "memory://",
        "--routes", "routes.toml", cwd=tmp_path,
    )  # fmt: skip
    assert gateway.returncode == 1
    assert "pip install 'deconnexion[asgi]'" in gateway.stderr
