"""Shared fixtures. Store fixtures live in store_fixtures.py (memory / SQLite / PostgreSQL)."""

from __future__ import annotations

from store_fixtures import open_same, pg_schema, store, store_kind  # noqa: F401
