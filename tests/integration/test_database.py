"""What must hold on SQLite and PostgreSQL alike."""

from __future__ import annotations

from storage.database import Database


def test_a_postgresql_url_as_psql_writes_it_is_served_by_asyncpg() -> None:
    assert Database("postgresql://opendoor@db.bureau.example/opendoor").engine.dialect.driver == "asyncpg"
