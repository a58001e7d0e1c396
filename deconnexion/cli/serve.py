"""`deconnexion serve`: the decision service (deconnexion/web/decide.py) on uvicorn.

    deconnexion serve [--host 127.0.0.1] [--port 8040] [--policy FILE]

The parser needs no extra, so `--help` works without `[asgi]`; serving needs starlette's
companions anyio and uvicorn, and says `pip install 'deconnexion[asgi]'` when they are missing.
Argument errors are structured like every command's (`--json`).
"""

from __future__ import annotations

from collections.abc import Sequence

from deconnexion.cli.parser import ArgumentParser
from deconnexion.errors import MissingExtraError

__all__ = ["build_parser", "serve_main"]

_ASGI = ("starlette", "httpx", "uvicorn", "anyio")


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="deconnexion serve",
        description="Serve deconnexion decisions over HTTP: POST /v1/decide, POST /v1/check, "
        "GET /v1/windows, GET /openapi.json (needs pip install 'deconnexion[asgi]').",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8040)
    p.add_argument("--policy", metavar="FILE", help="policy .toml/.json (default: national)")
    p.add_argument(
        "--log-level", default="info", type=str.lower, choices=["debug", "info", "warning", "error"]
    )
    p.add_argument("--json", action="store_true", help="errors as JSON on stdout")
    return p


def serve_main(argv: Sequence[str]) -> int:
    """`deconnexion serve …`: the decision service until interrupted."""
    args = build_parser().parse_args(list(argv))
    try:
        import uvicorn

        from deconnexion.web.decide import DecisionService
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in _ASGI:
            raise MissingExtraError("asgi", exc.name) from None
        raise
    from deconnexion.core.policy import Policy

    policy = Policy.from_file(args.policy) if args.policy else Policy.national()
    app = DecisionService(policy)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, lifespan="on")
    return 0
