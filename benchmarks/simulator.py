"""End-to-end benchmark of the simulator: one term, 100 collèges, 1,000,000 messages.

    python benchmarks/simulator.py [--quick] [--store URL] [--resolution SECONDS] [--json]

Generates the traffic, decides every message with `Scheduler.decide`, holds what is held in
`HoldQueue.hold_many` batches, releases it with the real `ReleaseWorker` on the simulated
clock, and checks the run (nothing in a quiet window, each held message released once,
counts equal to the store's). Target: under 60 s. Not a test, never asserts on time.

The worker runs at most every `--resolution` simulated seconds (default 300, never across the
opening or closing of a window): a term has ~100,000 distinct due instants (each grade reaches
parents at its own second), and one worker round-trip per instant would measure
`asyncio.to_thread`, not the queue. The default simulation (`python -m examples.simulator`)
runs at every due instant. Per-stage figures let this run be compared with
`benchmarks/queue.py` (the queue alone, against procrastinate).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path, and benchmarks/queue.py would shadow
# the standard library's `queue` (asyncio's thread pool imports it): put the repository there.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from examples.simulator.run import RunOptions, simulate
from examples.simulator.summary import summarize
from examples.simulator.traffic import TrafficConfig

TERM = (date(2025, 9, 1), date(2025, 12, 7))  # 14 weeks, zone C, Toussaint included
TARGET_SECONDS = 60.0


def measure(
    establishments: int, messages: int, store: str, resolution: float, spread: float | None
) -> dict[str, Any]:
    config = TrafficConfig(
        start=TERM[0], end=TERM[1], establishments=establishments, messages=messages, seed=2025
    )
    options = RunOptions(
        store_url=store,
        spread_seconds=spread,
        batch_size=5000,
        hold_batch=20_000,
        check_audit=False,
        resolution=resolution,
    )
    started = time.perf_counter()
    run = simulate(config, options=options)
    simulated = time.perf_counter() - started
    mark = time.perf_counter()
    summary = summarize(run)
    summary_seconds = time.perf_counter() - mark
    walls = dict(run.wall_seconds)
    walls["summary"] = summary_seconds
    walls["total"] = simulated + summary_seconds
    held = summary["messages"]["held"]
    return {
        "establishments": establishments,
        "messages": messages,
        "held": held,
        "released": summary["exactly_once"]["delivered_once"],
        "store": store.split("?")[0].split("@")[-1],
        "resolution_seconds": resolution,
        "spread_minutes": (spread or 0) / 60,
        "seconds": {k: round(v, 2) for k, v in walls.items()},
        "messages_per_second": round(messages / walls["total"]),
        "held_per_second_hold_and_release": round(held / walls["hold_and_release"])
        if walls["hold_and_release"]
        else None,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "checks_ok": summary["ok"],
        "checks": {
            "quiet_window": summary["quiet_window_check"]["ok"],
            "exactly_once": summary["exactly_once"]["ok"],
            "store_counts": summary["store_check"]["ok"],
        },
        "peak_minute": summary["peak_minute"],
        "within_target": walls["total"] < TARGET_SECONDS,
    }


def table(result: dict[str, Any]) -> str:
    s = result["seconds"]
    rows = [
        ("generate traffic", s.get("generate")),
        ("decide + hold + release (simulated clock)", s.get("hold_and_release")),
        ("read the store", s.get("read_store")),
        ("summary and checks", s.get("summary")),
        ("**total**", s.get("total")),
    ]
    lines = [
        f"Simulator benchmark — {result['establishments']} collèges, "
        f"{result['messages']:,} messages, {TERM[0]} → {TERM[1]}, store {result['store']}, "
        f"resolution {result['resolution_seconds']:g} s, spread {result['spread_minutes']:g} min",
        f"Python {platform.python_version()}, {os.cpu_count()} CPU, {platform.machine()}",
        "",
        "| stage | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {value:.1f} |" for name, value in rows if value is not None]
    lines += [
        "",
        f"held {result['held']:,}, released once {result['released']:,}; "
        f"{result['messages_per_second']:,} messages/s end to end; "
        f"max RSS {result['max_rss_mb']} MB",
        f"checks (quiet windows, exactly once, store counts): "
        f"{'all pass' if result['checks_ok'] else result['checks']}",
        f"peak minute: {result['peak_minute']['without_smoothing']['count']:,} sends without "
        f"smoothing, {result['peak_minute']['with_smoothing']['count']:,} with",
        f"target < {TARGET_SECONDS:.0f} s: {'PASS' if result['within_target'] else 'MISS'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="10 collèges, 100,000 messages")
    p.add_argument("--establishments", type=int, default=None)
    p.add_argument("--messages", type=int, default=None)
    p.add_argument("--store", default=None, help="store URL (default: a temporary SQLite file)")
    p.add_argument("--resolution", type=float, default=300.0)
    p.add_argument("--spread", type=float, default=15.0, help="minutes, 0 for no smoothing")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    establishments = args.establishments or (10 if args.quick else 100)
    messages = args.messages or (100_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or f"sqlite:///{tmp}/simulation.db"
        spread = args.spread * 60 if args.spread else None
        result = measure(establishments, messages, store, args.resolution, spread)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0 if result["checks_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
