"""`holidays`' school calendar against the official snapshot, for every school year both cover.

The snapshot is the reference; the disagreements are findings, recorded in
`tests/golden/holidays_vs_snapshot.json` (regenerate with `python tests/golden/regenerate.py`
after reviewing them). A new or vanished disagreement fails here, loudly.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"


def _regenerate_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("golden_regenerate", GOLDEN_DIR / "regenerate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def computed() -> dict[str, Any]:
    result: dict[str, Any] = _regenerate_module().crosscheck()
    return result


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (GOLDEN_DIR / "holidays_vs_snapshot.json").read_text(encoding="utf-8")
    )
    return data


def _line(d: dict[str, Any]) -> str:
    where = f"{d['first']}" if d["first"] == d["last"] else f"{d['first']} → {d['last']}"
    return (
        f"{d['zone']} {d['school_year']}: {where} off only in {d['only_in']} "
        f"({d['label']}); school days affected: {', '.join(d['school_days']) or 'none'}"
    )


def test_every_zone_is_compared_over_the_years_both_cover(computed: dict[str, Any]) -> None:
    assert set(computed["compared"]) == {"Zone A", "Zone B", "Zone C"}
    for span in computed["compared"].values():
        assert span["from"] <= "2017-10-21"
        assert span["until"] >= "2027-07-02"


def test_holidays_disagreements_with_snapshot_are_the_recorded_findings(
    computed: dict[str, Any], golden: dict[str, Any]
) -> None:
    print("\nholidays vs official snapshot — disagreements:")
    for d in computed["disagreements"]:
        print("  " + _line(d))
    new = [_line(d) for d in computed["disagreements"] if d not in golden["disagreements"]]
    gone = [_line(d) for d in golden["disagreements"] if d not in computed["disagreements"]]
    assert not new and not gone, (
        "holidays and the snapshot disagree differently than recorded; review, then run "
        f"python tests/golden/regenerate.py\nnew: {new}\ngone: {gone}"
    )
    assert computed["compared"] == golden["compared"]


def test_no_disagreement_touches_a_school_day_from_2024_2025_on(computed: dict[str, Any]) -> None:
    # Where they disagree in current years (Ascension 2027), it is on a jour férié or a weekend.
    recent = [d for d in computed["disagreements"] if d["school_year"] >= "2024-2025"]
    assert recent, "the 2027 Ascension bridge differs (Thu–Sun vs the single Friday)"
    assert [d for d in recent if d["school_days"]] == []
