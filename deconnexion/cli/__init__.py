"""The `deconnexion` command line: JSON with `--json`, for software that is not Python.

Exit codes: 0 success, 1 failure (audit failed, store unusable), 2 bad input (the message names
the field, the value and what is accepted), 3 strict mode without an official calendar.
`check --exit-status` exits 0 when open and 1 when quiet. With `--json`, every error is printed
on stdout as `{"error": {"code", "field", "value", "accepted", "message"}}`, argument errors
included. `check --stdin` and `release --stdin` answer JSON lines (deconnexion/cli/batch.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from deconnexion.cli.parser import ArgumentParser, UsageError
from deconnexion.core.message import Audience, Kind, SenderRole
from deconnexion.errors import (
    CalendarUnknownError,
    DeconnexionError,
    InvalidInputError,
    MissingExtraError,
)

__all__ = ["main"]

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_UNKNOWN_CALENDAR = 0, 1, 2, 3
EXIT_QUIET = 1  # `check --exit-status`: the instant is quiet
WHERE = ("zone", "academie", "departement", "uai")


def _where(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--zone", help="A, B, C, Corse, Guadeloupe, Réunion, … (forgiving)")
    group.add_argument("--academie", help="e.g. Paris, Aix-Marseille, Normandie")
    group.add_argument("--departement", help="e.g. 75, 067, 2A, 974")
    group.add_argument("--uai", help="establishment code, e.g. 0750001A")
    parser.add_argument("--policy", metavar="FILE", help="policy file (.toml or .json)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _audience(parser: argparse.ArgumentParser, required: bool = False) -> None:
    names = ", ".join(a.value for a in Audience)
    parser.add_argument(
        "--audience",
        default=None if required else Audience.STUDENTS.value,
        help=f"one of {names}" + ("" if required else " (default students)"),
    )


def _stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stdin",
        action="store_true",
        help="answer JSON lines read on stdin, one request per line (fields as the flags)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="with --stdin: processes answering a big input (default: one per core; 1: one "
        "process)",
    )


def _policy(args: argparse.Namespace) -> Any:
    from deconnexion.core.policy import Policy

    return Policy.from_file(args.policy) if args.policy else Policy.national()


def _request(model: type[Any], args: argparse.Namespace, fields: dict[str, Any]) -> Any:
    """The flags as the JSON request a batch line or the decision service would send, checked
    by the same model (one validation for every caller)."""
    from pydantic import ValidationError

    from deconnexion.core.requests import invalid_request

    data = {k: v for k, v in fields.items() if v is not None}
    data.update({k: getattr(args, k) for k in WHERE if getattr(args, k) is not None})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_request(exc, model) from None


def _batch(args: argparse.Namespace, command: str) -> int:
    given = [k for k in (*WHERE, "created", "kind") if getattr(args, k, None)]
    if getattr(args, "instant", "now") != "now":  # check's INSTANT defaults to now
        given.append("instant")
    if given:
        raise UsageError(
            f"--stdin reads every field from the JSON lines; do not also give --{given[0]}",
            field=given[0],
            accepted="--stdin with only --policy",
            code="conflicting_arguments",
        )
    if args.workers is not None and args.workers < 1:
        raise UsageError(
            f"--workers {args.workers}: at least one process answers",
            field="workers",
            value=args.workers,
            accepted="a whole number of at least 1",
        )
    from deconnexion.cli.batch import answer_lines

    return answer_lines(
        command, _policy(args), sys.stdin.buffer, sys.stdout.buffer, workers=args.workers
    )


# -- commands --------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    if args.stdin:
        if args.exit_status:
            raise UsageError("--exit-status answers one instant; not with --stdin", field="stdin")
        return _batch(args, "check")
    from deconnexion.core.requests import CheckRequest, Schedulers, answer_check

    request = _request(CheckRequest, args, {"instant": args.instant, "audience": args.audience})
    sched = Schedulers(_policy(args)).get(request)
    out = answer_check(sched, request)
    if args.json:
        _print_json(out)
    else:
        state = "calme (pas de diffusion)" if out["quiet"] else "ouvert"
        print(f"{out['instant']}  {state}")
        if out["quiet"]:
            print(f"prochaine ouverture : {out['next_open']}")
            for r in out["reasons"]:
                print(f"  - {r['code']}: {r['label_fr']} / {r['label_en']}")
        print(f"calendrier : {out['provenance']} ({out['timezone']})")
    if args.exit_status and out["quiet"]:
        return EXIT_QUIET
    return EXIT_OK


def cmd_release(args: argparse.Namespace) -> int:
    if args.stdin:
        return _batch(args, "release")
    from deconnexion.core.requests import ReleaseRequest, Schedulers, release_message

    fields = {
        "created": args.created,
        "kind": args.kind,
        "audience": args.audience,
        "sender_role": args.sender_role,
        "urgent": args.urgent,
        "justification": args.justification,
        "publish_to_students_at": args.publish_to_students_at,
    }
    request = _request(ReleaseRequest, args, fields)
    decision = Schedulers(_policy(args)).get(request).decide(release_message(request))
    out = decision.to_dict()
    if args.json:
        _print_json(out)
    else:
        print(decision.explanation_fr())
        print(f"release_at: {out['release_at']}  reasons: {', '.join(decision.codes) or '-'}")
        if decision.students_release_at is not None:
            print(f"students_release_at: {out['students_release_at']}")
    return EXIT_OK


def cmd_windows(args: argparse.Namespace) -> int:
    from deconnexion.core.requests import Schedulers, WindowsRequest, answer_windows

    fields = {"from": args.date_from, "to": args.date_to, "audience": args.audience}
    request = _request(WindowsRequest, args, fields)
    out = answer_windows(Schedulers(_policy(args)).get(request), request)
    if args.json:
        _print_json(out)
    else:
        for w in out["windows"]:
            labels = ", ".join(r["label_fr"] for r in w["reasons"])
            print(f"{w['start']}  →  {w['end']}  {labels}")
    return EXIT_OK


def cmd_calendar_import(args: argparse.Namespace) -> int:
    from deconnexion.core.calendar_data import import_calendar
    from deconnexion.core.scheduler import clear_cache

    target, calendar = import_calendar(args.file, args.data_dir)
    clear_cache()
    zones = {z: list(calendar.school_years(z)) for z in calendar.zones()}
    out = {"installed": str(target), "zones": zones, "periods": len(calendar.periods)}
    if args.json:
        _print_json(out)
    else:
        print(f"calendrier installé : {target} ({out['periods']} périodes)")
        for z, years in zones.items():
            print(f"  {z}: {years[0]} → {years[-1]}")
        print(
            "Les messages déjà retenus gardent leur heure : `deconnexion reschedule --store URL`"
            " les recalcule."
        )
    return EXIT_OK


def cmd_calendar_info(args: argparse.Namespace) -> int:
    from deconnexion.core.calendar import HORIZON_END, HORIZON_START, SCHOOL_OFFICIAL_UNTIL
    from deconnexion.core.calendar_data import SchoolCalendar, active_calendar_path

    cal = SchoolCalendar.default()
    zones = {
        z: {
            "school_years": list(cal.school_years(z)),
            "official_until": (cal.known_until(z) or HORIZON_START).isoformat(),
        }
        for z in cal.zones()
    }
    out = {
        "source": str(active_calendar_path()),
        "horizon": [HORIZON_START.isoformat(), HORIZON_END.isoformat()],
        "holidays_school_official_until": SCHOOL_OFFICIAL_UNTIL.isoformat(),
        "zones": zones,
    }
    if args.json:
        _print_json(out)
    else:
        print(f"source : {out['source']}")
        for z, info in zones.items():
            print(f"  {z:<26} officiel jusqu'au {info['official_until']}")
    return EXIT_OK


def establishment_of_key(key: str) -> Any:
    """The Establishment a tenant key names (see `deconnexion.release.follow`)."""
    from deconnexion.release.follow import establishment_of_key as of_key

    return of_key(key)


def cmd_reschedule(args: argparse.Namespace) -> int:
    """Recompute the release time of every held message (after a calendar import, a closure
    added to the policy…). Each message is decided again under the policy it was held under,
    as the store recorded it; `--policy FILE` decides them all under that policy instead.
    Messages with no recorded policy and no `--policy`: refused, nothing changed."""
    from deconnexion.core.policy import Policy
    from deconnexion.core.scheduler import Scheduler
    from deconnexion.errors import PolicyNotRecordedError
    from deconnexion.hold.queue import HoldQueue
    from deconnexion.store import open_store

    policy = Policy.from_file(args.policy) if args.policy else None
    store = open_store(args.store)
    try:
        queue = HoldQueue(store)
        keys = store.establishments_with_held()
        if policy is None:  # refuse before changing anything
            unrecorded = {k: n for k in keys if (n := store.held_policies(k).get(None, 0))}
            if unrecorded:
                listed = ", ".join(f"{k}: {n}" for k, n in unrecorded.items())
                raise PolicyNotRecordedError(
                    f"held messages with no recorded policy ({listed}): they were held before "
                    "deconnexion recorded policies; run again with --policy FILE naming the "
                    "policy they were held under (nothing was changed)"
                )
        changed: dict[str, int] = {}
        for key in keys:
            establishment = establishment_of_key(key)
            scheduler = None if policy is None else Scheduler(policy, establishment)
            changed[key] = queue.reschedule(
                establishment, scheduler, actor="deconnexion reschedule"
            )
    finally:
        store.close()
    if args.json:
        _print_json({"rescheduled": changed, "total": sum(changed.values())})
    else:
        for key, count in changed.items():
            print(f"{key}: {count} message(s) recalculé(s)")
        print(f"total : {sum(changed.values())}")
    return EXIT_OK


def _delegate(module: str, function: str, extra: str | None = None) -> Callable[[list[str]], int]:
    def run(argv: list[str]) -> int:
        import importlib

        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if extra and exc.name and not exc.name.startswith(("deconnexion", "examples")):
                raise MissingExtraError(extra, exc.name) from None
            raise
        result: int = getattr(mod, function)(argv)
        return result

    return run


# Commands with their own argument parsers, in their own modules (edges load lazily).
DELEGATED: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "worker": (_delegate("deconnexion.cli.worker", "worker_main"), "run the release worker"),
    "gateway": (
        _delegate("deconnexion.cli.gateway", "gateway_main"),
        "serve the HTTP gateway",
    ),
    "audit": (_delegate("deconnexion.cli.audit", "audit_main"), "check a policy against the law"),
    "simulate": (_delegate("deconnexion.cli.simulate", "simulate_main"), "run the simulator"),
    "serve": (
        _delegate("deconnexion.cli.serve", "serve_main"),
        "serve the decision service (check, release, windows over HTTP)",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="deconnexion",
        description="Droit à la déconnexion for French school software.",
        epilog="Also: " + "; ".join(f"{k} ({v[1]})" for k, v in DELEGATED.items()),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="is this instant quiet, and when does it open?")
    p.add_argument(
        "instant", nargs="?", default="now", metavar="INSTANT", help="ISO 8601 with offset, or now"
    )
    _where(p)
    _audience(p)
    p.add_argument("--exit-status", action="store_true", help="exit 0 when open, 1 when quiet")
    _stdin(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("release", help="when may this message be released, and why?")
    p.add_argument("--created", metavar="INSTANT", help="ISO 8601 with offset (default: now)")
    p.add_argument("--kind", help="one of " + ", ".join(k.value for k in Kind))
    _audience(p, required=True)
    p.add_argument(
        "--sender-role",
        help="one of " + ", ".join(r.value for r in SenderRole) + " (default system)",
    )
    p.add_argument("--urgent", action="store_true")
    p.add_argument("--justification")
    p.add_argument("--publish-to-students-at", metavar="INSTANT")
    _where(p)
    _stdin(p)
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("windows", help="list quiet windows with their reasons")
    p.add_argument("--from", dest="date_from", metavar="DATE")
    p.add_argument("--to", dest="date_to", metavar="DATE")
    _audience(p)
    _where(p)
    p.set_defaults(func=cmd_windows)

    p = sub.add_parser("calendar", help="the official school calendar")
    csub = p.add_subparsers(dest="calendar_command", required=True, metavar="ACTION")
    c = csub.add_parser("import", help="install a newer export of fr-en-calendrier-scolaire")
    c.add_argument("file", metavar="FILE.csv")
    c.add_argument("--data-dir", help="where to install it (default $DECONNEXION_DATA_DIR)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_calendar_import)
    c = csub.add_parser("info", help="which calendar is active and what it covers")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_calendar_info)

    p = sub.add_parser("reschedule", help="recompute held messages after a calendar change")
    p.add_argument("--store", required=True, metavar="URL", help="e.g. sqlite:///held.db")
    p.add_argument(
        "--policy",
        metavar="FILE",
        help="decide every held message under this policy (.toml or .json); default: the "
        "policy each was held under",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reschedule)
    for name, (_, helptext) in DELEGATED.items():
        sub.add_parser(name, help=helptext, add_help=False)
    return parser


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in args_list
    try:
        if args_list and args_list[0] in DELEGATED:
            return DELEGATED[args_list[0]][0](args_list[1:])
        args = build_parser().parse_args(args_list)
        result: int = args.func(args)
        return result
    except MissingExtraError as exc:
        return _fail(exc, EXIT_FAIL, wants_json)
    except CalendarUnknownError as exc:
        return _fail(exc, EXIT_UNKNOWN_CALENDAR, wants_json)
    except InvalidInputError as exc:
        return _fail(exc, EXIT_INPUT, wants_json)
    except DeconnexionError as exc:
        return _fail(exc, EXIT_FAIL, wants_json)


def _fail(exc: DeconnexionError, code: int, wants_json: bool) -> int:
    usage = getattr(exc, "usage", "")
    print(f"{usage}deconnexion: error: {exc}", file=sys.stderr)
    if wants_json:
        out = exc.to_dict()
        out["exit_code"] = code
        _print_json(out)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
