"""End-to-end benchmark of the simulator: one term, 100 collèges, 1,000,000 messages.

    python benchmarks/simulator.py [--quick] [--processes N] [--store URL] [--json]

Generates the traffic, decides every message with `Scheduler.decide` (open-hours messages by
the scheduler's compiled windows), holds what is held in `HoldQueue.hold_many` batches,
releases it with the real `ReleaseWorker` on the simulated clock, and checks the run (nothing
in a quiet window, each held message released once, counts equal to the store's). Target:
≤ 30 s wall clock. Not a test, never asserts on time.

Each stage is printed with its wall time (slowest process) and CPU time (all processes): on a
shared machine the CPU column is the one to compare. `hold` and `release` are the library
(`HoldQueue.hold_many`, `ReleaseWorker.run_once`); the other rows are the simulator's own.
The SQLite files are scratch files, opened like the default simulation's (`examples/simulator
/run.py`, `prepare_store`): WAL with `synchronous=NORMAL` (survives a crash of the process,
not a power cut; the library's default is FULL).

Establishments are independent tenants, so the run is split over `--processes` (default: one
per CPU), each simulating every n-th collège with its own SQLite file — how an ENT would
shard its workers. Each collège gets exactly the traffic it has in a one-process run
(`--processes 1` gives the same messages). The worker runs at most every `--resolution`
simulated seconds (default 300, never across the opening or closing of a window): a term has
~100,000 distinct due instants (each grade reaches parents at its own second); the default
simulation (`python -m examples.simulator`) runs it at every due instant. Per-stage figures
can be compared with `benchmarks/queue.py` (the queue alone, against procrastinate).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on sys.path, and benchmarks/queue.py would shadow
# the standard library's `queue` (asyncio's thread pool imports it): put the repository there.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from examples.simulator.run import RunOptions, simulate  # noqa: E402
from examples.simulator.stages import Stages  # noqa: E402
from examples.simulator.summary import per_minute, summarize  # noqa: E402
from examples.simulator.traffic import TrafficConfig  # noqa: E402

TERM = (date(2025, 9, 1), date(2025, 12, 7))  # 14 weeks, zone C, Toussaint included
TARGET_SECONDS = 30.0
# (key, label): the stages of one process, in order; "driver" is the event loop's own share of
# hold_and_release (reading the next due instant, moving the clock), what the others leave
STAGES = (
    ("start", "process start (fork, or spawn and imports)"),
    ("generate", "generate traffic"),
    ("decide", "decide (`Scheduler.decide`, open-hours fast path)"),
    ("requests", "build the hold requests (simulator)"),
    ("hold_many", "hold (`HoldQueue.hold_many` batches)"),
    ("release", "release (`ReleaseWorker.run_once`)"),
    ("driver", "event loop (next due instant, clock)"),
    ("read_store", "read the store's counts"),
    ("check", "summary and checks"),
)


def shard(config: TrafficConfig, options: RunOptions, started: float) -> dict[str, Any]:
    """One process: simulate this shard's collèges, check the run, return what the table
    needs. `started`: the parent's `perf_counter()` when it started the processes (one
    monotonic clock for all the processes of the machine)."""
    startup = Stages()
    startup.add("start", time.perf_counter() - started, time.process_time())
    run = simulate(config, options=options, progress=config.shard == 0)
    check = Stages()
    with check("check"):
        summary = summarize(run)
        without, delivered = per_minute(run)
    return {
        "messages": summary["messages"]["total"],
        "held": summary["messages"]["held"],
        "released": summary["exactly_once"]["delivered_once"],
        "checks": {
            "quiet_window": summary["quiet_window_check"]["ok"],
            "exactly_once": summary["exactly_once"]["ok"],
            "store_counts": summary["store_check"]["ok"],
        },
        "calls": run.calls,
        "seconds": _per_stage(startup.wall | run.wall_seconds | check.wall),
        "cpu_seconds": _per_stage(startup.cpu | run.cpu_seconds | check.cpu),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "without": dict(without),
        "delivered": dict(delivered),
    }


def _per_stage(seconds: dict[str, float]) -> dict[str, float]:
    """The table's stages: "driver" is what hold_and_release leaves to the event loop, and
    "requests" what the "hold" stage leaves to the simulator around `hold_many`."""
    get = seconds.get
    seconds = seconds | {
        "driver": get("hold_and_release", 0.0)
        - sum(get(k, 0.0) for k in ("decide", "hold", "release")),
        "requests": get("hold", 0.0) - get("hold_many", 0.0),
    }
    return {key: seconds.get(key, 0.0) for key, _label in STAGES}


def _shard_args(args: tuple[TrafficConfig, RunOptions, float]) -> dict[str, Any]:
    return shard(*args)


def _processes() -> multiprocessing.context.BaseContext:
    """Fork where there is fork: a child starts with the parent's imports (spawn imports
    deconnexion, pydantic and the simulator again in each process, a second or more)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def measure(
    establishments: int,
    messages: int,
    processes: int,
    store: str | None,
    resolution: float,
    spread: float | None,
    tmp: str,
) -> dict[str, Any]:
    config = TrafficConfig(
        start=TERM[0], end=TERM[1], establishments=establishments, messages=messages, seed=2025
    )
    jobs = []
    for k in range(processes):
        url = store or f"sqlite:///{tmp}/simulation-{k}.db"
        if store and processes > 1:
            raise SystemExit("--store with several processes: give --processes 1")
        options = RunOptions(
            store_url=url,
            spread_seconds=spread,
            batch_size=5000,
            hold_batch=20_000,
            check_audit=False,
            resolution=resolution,
        )
        jobs.append((replace(config, shard=k, shards=processes), options))
    started = time.perf_counter()
    if processes == 1:
        parts = [shard(*jobs[0], started)]
    else:
        with _processes().Pool(processes) as pool:
            parts = pool.map(_shard_args, [(*job, started) for job in jobs])
    wall = time.perf_counter() - started
    without: Counter[int] = Counter()
    delivered: Counter[int] = Counter()
    for part in parts:
        without.update({int(k): v for k, v in part["without"].items()})
        delivered.update({int(k): v for k, v in part["delivered"].items()})
    checks = {name: all(p["checks"][name] for p in parts) for name in parts[0]["checks"]}
    return {
        "establishments": establishments,
        "messages": sum(p["messages"] for p in parts),
        "held": sum(p["held"] for p in parts),
        "released": sum(p["released"] for p in parts),
        "processes": processes,
        "store": (store or "SQLite, one file per process").split("@")[-1],
        "resolution_seconds": resolution,
        "spread_minutes": (spread or 0) / 60,
        "wall_seconds": round(wall, 2),
        "stage_seconds_slowest_process": {
            stage: round(max(p["seconds"][stage] for p in parts), 2) for stage, _ in STAGES
        },
        "stage_cpu_seconds_all_processes": {
            stage: round(sum(p["cpu_seconds"][stage] for p in parts), 2) for stage, _ in STAGES
        },
        "cpu_seconds": round(sum(sum(p["cpu_seconds"].values()) for p in parts), 1),
        "worker_runs": sum(p["calls"].get("worker_runs", 0) for p in parts),
        "hold_many_calls": sum(p["calls"].get("hold_many", 0) for p in parts),
        "messages_per_second": round(sum(p["messages"] for p in parts) / wall),
        "max_rss_mb_per_process": round(max(p["max_rss_mb"] for p in parts)),
        "checks": checks,
        "checks_ok": all(checks.values()),
        "peak_minute": {
            "without_smoothing": max(without.values(), default=0),
            "as_delivered": max(delivered.values(), default=0),
        },
        "within_target": wall <= TARGET_SECONDS,
    }


