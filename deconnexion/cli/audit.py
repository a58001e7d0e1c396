"""`deconnexion audit POLICY_FILE [--routes FILE] [--json]`: the conformance audit
(`deconnexion.core.audit.audit_policy`) from the command line, as a text or JSON report."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from deconnexion.cli.parser import ArgumentParser
from deconnexion.core.audit import audit_policy
from deconnexion.core.config_file import load_mapping
from deconnexion.errors import PolicyError

__all__ = ["audit_main"]


def _load(path: str, what: str = "policy file") -> dict[str, Any]:
    return load_mapping(path, what, PolicyError)


def audit_main(argv: Sequence[str] | None = None) -> int:
    """`deconnexion audit POLICY_FILE [--routes FILE] [--json]`: 0 only if every requirement
    passes, 1 if one fails or is a declared deviation, 2 if a file cannot be read."""
    # Argument errors raise UsageError: `deconnexion` prints them (as JSON with --json).
    parser = ArgumentParser(
        prog="deconnexion audit",
        description="Check a policy file against the national rules, one requirement at a time.",
    )
    parser.add_argument("policy_file", help="policy file (.toml or .json)")
    parser.add_argument(
        "--routes",
        help="routes file (.toml or .json) of the middleware or gateway, to check "
        "that reading and data entry are not gated",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        data = _load(args.policy_file)
        routes = _load(args.routes, "routes file") if args.routes else None
    except PolicyError as exc:
        print(f"deconnexion audit: {exc}", file=sys.stderr)
        if args.json:
            print(json.dumps({**exc.to_dict(), "exit_code": 2}, ensure_ascii=False, indent=2))
        return 2
    report = audit_policy(data, routes, origin=args.policy_file)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(report.to_text())
    return 0 if report.conformant else 1
