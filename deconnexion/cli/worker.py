"""`deconnexion worker`: run the release worker from the command line.

    deconnexion worker --store sqlite:///held.db --deliver webhook:https://ent.example.fr/hook
    deconnexion worker --store postgresql://app@db/ent --deliver log: --max-rate 200 --spread 15m
    deconnexion worker --store sqlite:///held.db --deliver null: --once

SIGTERM and SIGINT stop it cleanly: deliveries in flight finish, the rest of the batch is given
back to the store. Exit status 0 on a clean stop, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
from collections.abc import Sequence

from deconnexion.cli.env import apply_env
from deconnexion.core.policy import Policy
from deconnexion.errors import DeconnexionError, InvalidInputError
from deconnexion.release.deliver import DELIVER_SPECS, parse_deliver_spec
from deconnexion.release.follow import SchedulerLookup
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store import open_store

__all__ = ["build_parser", "parse_duration", "worker_main"]

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*$")


def parse_duration(text: str, field: str = "duration") -> float:
    """'15m', '900', '90s', '1h', '1.5h' → seconds."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise InvalidInputError(
            f"{field}: cannot read {text!r} as a duration; expected e.g. 15m, 900s, 1h"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or ""]


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def build_parser(prog: str = "deconnexion worker") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Release held messages when they are due and deliver them. Each --option "
        "defaults to $DECONNEXION_OPTION (e.g. --max-rate: $DECONNEXION_MAX_RATE).",
    )
    p.add_argument("--store", help="store URL: sqlite:///held.db, postgresql://…")
    p.add_argument("--deliver", required=True, help=f"where to deliver: {DELIVER_SPECS}")
    p.add_argument("--batch-size", type=int, default=500, help="messages per claim (500)")
    p.add_argument("--lease", default="60s", help="lease of a claimed batch (60s)")
    p.add_argument("--max-attempts", type=int, default=8, help="tries before dead letter (8)")
    p.add_argument("--max-rate", type=float, help="at most this many deliveries per second")
    p.add_argument("--spread", help="spread a backlog over this window, e.g. 15m")
    p.add_argument("--digest", action="store_true", help="one digest per recipient and batch")
    p.add_argument("--concurrency", type=int, default=32, help="deliveries in flight (32)")
    p.add_argument("--timeout", default="10s", help="webhook timeout (10s)")
    p.add_argument(
        "--header",
        action="append",
        type=_header,
        default=[],
        metavar="'NAME: VALUE'",
        help="extra webhook header, repeatable (e.g. an Authorization token)",
    )
    p.add_argument(
        "--policy",
        metavar="FILE",
        help="policy file the messages were held under (.toml or .json; default: national): "
        "a parents' grade goes the policy's delay after the students' actual delivery",
    )
    p.add_argument("--worker-id", help="name in leases and audit rows (host:pid:random)")
    p.add_argument("--once", action="store_true", help="release what is due now, then exit")
    p.add_argument(
        "--heartbeat-file",
        metavar="PATH",
        help="rewrite this JSON file at most once a second while alive "
        "(read by `deconnexion gateway --no-worker --heartbeat-file PATH` for /health)",
    )
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (INFO)")
    return apply_env(p)


async def _serve(worker: ReleaseWorker, once: bool) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, worker.stop)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            pass
    await worker.run(drain=once)


def worker_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `deconnexion worker`; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=str(args.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.store:
        parser.error("--store is required (or set DECONNEXION_STORE)")
    try:
        deliverer = parse_deliver_spec(
            args.deliver,
            timeout=parse_duration(args.timeout, "--timeout"),
            headers=dict(args.header),
        )
        policy = Policy.from_file(args.policy) if args.policy else Policy.national()
        store = open_store(args.store)
    except DeconnexionError as exc:
        print(f"deconnexion worker: {exc}", file=sys.stderr)
        return 2
    try:
        worker = ReleaseWorker(
            store,
            deliverer,
            batch_size=args.batch_size,
            lease_seconds=parse_duration(args.lease, "--lease"),
            max_attempts=args.max_attempts,
            max_rate=args.max_rate,
            spread_seconds=parse_duration(args.spread, "--spread") if args.spread else None,
            digest=args.digest,
            concurrency=args.concurrency,
            worker_id=args.worker_id,
            heartbeat_file=args.heartbeat_file,
            schedulers=SchedulerLookup(policy),
        )
        asyncio.run(_serve(worker, args.once))
    except InvalidInputError as exc:
        print(f"deconnexion worker: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
