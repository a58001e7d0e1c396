"""Hold and release throughput of the hold queue, SQLite and PostgreSQL, against procrastinate.

    python benchmarks/queue.py               # N = 1,000,000 held messages per backend
    python benchmarks/queue.py --quick       # N = 20,000
    python benchmarks/queue.py --json        # one JSON document instead of the table

Each backend's figures are printed next to its raw floor, measured in the same run: the same
rows inserted and claimed + acknowledged with plain SQL (benchmarks/_floors.py, no library code).

For each backend: hold N messages (batched `hold_many`, the path an ENT uses for a class-wide
notification), all due (a weekend's backlog at Monday 07:00), then release them to a no-op
deliverer with worker *processes* (1 on SQLite, `--workers` on PostgreSQL) and measure the wall
time from the first worker's start to the last one's end, and each worker's peak memory
(VmHWM). On the same PostgreSQL server, procrastinate (the peer: a PostgreSQL task queue) defers
jobs with `schedule_at` and drains them with the same number of worker processes. Its N is
capped by `--peer-n` (default 20,000: it releases a few hundred jobs/s here) to keep the run
short; rates are per second, so they compare.

Not a test: prints figures, asserts nothing about time.
"""

from __future__ import annotations

import os
import sys

# This file is named queue.py: when run as a script its folder comes first on sys.path and
# would shadow the standard library's `queue` (used by asyncio's thread pool). Drop it.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import asyncio
import json
import logging
import platform
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from deconnexion.core.message import (
    Audience,
    Decision,
    Kind,
    Message,
    Provenance,
    Reason,
    ReasonCode,
)
from deconnexion.core.territories import Establishment
from deconnexion.core.timeutil import zone
from deconnexion.hold.queue import HoldQueue
from deconnexion.hold.request import HoldRequest
from deconnexion.release.deliver import NullDeliverer
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store import HoldStore, open_store

# benchmarks/_floors.py, found after the standard library (never shadowing `queue`)
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from _floors import postgres_floor_hold, postgres_floor_worker, sqlite_floor

