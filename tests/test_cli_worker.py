"""`deconnexion worker`: durations, --once on a SQLite store, clear errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from _release_support import EST, held

from deconnexion.cli.worker import parse_duration, worker_main
from deconnexion.errors import InvalidInputError
from deconnexion.store import open_store


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("900", 900), ("90s", 90), ("1h", 3600), ("1.5h", 5400)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15q", "-5m", "0", "m"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(InvalidInputError, match=r"--spread: cannot read .* expected e\.g\. 15m"):
        parse_duration(text, "--spread")


def test_once_releases_what_is_due_and_exits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/held.db"
    now = time.time()
    store = open_store(url)
    # honoured urgencies: the command runs on the real clock, and a plain message waits for
    # an open window (none at night)
    override = ("urgent_override",)
    due = held("due", release_at=now - 60, urgent=True, reasons=override)
    later = held(
        "later", release_at=now + 3600, recipients=("parent:2",), urgent=True, reasons=override
    )
    store.insert_many([due, later], now=now - 120)
    store.close()
    out = tmp_path / "out.jsonl"
    assert worker_main(["--store", url, "--deliver", f"file:{out}", "--once"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["idempotency_key"] for line in lines] == ["due"]
    store = open_store(url)
    try:
        assert store.stats(EST).by_state == {"held": 1, "released": 1}
    finally:
        store.close()


def test_a_bad_deliver_spec_exits_2_with_the_accepted_forms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = worker_main(["--store", f"sqlite:///{tmp_path}/h.db", "--deliver", "smtp:x"])
    assert code == 2
    assert "expected one of webhook:" in capsys.readouterr().err


def test_a_store_url_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DECONNEXION_STORE", raising=False)
    with pytest.raises(SystemExit) as info:
        worker_main(["--deliver", "null:"])
    assert info.value.code == 2


def test_a_missing_policy_file_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    code = worker_main(
        ["--store", f"sqlite:///{tmp_path}/h.db", "--deliver", "null:", "--policy", str(missing)]
    )
    assert code == 2
    assert "nope.toml" in capsys.readouterr().err