def table(r: dict[str, Any]) -> str:
    s, c = r["stage_seconds_slowest_process"], r["stage_cpu_seconds_all_processes"]
    lines = [
        f"Simulator benchmark — {r['establishments']} collèges, {r['messages']:,} messages, "
        f"{TERM[0]} → {TERM[1]}, {r['processes']} process(es), worker resolution "
        f"{r['resolution_seconds']:g} s, spread {r['spread_minutes']:g} min",
        f"Python {platform.python_version()}, {os.cpu_count()} CPU, {platform.machine()}; "
        f"store: {r['store']}",
        "",
        "| stage | wall s (slowest process) | CPU s (all processes) |",
        "|---|---:|---:|",
        *(f"| {label} | {s[key]:.1f} | {c[key]:.1f} |" for key, label in STAGES),
        f"| **total** | **{r['wall_seconds']:.1f}** | **{r['cpu_seconds']:.1f}** |",
        "",
        f"CPU per message: hold_many {_micro(c['hold_many'], r['held'])}, release "
        f"{_micro(c['release'], r['released'])} (per held message; {r['hold_many_calls']:,} "
        f"hold_many calls, {r['worker_runs']:,} worker runs), decide "
        f"{_micro(c['decide'], r['messages'])} (per message)",
        f"held {r['held']:,}, released exactly once {r['released']:,}; "
        f"{r['messages_per_second']:,} messages/s end to end; max RSS "
        f"{r['max_rss_mb_per_process']} MB per process",
        "checks (quiet windows, exactly once, store counts): "
        + ("all pass" if r["checks_ok"] else str(r["checks"])),
        f"peak minute: {r['peak_minute']['without_smoothing']:,} sends at release time, "
        f"{r['peak_minute']['as_delivered']:,} as delivered",
        f"target ≤ {TARGET_SECONDS:.0f} s wall clock: {'PASS' if r['within_target'] else 'MISS'}",
    ]
    return "\n".join(lines)


def _micro(seconds: float, count: int) -> str:
    return f"{seconds / count * 1e6:.0f} µs" if count else "—"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="10 collèges, 100,000 messages")
    p.add_argument("--establishments", type=int, default=None)
    p.add_argument("--messages", type=int, default=None)
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    p.add_argument("--store", default=None, help="store URL (default: temporary SQLite files)")
    p.add_argument("--resolution", type=float, default=300.0)
    p.add_argument("--spread", type=float, default=0.0, help="minutes of storm smoothing")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    establishments = args.establishments or (10 if args.quick else 100)
    messages = args.messages or (100_000 if args.quick else 1_000_000)
    processes = max(1, min(args.processes, establishments))
    with tempfile.TemporaryDirectory() as tmp:
        spread = args.spread * 60 if args.spread else None
        result = measure(
            establishments, messages, processes, args.store, args.resolution, spread, tmp
        )
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0 if result["checks_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
