"""`deconnexion gateway`: the HTTP gateway from the command line (or the environment).

    deconnexion gateway --upstream http://127.0.0.1:8080 --policy policy.toml \\
        --store sqlite:///held.db --routes routes.toml [--host 127.0.0.1 --port 8000]

Every option may come from the environment (`DECONNEXION_UPSTREAM`, `DECONNEXION_STORE`, …,
see `deconnexion.cli.env`); the signing secret is read from `$DECONNEXION_SECRET`. The parser
needs no extra, so `--help` works without `[asgi]`; serving loads starlette, httpx and uvicorn.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from deconnexion.cli.env import apply_env
from deconnexion.errors import InvalidInputError, MissingExtraError

__all__ = ["build_parser", "gateway_main"]

_ASGI = ("starlette", "httpx", "uvicorn", "anyio")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deconnexion gateway",
        description="Serve the deconnexion gate in front of a notification service "
        "(needs pip install 'deconnexion[asgi]'). Each --option defaults to "
        "$DECONNEXION_OPTION (e.g. --upstream: $DECONNEXION_UPSTREAM).",
    )
    p.add_argument("--upstream", required=True, metavar="URL", help="e.g. http://127.0.0.1:8080")
    p.add_argument("--policy", metavar="FILE", help="policy .toml/.json (default: national)")
    p.add_argument("--store", required=True, metavar="URL", help="e.g. sqlite:///held.db")
    p.add_argument("--routes", required=True, metavar="FILE", help="gated routes .toml/.json")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--secret-env",
        default="DECONNEXION_SECRET",
        metavar="VAR",
        help="environment variable holding the Deconnexion-Sender signing secret",
    )
    p.add_argument(
        "--metrics-token-env",
        default="DECONNEXION_METRICS_TOKEN",
        metavar="VAR",
        help="environment variable holding the bearer token of /_deconnexion/metrics for "
        "every establishment (unset: only heads, each her own establishment's)",
    )
    p.add_argument("--no-worker", action="store_true", help="do not release (another does)")
    p.add_argument(
        "--heartbeat-file",
        metavar="PATH",
        help="the worker's heartbeat file: written by the embedded worker, read by /health "
        "with --no-worker (the same file as `deconnexion worker --heartbeat-file`)",
    )
    p.add_argument(
        "--log-level", default="info", type=str.lower, choices=["debug", "info", "warning", "error"]
    )
    return apply_env(p)


def gateway_main(argv: Sequence[str]) -> int:
    """`deconnexion gateway …`: validate everything, then serve until interrupted."""
    args = build_parser().parse_args(list(argv))
    try:
        import uvicorn  # noqa: F401  (checked before anything is opened)

        from deconnexion.web.gateway import serve
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in _ASGI:
            raise MissingExtraError("asgi", exc.name) from None
        raise
    if not args.secret_env:
        raise InvalidInputError("--secret-env: empty; expected an environment variable name")
    return serve(args)
