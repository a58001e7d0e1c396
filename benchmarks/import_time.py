"""What a process start costs: `import deconnexion` against importing its own dependencies.

    python benchmarks/import_time.py [--runs 15] [--importtime]

Each row is the median wall time of `--runs` fresh interpreters (`python -c …`), measured in the
same run, interleaved so that a busy machine slows every row alike. The peer is what the package
cannot do without: pydantic, pendulum and holidays' France (which imports every country). The
last row is a whole decision from the shell, `deconnexion check now --json`, the cost a PHP or
Java caller pays per call without the batch mode or the decision service. Not a test: it prints
a table and never asserts on time. `--importtime` adds the ten slowest modules of
`import deconnexion` by `python -X importtime` (self time).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

ROWS = {
    "python -c pass": "pass",
    "dependencies (pydantic, pendulum, holidays France)": (
        "import pydantic, pendulum; from holidays.countries.france import France"
    ),
    "import deconnexion": "import deconnexion",
    "deconnexion check now --zone C --json": (
        "import sys; from deconnexion.cli import main; "
        "sys.exit(main(['check', 'now', '--zone', 'C', '--json']))"
    ),
}


def wall(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def slowest_modules(count: int = 10) -> list[tuple[int, str]]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import deconnexion"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(self_us), name.strip()))
    return sorted(rows, reverse=True)[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args(argv)

    times: dict[str, list[float]] = {name: [] for name in ROWS}
    for code in ROWS.values():  # warm the file cache once
        wall(code)
    for _ in range(args.runs):
        for name, code in ROWS.items():
            times[name].append(wall(code))
    median = {name: statistics.median(values) for name, values in times.items()}

    deps = median["dependencies (pydantic, pendulum, holidays France)"]
    print(f"{'process':<52} {'median ms':>10} {'× deps':>8}")
    for name in ROWS:
        print(f"{name:<52} {median[name] * 1000:>10.1f} {median[name] / deps:>8.2f}")
    ratio = median["import deconnexion"] / deps
    verdict = "met" if ratio <= 1.3 else "NOT met"
    print(f"\nimport deconnexion / dependencies = {ratio:.2f} (target ≤ 1.30: {verdict})")
    if args.importtime:
        print("\nslowest modules of `import deconnexion` (self µs, one run):")
        for self_us, name in slowest_modules():
            print(f"  {self_us:>8}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
