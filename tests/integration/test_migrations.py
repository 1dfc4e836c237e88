"""Alembic migrations, on whichever database the run uses (SQLite, or PostgreSQL with --database=postgresql)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.database import Database
from tests.conftest import database_url


def differences(connection: Connection) -> list[Any]:
    """What autogenerate would still write: the schema against the models (empty when they agree)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, SQLModel.metadata)


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migrations_build_the_models_schema_from_empty_take_it_down_and_build_it_again(tmp_path: Path) -> None:
    db = Database(database_url(tmp_path, "migrations", migrated=False))
    try:
        for _ in range(2):
            await db.migrate()
            async with db.engine.connect() as connection:
                assert await connection.run_sync(differences) == []
                assert {"tickets", "outbox", "reminders", "bot_state", "web_sessions"} <= await connection.run_sync(table_names)
            await db.downgrade("base")
            async with db.engine.connect() as connection:
                assert await connection.run_sync(table_names) <= {"alembic_version"}
    finally:
        await db.dispose()


async def test_migrating_an_up_to_date_database_changes_nothing(tmp_path: Path) -> None:
    db = Database(database_url(tmp_path, "migrations", migrated=False))
    try:
        await db.migrate()
        await db.migrate()
        async with db.engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await db.dispose()
