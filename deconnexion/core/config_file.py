"""Read a TOML or JSON configuration file (policy, routes) into a dict, errors naming the file."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from deconnexion.errors import InvalidInputError

__all__ = ["load_mapping"]


def load_mapping(
    path: str | Path, what: str = "file", error: type[InvalidInputError] = InvalidInputError
) -> dict[str, Any]:
    """The top-level table of a `.toml` or `.json` file; `error` is raised naming `what`."""
    p = Path(path)
    name = f"{what} {str(p)!r}"
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise error(f"{name}: cannot read it ({exc.strerror})") from None
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise error(f"{name}: unknown extension {suffix!r}; expected .toml or .json")
    try:
        data = tomllib.loads(raw.decode("utf-8")) if suffix == ".toml" else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{name}: not valid {suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{name}: expected a table/object at the top level")
    return data
