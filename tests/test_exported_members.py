"""`deconnexion.__all__` is exactly the API the README documents, and importing the package
pulls in no optional edge (starlette, httpx, psycopg, uvicorn, anyio). What each layer folder
may import is tests/test_architecture.py's."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import deconnexion

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def documented() -> set[str]:
    section = README.split("## Public API", 1)[1].split("\n## ", 1)[0]
    bullets = "\n".join(line for line in section.splitlines() if line.startswith(("- ", "  ")))
    return set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", bullets))


def test_all_is_exactly_the_documented_api():
    assert set(deconnexion.__all__) == documented()
    assert len(deconnexion.__all__) == len(set(deconnexion.__all__))


def test_every_exported_name_resolves():
    for name in deconnexion.__all__:
        assert getattr(deconnexion, name) is not None, name


def test_importing_the_package_loads_no_edge_library():
    code = (
        "import sys, deconnexion; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'starlette', 'httpx', 'psycopg', 'uvicorn', 'anyio'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_importing_the_package_loads_only_the_core_a_decision_needs():
    # The edges and the holidays of every country load on first use (import time benchmark).
    code = "import sys, deconnexion; print(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(ast.literal_eval(out.stdout))
    assert not {m for m in loaded if m.startswith("holidays.countries")}
    ours = {m.split(".")[1] for m in loaded if m.startswith("deconnexion.")}
    assert not ours & {"store", "hold", "release", "web", "cli"}
    assert "deconnexion.core.audit" not in loaded
    assert "deconnexion.core.scheduler" in loaded


def test_lazy_names_are_the_objects_of_their_modules():
    from deconnexion.hold.queue import HoldQueue
    from deconnexion.store import open_store

    assert deconnexion.HoldQueue is HoldQueue
    assert deconnexion.open_store is open_store
    assert "HoldQueue" in dir(deconnexion)
