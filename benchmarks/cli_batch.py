"""Throughput of `deconnexion release --stdin` (and `check --stdin`) against the raw JSON floor.

    python benchmarks/cli_batch.py [--lines 200000] [--repeat 3] [--process]

The input is JSON lines as a vie scolaire would send them: messages, homework and grades to
students and parents, created at any hour of a school year, for 50 establishments (UAIs of
several académies, zones, overseas départements), a few urgent ones. The floor is what any
JSON-lines filter costs with no decision at all: `json.loads` then `json.dumps` of each line,
written out in the same blocks. Figures are lines per second of wall time and per second of
CPU time (steadier on a shared machine; the workers' CPU counted with the parent's), the best of
`--repeat` runs, in process (`answer_lines`, what the command runs after start-up) in one
process and with one worker process per core; `--process` adds one run of the real command
through a pipe, start-up included. Not a test: it never asserts on time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# benchmarks/queue.py would shadow the standard library's `queue`, which multiprocessing imports
# when the workers start: this script does not need its own folder on the path.
if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

from deconnexion.cli.batch import answer_lines
from deconnexion.cli.parallel import usable_cores

PARIS = ZoneInfo("Europe/Paris")
WHERE = [{"uai": f"{d:03d}{n:04d}A"} for d in (75, 69, 13, 33, 59, 67, 974) for n in range(1, 6)]
WHERE += [{"zone": z} for z in ("A", "B", "C", "Corse", "Guadeloupe")]
WHERE += [{"departement": d} for d in ("92", "93", "94", "2A", "971", "972", "973", "976")]
WHERE += [{"academie": a} for a in ("Paris", "Lyon")]
KINDS = [("message", "parents"), ("homework", "students"), ("grade", "students")]
KINDS += [("grade", "parents"), ("announcement", "staff"), ("absence", "parents")]


def release_lines(n: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    start = datetime(2025, 9, 1, tzinfo=PARIS)
    out = []
    for _ in range(n):
        kind, audience = rng.choice(KINDS)
        created = start + timedelta(seconds=rng.randrange(300 * 86400))
        line = {"created": created.isoformat(), "kind": kind, "audience": audience}
        line.update(rng.choice(WHERE))
        if rng.random() < 0.02:
            line.update(urgent=True, sender_role="chef_etablissement", justification="alerte")
        out.append(json.dumps(line))
    return ("\n".join(out) + "\n").encode()


def check_lines(n: int, seed: int = 8) -> bytes:
    rng = random.Random(seed)
    start = datetime(2025, 9, 1, tzinfo=PARIS)
    out = []
    for _ in range(n):
        instant = start + timedelta(seconds=rng.randrange(300 * 86400))
        line = {"instant": instant.isoformat(), "audience": rng.choice(KINDS)[1]}
        line.update(rng.choice(WHERE))
        out.append(json.dumps(line))
    return ("\n".join(out) + "\n").encode()


def floor(data: bytes) -> None:
    """The same lines through json.loads and json.dumps only, written in the same blocks."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    sink = io.BytesIO()
    lines = data.split(b"\n")[:-1]
    for i in range(0, len(lines), 4096):
        block = [encode(json.loads(line)) for line in lines[i : i + 4096]]
        block.append("")
        sink.write("\n".join(block).encode())


def cpu_time() -> float:
    """CPU seconds of this process and of its ended worker processes."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def best(repeat: int, run: Callable[[], object]) -> tuple[float, float]:
    """The best wall time and the best CPU time over `repeat` runs (on a shared machine the
    CPU time says what the code costs, the wall time what the load let)."""
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), cpu_time()
        run()
        walls.append(time.perf_counter() - w0)
        cpus.append(cpu_time() - c0)
    return min(walls), min(cpus)


def library(command: str, data: bytes, workers: int) -> Callable[[], object]:
    return lambda: answer_lines(command, None, io.BytesIO(data), io.BytesIO(), workers)


def process(command: str, data: bytes) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "deconnexion", command, "--stdin"],
        input=data,
        stdout=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--process", action="store_true")
    args = parser.parse_args(argv)
    n = args.lines

    print(f"{'path':<40} {'lines/s':>10} {'lines/CPU-s':>12} {'× floor':>8}")
    for command, data in (("release", release_lines(n)), ("check", check_lines(n))):
        warm = io.BytesIO(data[:100_000])
        answer_lines(command, None, warm, io.BytesIO(), 1)  # compile the calendars
        raw_wall, raw_cpu = best(args.repeat, lambda data=data: floor(data))
        label = "json.loads + json.dumps (floor)"
        print(f"{label:<40} {n / raw_wall:>10,.0f} {n / raw_cpu:>12,.0f} {1:>8.2f}")
        for workers in sorted({1, usable_cores()}):
            wall, cpu = best(args.repeat, library(command, data, workers))
            where = "one process" if workers == 1 else f"{workers} workers"
            print(
                f"{f'{command} --stdin ({where})':<40} {n / wall:>10,.0f} {n / cpu:>12,.0f} "
                f"{raw_cpu / cpu:>8.2f}"
            )
        if args.process:
            whole = n / process(command, data)
            label = f"deconnexion {command} --stdin (pipe)"
            print(f"{label:<40} {whole:>10,.0f} {'':>12} {whole * raw_wall / n:>8.2f}")
    print("(× floor: CPU time of the floor / CPU time of the path; the pipe row by wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
