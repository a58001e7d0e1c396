"""Every option of a long-running command may come from the environment (systemd, containers).

`DECONNEXION_<OPTION>` is the default of `--<option>` (`--max-rate` ← `DECONNEXION_MAX_RATE`);
a flag on the command line wins. The value is parsed as if typed after the flag; on/off
options take 1/true/yes/on or 0/false/no/off. `env_table` lists them for the README.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from deconnexion.errors import InvalidInputError

__all__ = ["PREFIX", "apply_env", "env_name", "env_table"]

PREFIX = "DECONNEXION_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_name(action: argparse.Action) -> str:
    """`--max-rate` → `DECONNEXION_MAX_RATE`."""
    return PREFIX + action.option_strings[-1].lstrip("-").replace("-", "_").upper()


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions  # argparse has no public list of its actions
        if a.option_strings and not isinstance(a, argparse._HelpAction) and a.dest != "help"
    ]


def apply_env(
    parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None
) -> argparse.ArgumentParser:
    """Make each option default to its environment variable, when that is set."""
    env = os.environ if environ is None else environ
    for action in _options(parser):
        name = env_name(action)
        raw = env.get(name)
        if raw is None:
            continue
        if isinstance(action, argparse._StoreTrueAction):
            action.default = _flag(name, raw)
        elif isinstance(action, argparse._AppendAction):
            convert = action.type if callable(action.type) else str
            action.default = [convert(v) for v in _lines(raw)]
        else:
            action.default = raw  # argparse parses a string default like a typed value
        action.required = False
    return parser


def env_table(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """(variable, flag) for each option of `parser`."""
    return [(env_name(a), a.option_strings[-1]) for a in _options(parser)]


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInputError(f"{name}: {raw!r} is not on/off; expected 1, true, yes, on, 0, …")


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]
