"""The simulation report renders in a real browser: Debian's headless chromium.

Skipped when chromium is not installed, except when the CI variable is set (`.ci/run`
installs it): then a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from examples.simulator.report import write_report
from examples.simulator.run import RunOptions, simulate
from examples.simulator.summary import summarize
from examples.simulator.traffic import TrafficConfig

pytestmark = pytest.mark.chromium

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed and CI is set (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("report")
    config = TrafficConfig(start=date(2025, 10, 13), end=date(2025, 11, 9), messages=1200)
    run = simulate(config, options=RunOptions(store_url="memory://"), progress=False)
    return write_report(run, summarize(run), where / "rapport-simulation.html")


def browse(report: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra, report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_report_renders_the_timeline_peaks_and_summary(report: Path, tmp_path: Path) -> None:
    done = browse(report, tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    timeline = re.search(r'<svg id="timeline".*?</svg>', dom, re.S)
    assert timeline is not None, dom[:500]
    assert len(re.findall(r"<rect[^>]*quiet-window", timeline.group(0))) >= 10
    assert len(re.findall(r"<circle[^>]*arrival", timeline.group(0))) > 500
    assert len(re.findall(r"<circle[^>]*release", timeline.group(0))) > 100
    peaks = re.search(r'<svg id="peaks".*?</svg>', dom, re.S)
    assert peaks is not None and "bar-with" in peaks.group(0)
    table = re.search(r'<table id="summary">.*?</table>', dom, re.S)
    assert table is not None
    rows = re.findall(r"<tr[ >]", table.group(0))
    assert len(rows) >= 20
    assert "Rien diffusé pendant une fenêtre de déconnexion" in table.group(0)
    assert re.search(r'<tr class="check ok">', table.group(0))


def test_report_screenshot_is_drawn(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    done = browse(report, tmp_path, "--window-size=1280,1600", f"--screenshot={shot}")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000  # a blank page is a few kilobytes
