"""Hold stores: where held messages wait. `open_store(url)` picks one from a URL.

memory://                          in-process, for tests (lost at exit)
sqlite:///held.db                  SQLite file, path relative to the working directory
sqlite:////var/lib/app/held.db     SQLite file, absolute path (four slashes)
sqlite:///:memory:                 SQLite in memory
postgresql://user@host/db          PostgreSQL (needs deconnexion[postgres]);
postgres://…?schema=name           `schema` picks the schema (default "deconnexion")
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from deconnexion.errors import InvalidInputError
from deconnexion.store.base import (
    AUDIT_ACTIONS,
    STATES,
    AuditAction,
    AuditEntry,
    HeldMessage,
    HoldStore,
    InsertOutcome,
    Rescheduled,
    State,
    Stats,
    priority_for,
)
from deconnexion.store.memory import MemoryStore

__all__ = [
    "AUDIT_ACTIONS",
    "STATES",
    "AuditAction",
    "AuditEntry",
    "HeldMessage",
    "HoldStore",
    "InsertOutcome",
    "MemoryStore",
    "Rescheduled",
    "State",
    "Stats",
    "open_store",
    "priority_for",
]

ACCEPTED_SCHEMES = (
    "memory://, sqlite:///path/held.db, sqlite:///:memory:, postgresql://…, postgres://…"
)


def open_store(url: str) -> HoldStore:
    """Open (creating or migrating if needed) the store named by `url`."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInputError(
            f"store URL: cannot read {url!r}; expected one of {ACCEPTED_SCHEMES}"
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        from deconnexion.store.sqlite import SQLiteStore

        path = url.split("://", 1)[1]
        if not path.startswith("/") or path == "/":
            raise InvalidInputError(
                f"store URL: {url!r} has no file path; expected sqlite:///relative/held.db, "
                "sqlite:////absolute/held.db or sqlite:///:memory:"
            )
        return SQLiteStore(path[1:])
    if scheme in ("postgresql", "postgres"):
        dsn, schema = _split_schema(url)
        from deconnexion.store.postgres import (
            PostgresStore,  # raises MissingExtraError without psycopg
        )

        return PostgresStore(dsn, schema=schema)
    raise InvalidInputError(
        f"store URL: unknown scheme {scheme!r} in {url!r}; expected one of {ACCEPTED_SCHEMES}"
    )


def _split_schema(url: str) -> tuple[str, str]:
    """Take our own `schema` query parameter out; libpq refuses unknown parameters."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = "deconnexion"
    kept = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), schema
