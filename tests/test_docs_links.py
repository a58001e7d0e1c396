"""The README and docs stand alone: every relative link resolves to a file of the repository,
nothing points outside it, and a code block introduced by a file name ("The routes file
(`examples/routes.toml`):") is that file, byte for byte."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A paragraph ending with a backticked path and a colon, then a fenced block.
QUOTE = re.compile(r"`([\w./-]+)`\)?:\n\n```\w*\n(.*?)```", re.S)
OUTSIDE = "../" + "shared"  # spelled apart so that this file does not match itself


def _relative_links(doc: Path) -> list[str]:
    links = LINK.findall(doc.read_text(encoding="utf-8"))
    return [t for t in links if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves_to_a_file_of_the_repository(doc: Path) -> None:
    for target in _relative_links(doc):
        path = (doc.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name}: {target} leaves the repository"
        assert path.exists(), f"{doc.name}: {target} does not exist"


def test_readme_links_the_rules_in_the_repository() -> None:
    assert "docs/RULES.md" in _relative_links(ROOT / "README.md")


def test_nothing_in_the_repository_points_outside_it() -> None:
    offenders = []
    for path in sorted(_tracked()):
        name = str(path.relative_to(ROOT))
        if not name.endswith((".md", ".py", ".toml", ".sql", ".php", ".service", ".env", ".txt")):
            continue
        if path.is_file() and (
            OUTSIDE in path.read_text(encoding="utf-8", errors="replace")
            or "/work/" + "shared" in path.read_text(encoding="utf-8", errors="replace")
        ):
            offenders.append(name)
    assert offenders == []


def _tracked() -> set[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {ROOT / name for name in listed}


def _quoted_files() -> list[tuple[Path, str, str]]:
    """(document, file name, code block) for each block a document introduces with the name of
    a file of the repository; generated files (the simulator's report in out/) are not quotes."""
    tracked = _tracked()
    found = []
    for doc in DOCS:
        for name, body in QUOTE.findall(doc.read_text(encoding="utf-8")):
            path = (ROOT / name) if (ROOT / name).is_file() else doc.parent / name
            if path in tracked:
                found.append((doc, name, body))
    return found


def test_the_readme_quotes_the_routes_file_and_the_php_signer() -> None:
    quoted = {name for doc, name, _ in _quoted_files() if doc.name == "README.md"}
    assert {"examples/routes.toml", "examples/php/sign_sender.php"} <= quoted


@pytest.mark.parametrize("quote", _quoted_files(), ids=lambda q: q[1])
def test_a_quoted_file_is_the_file_itself(quote: tuple[Path, str, str]) -> None:
    doc, name, body = quote
    path = (ROOT / name) if (ROOT / name).is_file() else doc.parent / name
    assert body == path.read_text(encoding="utf-8"), f"{doc.name} quotes {name} but it differs"
