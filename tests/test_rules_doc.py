"""docs/RULES.md: the rules page the code cites (`docs/RULES.md §N`) stands on its own."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "RULES.md").read_text(encoding="utf-8")
SECTIONS = set(re.findall(r"^## §(\d+) ", DOC, flags=re.M))
CITATION = re.compile(r"docs/RULES\.md \(?§(\d+)(?:[–-](\d+))?")


def test_rules_page_has_the_sections_one_to_five() -> None:
    assert SECTIONS == {"1", "2", "3", "4", "5"}


def test_every_citation_in_the_package_names_an_existing_section() -> None:
    cited = []
    for path in (ROOT / "deconnexion").rglob("*.py"):
        for first, last in CITATION.findall(path.read_text(encoding="utf-8")):
            cited.append((path.name, first))
            if last:
                cited.append((path.name, last))
    assert len(cited) >= 8
    assert [c for c in cited if c[1] not in SECTIONS] == []


def test_no_bare_rules_md_citation_is_left_in_the_package() -> None:
    bare = re.compile(r"(?<![/\w])RULES\.md")
    found = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "deconnexion").rglob("*.py")
        if bare.search(p.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_rules_page_stands_alone_and_gives_the_dataset_provenance() -> None:
    assert "shared" not in DOC
    assert "Licence Ouverte / Etalab" in DOC
    assert "2025-12-19" in DOC
    assert "fr-en-calendrier-scolaire" in DOC
    assert "« Le départ en vacances a lieu" in DOC  # the dataset's own definition, quoted
