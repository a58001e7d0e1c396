"""`python -m examples.simulator` and `deconnexion simulate`: run, summarize, write the report."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

__all__ = ["build_parser", "simulate_main"]

DEFAULT_REPORT = "out/rapport-simulation.html"
DEFAULT_STORE = "sqlite:///out/simulation.db"


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"date {text!r}: expected YYYY-MM-DD, e.g. 2025-10-06"
        ) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number > 0")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number ≥ 0")
    return value


def build_parser(prog: str = "python -m examples.simulator") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Simulate ENT traffic through the real scheduler, hold queue and release "
        "worker on a simulated clock; print a summary and write an HTML report (in French).",
    )
    where = p.add_argument_group("traffic")
    where.add_argument("--zone", default="C", help="zone or territory of the generated "
                       "collèges: A, B, C, Corse, Réunion, … (default C)")  # fmt: skip
    where.add_argument("--uai", action="append", default=[], metavar="UAI",
                       help="simulate this establishment (repeat for several); overrides "
                       "--zone and --establishments")  # fmt: skip
    where.add_argument("--start", type=_date, default=date(2025, 10, 6),
                       help="first day (default 2025-10-06)")  # fmt: skip
    where.add_argument("--end", type=_date, default=date(2025, 11, 16),
                       help="last day, inclusive (default 2025-11-16)")  # fmt: skip
    where.add_argument("--establishments", type=_positive_int, default=1,
                       help="number of collèges (default 1)")  # fmt: skip
    where.add_argument("--messages", type=_positive_int, default=6000,
                       help="number of messages in all (default 6000)")  # fmt: skip
    where.add_argument("--seed", type=int, default=2025, help="random seed (default 2025)")
    where.add_argument("--policy", metavar="FILE", help="policy file (.toml or .json); "
                       "default: the national rule")  # fmt: skip
    run = p.add_argument_group("queue and worker")
    run.add_argument("--store", default=DEFAULT_STORE, metavar="URL",
                     help=f"hold store (default {DEFAULT_STORE}; postgresql://… works too); "
                     "it must be empty")  # fmt: skip
    run.add_argument("--spread", type=_non_negative, default=15.0, metavar="MINUTES",
                     help="storm smoothing: spread each backlog over this many minutes "
                     "(default 15; 0 turns smoothing off)")  # fmt: skip
    run.add_argument("--max-rate", type=float, default=None, metavar="PER_SECOND",
                     help="storm smoothing: at most this many sends per second")  # fmt: skip
    run.add_argument("--digest", action="store_true",
                     help="merge each recipient's held messages into one digest")  # fmt: skip
    run.add_argument("--resolution", type=_non_negative, default=0.0, metavar="SECONDS",
                     help="run the worker at most this often (simulated seconds, never across "
                     "a window boundary); 0 = at every due instant (default)")  # fmt: skip
    out = p.add_argument_group("output")
    out.add_argument("--report", default=DEFAULT_REPORT, metavar="FILE",
                     help=f"HTML report (default {DEFAULT_REPORT}); '-' for none")  # fmt: skip
    out.add_argument("--json", action="store_true", help="print the summary as JSON")
    out.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def simulate_main(argv: Sequence[str] | None = None, prog: str = "deconnexion simulate") -> int:
    """Exit 0 when every check holds (nothing in a quiet window, each held message released
    once, counts equal to the store's), 1 otherwise, 2 on bad input."""
    from deconnexion.core.policy import Policy
    from deconnexion.errors import DeconnexionError

    from .report import write_report
    from .run import RunOptions, simulate
    from .summary import summarize, to_text
    from .traffic import TrafficConfig

    args = build_parser(prog).parse_args(argv)
    if args.end < args.start:
        print(f"{prog}: --end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    try:
        policy = Policy.from_file(args.policy) if args.policy else Policy.national()
        config = TrafficConfig(
            zone=args.zone,
            uais=tuple(args.uai),
            start=args.start,
            end=args.end,
            establishments=args.establishments,
            messages=args.messages,
            seed=args.seed,
        )
        options = RunOptions(
            store_url=args.store,
            spread_seconds=args.spread * 60 if args.spread else None,
            max_rate=args.max_rate,
            digest=args.digest,
            resolution=args.resolution,
        )
        result = simulate(config, policy, options, progress=False if args.quiet else None)
    except DeconnexionError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    summary = summarize(result)
    report = None
    if args.report != "-":
        report = write_report(result, summary, args.report)
    if args.json:
        if report is not None:
            summary["report"] = str(report)
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(to_text(summary))
        if report is not None:
            print(f"Rapport : {Path(report).resolve()}")
    return 0 if summary["ok"] else 1
