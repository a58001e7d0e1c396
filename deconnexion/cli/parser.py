"""An `argparse.ArgumentParser` that raises instead of exiting, so that a bad argument is an
error like any other: exit code 2, and with `--json` a structured `{"error": {...}}` on stdout.
"""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

from deconnexion.errors import InvalidInputError

__all__ = ["ArgumentParser", "UsageError", "flag_to_field"]


class UsageError(InvalidInputError):
    """The command line itself is wrong (unknown option, missing argument, bad choice)."""

    code = "invalid_argument"
    usage = ""


def flag_to_field(flag: str) -> str:
    """`--sender-role` → `sender_role`: the name the same value has in a JSON request."""
    return flag.split("/")[0].strip().lstrip("-").replace("-", "_").lower()


# argparse's own wording (CPython 3.11–3.13), read back into field, value and what is accepted.
_CHOICE = re.compile(
    r"argument (?P<arg>\S+): invalid choice: (?P<value>.+?) \(choose from (?P<acc>.*)\)"
)
_REQUIRED = re.compile(r"the following arguments are required: (?P<args>.+)")
_ONE_OF = re.compile(r"one of the arguments (?P<args>.+) is required")
_NOT_WITH = re.compile(r"argument (?P<arg>\S+): not allowed with argument (?P<other>\S+)")
_EXPECTED = re.compile(r"argument (?P<arg>\S+): expected one argument")
_INVALID = re.compile(r"argument (?P<arg>\S+): invalid (?P<type>\w+) value: '(?P<value>.*)'")
_UNKNOWN = re.compile(r"unrecognized arguments: (?P<args>.+)")


def _usage_error(message: str) -> UsageError:
    if m := _CHOICE.match(message):
        accepted = "one of " + m["acc"].replace("'", "")
        value = m["value"].strip("'")
        return UsageError(
            message,
            field=flag_to_field(m["arg"]),
            value=value,
            accepted=accepted,
            code="invalid_choice",
        )
    if m := _REQUIRED.match(message) or _ONE_OF.match(message):
        args = m["args"].replace(",", " ").split()
        one_of = "one of " + ", ".join(args) if _ONE_OF.match(message) else None
        return UsageError(
            message, field=flag_to_field(args[0]), accepted=one_of, code="missing_field"
        )
    if m := _NOT_WITH.match(message):
        return UsageError(
            message,
            field=flag_to_field(m["arg"]),
            accepted=f"not with {m['other']}",
            code="conflicting_arguments",
        )
    if m := _EXPECTED.match(message):
        return UsageError(
            message, field=flag_to_field(m["arg"]), accepted="one value", code="missing_value"
        )
    if m := _INVALID.match(message):
        field, accepted = flag_to_field(m["arg"]), f"a value of type {m['type']}"
        return UsageError(message, field=field, value=m["value"], accepted=accepted)
    if m := _UNKNOWN.match(message):
        first = m["args"].split()[0]
        return UsageError(message, value=first, code="unknown_argument")
    return UsageError(message)


class ArgumentParser(argparse.ArgumentParser):
    """Raises `UsageError` where argparse would print usage and exit 2 (`--help` still exits 0)."""

    def error(self, message: str) -> NoReturn:
        exc = _usage_error(message)
        exc.usage = self.format_usage()
        raise exc
