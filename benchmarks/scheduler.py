"""Benchmark of the pure scheduler, against pandas' CustomBusinessHour in the same run.

    python benchmarks/scheduler.py [--n 1000000] [--pandas-sample 20000] [--json]

Not a test: it prints a table (target / measured / pass) and never asserts on time. pandas and
numpy are only benchmark dependencies (extra `bench`). Each path is printed next to its raw
floor in the same run: a bare `bisect_right` loop and `numpy.searchsorted` over the same
bounds. Figures are the best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from deconnexion.core.caches import CACHES
from deconnexion.core.message import Audience, Kind, Message, ReasonCode, SenderRole
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import DEPARTEMENTS, Establishment

PARIS = ZoneInfo("Europe/Paris")
FIRST = datetime(2024, 9, 1, tzinfo=PARIS)  # three school years, zone C
LAST = datetime(2027, 8, 31, 23, 59, 59, tzinfo=PARIS)
MB = 1024 * 1024


def best_of(repeat: int, run: Callable[[], object]) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times), times


# -- next_open_many vs pandas -------------------------------------------------------------------


def random_instants(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    lo, hi = FIRST.timestamp(), LAST.timestamp()
    return [rng.uniform(lo, hi) for _ in range(n)]


def pandas_holidays(s: Scheduler) -> list[str]:
    """Every weekday off in zone C (public and school holidays), from the same compiled calendar."""
    days_off = s.windows(Audience.STUDENTS).days_off
    out = []
    day = date(2024, 8, 1)
    while day < date(2028, 1, 1):
        reasons = days_off.get(day.toordinal(), ())
        if any(r.code is not ReasonCode.WEEKEND for r in reasons):
            out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def bench_floors(s: Scheduler, instants: list[float], repeat: int) -> dict[str, Any]:
    """The raw floor of the same path, no library code: a bare `bisect_right` loop over the same
    bounds (a list in, a list out), and `numpy.searchsorted` + `where` (an array in and out)."""
    import numpy as np

    bounds = list(s.windows(Audience.STUDENTS).bounds)
    n = len(instants)

    def bare_bisect() -> list[int]:
        br = bisect_right
        return [br(bounds, t) for t in instants]

    array = np.array(instants)
    np_bounds = np.array(bounds)
    last = len(bounds) - 1

    def bare_searchsorted() -> object:
        i = np.searchsorted(np_bounds, array, side="right")
        return np.where(i & 1, array, np_bounds[np.minimum(i, last)])

    bisect_best, _ = best_of(repeat, bare_bisect)
    ss_best, _ = best_of(repeat, bare_searchsorted)
    s.next_open_many(array[:1000])  # warm-up: builds the numpy copy of the bounds
    ours_best, ours_runs = best_of(repeat, lambda: s.next_open_many(array))
    same = s.next_open_many(array).tolist() == s.next_open_many(instants)
    return {
        "bisect_rate": n / bisect_best,
        "searchsorted_rate": n / ss_best,
        "array_rate": n / ours_best,
        "array_runs": ours_runs,
        "array_equals_list": same,
        "numpy_version": np.__version__,
    }


def bench_next_open(s: Scheduler, args: argparse.Namespace) -> dict[str, Any]:
    instants = random_instants(args.n, args.seed)
    s.next_open_many(instants[:1000])  # warm-up
    best, times = best_of(args.repeat, lambda: s.next_open_many(instants))
    ours = s.next_open_many(instants)
    rate = args.n / best
    floors = bench_floors(s, instants, args.repeat)

    import pandas as pd  # type: ignore[import-untyped]  # benchmark-only dependency
    from pandas.tseries.offsets import CustomBusinessHour  # type: ignore[import-untyped]

    holidays = pandas_holidays(s)
    cbh = CustomBusinessHour(
        start="07:00", end="20:00", holidays=holidays, weekmask="Mon Tue Wed Thu Fri"
    )
    sample_n = min(args.pandas_sample, args.n)
    sample = instants[:sample_n]
    stamps = [pd.Timestamp(t, unit="s", tz="UTC").tz_convert("Europe/Paris") for t in sample]
    pd_results: list[Any] = []

    def run_pandas() -> None:
        pd_results[:] = [cbh.rollforward(ts) for ts in stamps]

    pd_best, _ = best_of(1, run_pandas)
    pd_rate = sample_n / pd_best
    mismatches = []
    for t, mine, theirs in zip(sample, ours[:sample_n], pd_results, strict=True):
        if abs(mine - theirs.timestamp()) > 1e-3:
            mismatches.append((t, mine, theirs))
    return {
        "n": args.n,
        "seconds": best,
        "runs": times,
        "rate": rate,
        "pandas_sample": sample_n,
        "pandas_seconds": pd_best,
        "pandas_rate": pd_rate,
        "pandas_extrapolated_seconds": args.n / pd_rate,
        "speedup": rate / pd_rate,
        **floors,
        "holidays_given_to_pandas": len(holidays),
        "mismatches": len(mismatches),
        "mismatch_examples": [
            {
                "instant": datetime.fromtimestamp(t, PARIS).isoformat(),
                "deconnexion": datetime.fromtimestamp(m, PARIS).isoformat(),
                "pandas": p.isoformat(),
            }
            for t, m, p in mismatches[:5]
        ],
    }


# -- decide() -----------------------------------------------------------------------------------


def random_messages(n: int, seed: int) -> list[Message]:
    rng = random.Random(seed)
    lo, hi = FIRST.timestamp(), LAST.timestamp()
    kinds, audiences = list(Kind), list(Audience)
    roles = [SenderRole.TEACHER] * 6 + list(SenderRole)
    out = []
    for _ in range(n):
        urgent = rng.random() < 0.05
        out.append(
            Message(
                kind=rng.choice(kinds),
                audience=rng.choice(audiences),
                created_at=datetime.fromtimestamp(rng.uniform(lo, hi), PARIS),
                sender_role=rng.choice(roles),
                urgent=urgent,
                justification="alerte météo" if urgent and rng.random() < 0.5 else None,
            )
        )
    return out


def bench_decide(s: Scheduler, args: argparse.Namespace) -> dict[str, Any]:
    n = max(args.n // 5, 1000)
    messages = random_messages(n, args.seed)
    decide = s.decide
    for m in messages[:1000]:
        decide(m)
    best, times = best_of(args.repeat, lambda: [decide(m) for m in messages])
    held = sum(decide(m).held for m in messages)
    return {"n": n, "seconds": best, "runs": times, "rate": n / best, "held_share": held / n}


# -- memory -------------------------------------------------------------------------------------


def bench_memory() -> dict[str, Any]:
    where = Establishment(uai="0750001A")
    policy = Policy.national()
    Scheduler(policy, where)  # warm the shared per-subdivision caches (holidays, snapshot)
    clear_compiled_windows()
    gc.collect()
    tracemalloc.start()
    s = Scheduler(policy, where)
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    compiled = {id(s.windows(a)): s.windows(a) for a in Audience}  # students and parents share
    w = s.windows(Audience.STUDENTS)
    years = (w.last_day - w.first_day).days / 365.25
    return {
        "years": years,
        "span": f"{w.first_day.isoformat()} to {w.last_day.isoformat()}",
        "distinct_windows": len(compiled),
        "nbytes_one_audience": w.nbytes(),
        "nbytes_all": sum(x.nbytes() for x in compiled.values()),
        "tracemalloc_retained": retained,
        "tracemalloc_peak": peak,
        "bounds": len(w.bounds),
    }


# -- compiling 1,000 establishments --------------------------------------------------------------

_UAI_KEY = "ABCDEFGHJKLMNPRSTUVWXYZ"  # UAI check letter: the 7 digits modulo 23


def uai(prefix: str, number: int) -> str:
    digits = f"{prefix}{number:04d}"
    return digits + _UAI_KEY[int(digits) % 23]


def uai_prefix(code: str) -> str:
    return {"2A": "620", "2B": "720"}.get(code, code.zfill(3))


def thousand_uais(seed: int) -> list[str]:
    """1,000 well-formed UAIs (valid check letter) spread over every département and territory."""
    rng = random.Random(seed)
    codes = sorted(DEPARTEMENTS)
    out: list[str] = []
    i = 0
    while len(out) < 1000:
        out.append(uai(uai_prefix(codes[i % len(codes)]), rng.randrange(10, 10000)))
        i += 1
    return out


def clear_compiled_windows() -> None:
    CACHES.table("compiled windows").clear()


def clear_all_caches() -> None:
    """Compiled windows and the calendar pieces they are built from (the CSV stays loaded)."""
    clear_compiled_windows()
    CACHES.table("calendar pieces").clear()


def bench_compile(args: argparse.Namespace) -> dict[str, Any]:
    uais = thousand_uais(args.seed)
    policy = Policy.national()
    establishments = [Establishment(uai=u) for u in uais]
    calendars = {e.calendar_key for e in establishments}

    def build(with_resolution: bool) -> None:
        for u, e in zip(uais, establishments, strict=True):
            Scheduler(policy, Establishment(uai=u) if with_resolution else e)

    Scheduler(policy, establishments[0])  # load the calendar snapshot once
    results = {}
    for label, reset in (
        ("scheduler_cache_cleared", clear_compiled_windows),
        ("all_caches_cleared", clear_all_caches),
    ):
        times = []
        for _ in range(args.repeat):
            reset()
            gc.collect()
            start = time.perf_counter()
            build(with_resolution=True)
            times.append(time.perf_counter() - start)
        results[label] = min(times)
    warm = best_of(args.repeat, lambda: build(with_resolution=True))[0]
    return {
        "establishments": len(uais),
        "departements": len({u[:3] for u in uais}),
        "distinct_calendars": len(calendars),
        "cold_seconds": results["scheduler_cache_cleared"],
        "fully_cold_seconds": results["all_caches_cleared"],
        "warm_seconds": warm,
    }


# -- report -------------------------------------------------------------------------------------


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}/s"


def report(r: dict[str, Any]) -> str:
    no, de, mem, comp = r["next_open_many"], r["decide"], r["memory"], r["compile"]
    rows = [
        ("`next_open_many` decisions/s", "≥ 1,000,000/s", fmt_rate(no["rate"]), no["rate"] >= 1e6),
        ("speed-up over pandas `CustomBusinessHour.rollforward`", "≥ 30×",
         f"{no['speedup']:,.0f}×", no["speedup"] >= 30),
        ("`next_open_many`, list: ratio to a bare `bisect_right` loop "
         f"({fmt_rate(no['bisect_rate'])})", "≥ 0.85×",
         f"{no['rate'] / no['bisect_rate']:.2f}×", no["rate"] >= 0.85 * no["bisect_rate"]),
        ("`next_open_many`, numpy array in and out", "—", fmt_rate(no["array_rate"]),
         no["array_equals_list"]),
        ("`next_open_many`, array: ratio to bare `numpy.searchsorted` + `where` "
         f"({fmt_rate(no['searchsorted_rate'])})", "≥ 0.8×",
         f"{no['array_rate'] / no['searchsorted_rate']:.2f}×",
         no["array_rate"] >= 0.8 * no["searchsorted_rate"]),
        ("`decide()` on full `Message` objects", "≥ 300,000/s", fmt_rate(de["rate"]),
         de["rate"] >= 3e5),
        (f"compiled windows, {mem['years']:.0f} years, `nbytes()` (all audiences)", "≤ 2 MB",
         f"{mem['nbytes_all'] / MB:.2f} MB", mem["nbytes_all"] <= 2 * MB),
        (f"compiled windows, {mem['years']:.0f} years, tracemalloc retained", "≤ 2 MB",
         f"{mem['tracemalloc_retained'] / MB:.2f} MB", mem["tracemalloc_retained"] <= 2 * MB),
        ("compiling 1,000 establishments (compiled windows cleared)", "≤ 2 s",
         f"{comp['cold_seconds']:.3f} s", comp["cold_seconds"] <= 2),
    ]  # fmt: skip
    lines = [
        "| measure | target | measured | pass |",
        "|---|---|---|---|",
        *(f"| {m} | {t} | {v} | {'yes' if ok else '**NO**'} |" for m, t, v, ok in rows),
    ]
    notes = [
        "",
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{r['cpus']} CPU(s); best of {r['repeat']} runs.",
        f"- next_open_many: {no['n']:,} random instants, Zone C, 2024-09-01..2027-08-31 "
        f"(three school years), {no['seconds']:.3f} s "
        f"(runs: {', '.join(f'{t:.3f}' for t in no['runs'])}).",
        f"- pandas {r['pandas_version']}: rollforward timed on a sample of "
        f"{no['pandas_sample']:,} of the same instants ({no['pandas_seconds']:.2f} s, "
        f"{fmt_rate(no['pandas_rate'])}), extrapolated to {no['n']:,}: "
        f"{no['pandas_extrapolated_seconds']:.0f} s. Timestamps built outside the timing; "
        f"{no['holidays_given_to_pandas']} holiday dates (public + school, from the same "
        "calendar).",
        f"- agreement on the sample: {no['mismatches']} mismatch(es)"
        + (
            "."
            if not no["mismatches"]
            else ": "
            + "; ".join(
                f"{x['instant']} → ours {x['deconnexion']}, pandas {x['pandas']}"
                for x in no["mismatch_examples"]
            )
        ),
        f"- floors: numpy {no['numpy_version']}; the array answer equals the list answer: "
        f"{'yes' if no['array_equals_list'] else '**NO**'}.",
        f"- decide: {de['n']:,} messages (every kind, audience and role; 5 % urgent), "
        f"{de['held_share']:.0%} held.",
        f"- memory: {mem['span']} ({mem['years']:.1f} years), {mem['bounds']:,} bounds per "
        f"audience, {mem['distinct_windows']} distinct compiled calendars (students and parents "
        f"share one); nbytes one audience {mem['nbytes_one_audience'] / 1024:.0f} KiB; "
        f"tracemalloc peak while compiling {mem['tracemalloc_peak'] / MB:.2f} MB.",
        f"- compile: {comp['establishments']} well-formed UAIs (valid check letter, not looked "
        f"up in the annuaire) over {comp['departements']} département prefixes, "
        f"{comp['distinct_calendars']} distinct calendars; with every cache cleared (holidays "
        f"and snapshot parsing too): {comp['fully_cold_seconds']:.3f} s; warm: "
        f"{comp['warm_seconds']:.3f} s.",
    ]
    return "\n".join(lines + notes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="instants for next_open_many")
    parser.add_argument("--pandas-sample", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20251219)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    import pandas as pd

    s = Scheduler(Policy.national(), Establishment(zone="C"))
    result = {
        "python": platform.python_version(),
        "pandas_version": pd.__version__,
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "next_open_many": bench_next_open(s, args),
        "decide": bench_decide(s, args),
        "memory": bench_memory(),
        "compile": bench_compile(args),
    }
    result["median_next_open_rate"] = args.n / statistics.median(result["next_open_many"]["runs"])
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
