"""Fixtures of the writer tests."""

from __future__ import annotations

from tests.writers._pg import NewDatabase, pg_database

__all__ = ["NewDatabase", "pg_database"]
