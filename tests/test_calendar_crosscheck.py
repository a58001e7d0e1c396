"""`holidays`' school calendar against the official snapshot, for every school year both cover.

The snapshot is the reference; the disagreements are findings, recorded in
`tests/golden/holidays_vs_snapshot.json` (regenerate with `python tests/golden/regenerate.py`
after reviewing them). A new or vanished disagreement fails here, loudly.
"""

from __future__ import annotations

import importlib.util
import json
from datetime import date
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
    assert computed["weekend_start_dates"] == golden["weekend_start_dates"]


def test_no_disagreement_touches_a_school_day(computed: dict[str, Any]) -> None:
    # Read as the dataset defines it (start_date is the last day of classes), the snapshot and
    # holidays agree on every weekday that is not a jour férié. Under the former reading
    # ("start_date is the first day off") they disagreed on 2019-05-29, 2020-05-20, 2021-07-06
    # and 2022-07-07: those were this package's mistake, not holidays'. What remains is the
    # Ascension Thursday (a jour férié) and the 2027 bridge's weekend.
    assert computed["disagreements"], "the 2027 Ascension bridge differs (Thu–Sun vs the Friday)"
    assert [d for d in computed["disagreements"] if d["school_days"]] == []


def test_holidays_counts_weekend_start_dates_as_off_which_changes_no_window(
    computed: dict[str, Any],
) -> None:
    for zone, days in computed["weekend_start_dates"].items():
        assert len(days) >= 40, zone  # every mainland period of 2017-2027 starts on a Saturday
        assert {date.fromisoformat(d).weekday() for d in days} <= {5, 6}, zone