DEFAULT_DSN = os.environ.get("DECONNEXION_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
logging.getLogger("procrastinate").setLevel(logging.ERROR)  # not its own-module-app warning

CHUNK = 5_000  # messages per hold_many call
ESTABLISHMENT = Establishment(uai="0750001A")
# The backlog is due at 09:00 on a school Tuesday (2025-11-04, Paris) and the workers' clock
# reads 10:00 that day plus the time since they started: the worker re-checks every message's
# window, so on the real clock a run at night or on a weekend would give every message back
# for 07:00 instead of releasing it. The PostgreSQL claim reads the database's own clock, by
# which that backlog is due too.
OPEN_TUESDAY = 1762246800.0  # 2025-11-04 10:00 Europe/Paris
DUE = OPEN_TUESDAY - 3600
# Issue 12's targets: each SQLite figure at least half its raw floor (same run), PostgreSQL
# releasing 30,000/s with 2 workers and 30x procrastinate, holding 50,000/s.
TARGETS = {
    "sqlite_hold_vs_floor": 0.5,
    "sqlite_release_vs_floor": 0.5,
    "postgres_hold": 50_000,
    "postgres_release": 30_000,
    "peer_ratio": 30.0,
    "worker_mb": 200,
}


# -- the work load ----------------------------------------------------------------------------


def _requests(n_start: int, n_end: int, run: str, due: float) -> list[HoldRequest]:
    """Grades published on a Saturday for parents, held until the (past) Monday 07:00."""
    tz = zone("Europe/Paris")
    release = datetime.fromtimestamp(due, tz)
    created = datetime.fromtimestamp(due - 36_000, tz)
    reason = Reason(ReasonCode.WEEKEND, "week-end", "weekend")
    message = Message(kind=Kind.GRADE, audience=Audience.PARENTS, created_at=created)
    decision = Decision(
        held=True,
        release_at=release,
        created_at=created,
        audience=Audience.PARENTS,
        kind=Kind.GRADE,
        reasons=(reason,),
        provenance=Provenance.OFFICIAL,
        timezone="Europe/Paris",
    )
    return [
        HoldRequest(
            establishment=ESTABLISHMENT,
            message=message,
            decision=decision,
            payload={"type": "grade", "course": "maths", "value": 14.5, "out_of": 20, "n": i},
            idempotency_key=f"{run}-{i}",
            recipients=(f"parent:{i % 50_000}",),
        )
        for i in range(n_start, n_end)
    ]


def hold_all(store: HoldStore, n: int, due: float) -> float:
    """Hold n messages with `HoldQueue.hold_many` in chunks; return the seconds it took
    (building the requests is the caller's work and not counted)."""
    queue = HoldQueue(store, clock=lambda: due - 36_000)
    run = uuid.uuid4().hex[:8]
    spent = 0.0
    for start in range(0, n, CHUNK):
        requests = _requests(start, min(n, start + CHUNK), run, due)
        started = time.perf_counter()
        queue.hold_many(requests)
        spent += time.perf_counter() - started
    return spent


def vmhwm_mb() -> float:
    """Peak resident memory of this process (Linux /proc; resource.getrusage elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- worker processes -------------------------------------------------------------------------


def _deconnexion_worker(url: str, batch_size: int) -> dict[str, Any]:
    store = open_store(url)
    shift = time.time() - OPEN_TUESDAY
    worker = ReleaseWorker(
        store, NullDeliverer(), batch_size=batch_size, clock=lambda: time.time() - shift
    )
    started = time.time()
    asyncio.run(worker.run(drain=True))
    ended = time.time()
    store.close()
    return {"released": worker.counters["released"], "start": started, "end": ended}


def _procrastinate_app(dsn: str, schema: str) -> Any:
    import procrastinate

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=dsn, kwargs={"options": f"-c search_path={schema}"}
        )
    )

    @app.task(name="deliver")
    async def deliver(**payload: Any) -> None:
        return None

    return app


def _procrastinate_worker(dsn: str, schema: str, concurrency: int) -> dict[str, Any]:
    app = _procrastinate_app(dsn, schema)

    async def go() -> None:
        async with app.open_async():
            await app.run_worker_async(
                wait=False, concurrency=concurrency, install_signal_handlers=False
            )

    started = time.time()
    asyncio.run(go())
    return {"released": None, "start": started, "end": time.time()}


def _floor_worker(dsn: str, schema: str) -> dict[str, Any]:
    started = time.time()
    released = postgres_floor_worker(dsn, schema)
    return {"released": released, "start": started, "end": time.time()}


def _child(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "deconnexion":
        out = _deconnexion_worker(argv[1], int(argv[2]))
    elif kind == "floor":
        out = _floor_worker(argv[1], argv[2])
    else:
        out = _procrastinate_worker(argv[1], argv[2], int(argv[3]))
    out["vmhwm_mb"] = vmhwm_mb()
    out["cpu_s"] = time.process_time()
    print(json.dumps(out))


def run_workers(args_list: list[list[str]]) -> dict[str, Any]:
    """Start worker processes at once; wall time from first start to last end; peak memory."""
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--_child", *args],
            stdout=subprocess.PIPE,
            text=True,
        )
        for args in args_list
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"worker process failed ({proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    return {
        "seconds": end - start,
        "released": [r["released"] for r in results],
        "worker_mb": max(r["vmhwm_mb"] for r in results),
        "worker_cpu_s": sum(r["cpu_s"] for r in results),
    }


def released_all(rel: dict[str, Any], n: int) -> dict[str, Any]:
    """`rel`, once its workers are known to have released all n messages (a rate of messages
    given back or left held would be no release rate)."""
    if sum(rel["released"]) != n:
        raise SystemExit(f"the workers released {sum(rel['released']):,} of {n:,} messages")
    return rel


# -- backends ---------------------------------------------------------------------------------


def bench_sqlite(n: int, batch_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/held.db"
        store = open_store(url)
        hold_s = hold_all(store, n, due=DUE)
        store.close()
        rel = released_all(run_workers([["deconnexion", url, str(batch_size)]]), n)
        floor = sqlite_floor(f"{tmp}/floor.db", n, due=time.time() - 3600)
    return {
        "backend": "sqlite",
        "n": n,
        "workers": 1,
        "hold_per_s": n / hold_s,
        "release_per_s": n / rel["seconds"],
        "floor_hold_per_s": floor["hold_per_s"],
        "floor_release_per_s": floor["release_per_s"],
        "released": sum(rel["released"]),
        "worker_mb": rel["worker_mb"],
        "worker_cpu_s": rel["worker_cpu_s"],
        "load_avg": os.getloadavg()[0],
    }


def _pg_schema(dsn: str, prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def bench_postgres(n: int, batch_size: int, workers: int, dsn: str) -> dict[str, Any]:
    schema = _pg_schema(dsn, "bench_dcnx")
    sep = "&" if "?" in dsn else "?"
    url = f"{dsn}{sep}schema={schema}"
    try:
        store = open_store(url)
        hold_s = hold_all(store, n, due=DUE)
        store.close()
        rel = released_all(
            run_workers([["deconnexion", url, str(batch_size)] for _ in range(workers)]), n
        )
    finally:
        _drop_schema(dsn, schema)
    floor = bench_postgres_floor(n, workers, dsn)
    return {
        "backend": "postgres",
        "n": n,
        "workers": workers,
        "hold_per_s": n / hold_s,
        "release_per_s": n / rel["seconds"],
        "floor_hold_per_s": floor["hold_per_s"],
        "floor_release_per_s": floor["release_per_s"],
        "released": sum(rel["released"]),
        "worker_mb": rel["worker_mb"],
        "worker_cpu_s": rel["worker_cpu_s"],
        "load_avg": os.getloadavg()[0],
    }


def bench_postgres_floor(n: int, workers: int, dsn: str) -> dict[str, float]:
    """Plain SQL on the same server: COPY the rows in, then `workers` processes claim + ack."""
    import psycopg

    schema = _pg_schema(dsn, "bench_floor")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        hold = postgres_floor_hold(dsn, schema, n, due=time.time() - 3600)
        rel = run_workers([["floor", dsn, schema] for _ in range(workers)])
        if sum(rel["released"]) != n:
            raise SystemExit(f"floor: released {sum(rel['released'])} of {n}")
    finally:
        _drop_schema(dsn, schema)
    return {"hold_per_s": hold, "release_per_s": n / rel["seconds"]}


def bench_procrastinate(n: int, workers: int, concurrency: int, dsn: str) -> dict[str, Any]:
    import psycopg

    schema = _pg_schema(dsn, "bench_pcst")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        app = _procrastinate_app(dsn, schema)
        due = datetime.fromtimestamp(time.time() - 3600, UTC)

        async def defer() -> float:
            async with app.open_async():
                await app.schema_manager.apply_schema_async()
                task = app.tasks["deliver"].configure(schedule_at=due)
                started = time.perf_counter()
                for start in range(0, n, CHUNK):
                    await task.batch_defer_async(
                        *[
                            {"recipient": f"parent:{i % 50_000}", "value": 14.5}
                            for i in range(start, min(n, start + CHUNK))
                        ]
                    )
                return time.perf_counter() - started

        hold_s = asyncio.run(defer())
        rel = run_workers(
            [["procrastinate", dsn, schema, str(concurrency)] for _ in range(workers)]
        )
        with psycopg.connect(dsn, options=f"-c search_path={schema}") as conn:
            done = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
            ).fetchone()
    finally:
        _drop_schema(dsn, schema)
    return {
        "backend": "procrastinate",
        "n": n,
        "workers": workers,
        "hold_per_s": n / hold_s,
        "release_per_s": n / rel["seconds"],
        "released": done[0] if done else 0,
        "worker_mb": rel["worker_mb"],
        "worker_cpu_s": rel["worker_cpu_s"],
        "load_avg": os.getloadavg()[0],
    }


# -- report -----------------------------------------------------------------------------------


def _table(rows: list[dict[str, Any]], ratio: float | None) -> str:
    head = f"{'backend':<14} {'N':>9} {'workers':>7} {'hold msg/s':>11} {'release msg/s':>13}"
    head += f" {'worker MB':>9} {'worker CPU s':>12} {'load':>5}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['backend']:<14} {r['n']:>9,} {r['workers']:>7} {r['hold_per_s']:>11,.0f} "
            f"{r['release_per_s']:>13,.0f} {r['worker_mb']:>9.0f} {r['worker_cpu_s']:>12.1f} "
            f"{r['load_avg']:>5.1f}"
        )
    if ratio is not None:
        lines.append(f"PostgreSQL release / procrastinate release: {ratio:.1f}×")
    floors = [r for r in rows if "floor_hold_per_s" in r]
    if floors:
        lines += ["", "raw floor (plain SQL, same rows, same run, no deconnexion code):"]
        head = f"{'backend':<14} {'floor hold/s':>12} {'ratio':>6} "
        head += f"{'floor release/s':>15} {'ratio':>6}"
        lines += [head, "-" * len(head)]
        for r in floors:
            lines.append(
                f"{r['backend']:<14} {r['floor_hold_per_s']:>12,.0f} "
                f"{r['hold_per_s'] / r['floor_hold_per_s']:>5.2f}× "
                f"{r['floor_release_per_s']:>15,.0f} "
                f"{r['release_per_s'] / r['floor_release_per_s']:>5.2f}×"
            )
    return "\n".join(lines)


def _verdicts(rows: list[dict[str, Any]], ratio: float | None) -> dict[str, bool]:
    by = {r["backend"]: r for r in rows}
    out: dict[str, bool] = {}
    if "sqlite" in by:
        lite = by["sqlite"]
        out["sqlite_hold_vs_floor"] = (
            lite["hold_per_s"] >= TARGETS["sqlite_hold_vs_floor"] * lite["floor_hold_per_s"]
        )
        out["sqlite_release_vs_floor"] = (
            lite["release_per_s"]
            >= TARGETS["sqlite_release_vs_floor"] * lite["floor_release_per_s"]
        )
    if "postgres" in by:
        out["postgres_hold"] = by["postgres"]["hold_per_s"] >= TARGETS["postgres_hold"]
        out["postgres_release"] = by["postgres"]["release_per_s"] >= TARGETS["postgres_release"]
    if ratio is not None:
        out["peer_ratio"] = ratio >= TARGETS["peer_ratio"]
    mine = [r["worker_mb"] for r in rows if r["backend"] != "procrastinate"]
    if mine:
        out["worker_mb"] = max(mine) <= TARGETS["worker_mb"]
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_child":
        _child(argv[1:])
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="held messages per backend")
    p.add_argument("--quick", action="store_true", help="N = 20,000")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--backends", default="sqlite,postgres,procrastinate")
    p.add_argument("--workers", type=int, default=2, help="PostgreSQL worker processes (2)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--peer-n", type=int, default=20_000, help="procrastinate's N (capped by N)")
    p.add_argument("--peer-concurrency", type=int, default=10)
    p.add_argument("--dsn", default=DEFAULT_DSN)
    args = p.parse_args(argv)
    n = 20_000 if args.quick else args.n
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    rows: list[dict[str, Any]] = []
    for backend in backends:
        print(f"… {backend}", file=sys.stderr, flush=True)
        if backend == "sqlite":
            rows.append(bench_sqlite(n, args.batch_size))
        elif backend == "postgres":
            rows.append(bench_postgres(n, args.batch_size, args.workers, args.dsn))
        elif backend == "procrastinate":
            peer_n = min(n, args.peer_n)
            rows.append(bench_procrastinate(peer_n, args.workers, args.peer_concurrency, args.dsn))
        else:
            p.error(f"--backends: unknown {backend!r}; expected sqlite, postgres, procrastinate")
    by = {r["backend"]: r for r in rows}
    ratio = None
    if "postgres" in by and "procrastinate" in by:
        ratio = by["postgres"]["release_per_s"] / by["procrastinate"]["release_per_s"]
    doc = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rows": rows,
        "postgres_over_procrastinate": ratio,
        "targets": TARGETS,
        "met": _verdicts(rows, ratio),
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(_table(rows, ratio))
        print(
            f"{os.cpu_count()} CPUs shared with whatever else runs; load = 1-minute load "
            "average after each release; worker CPU s = user+sys of the worker processes"
        )
        print(
            "targets met: "
            + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in doc["met"].items())
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
