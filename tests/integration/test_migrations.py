"""Alembic migrations, on whichever database the run uses (SQLite, or PostgreSQL with --database=postgresql)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from services.hotline import Attachment, Submission, submit_ticket
from services.runtime import Runtime
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


def row_counts(connection: Connection) -> dict[str, int]:
    return {
        name: connection.execute(select(func.count()).select_from(table)).scalar_one()
        for name, table in SQLModel.metadata.tables.items()
    }


async def test_the_migrations_after_0004_go_down_and_up_again_under_a_database_in_use(runtime: Runtime) -> None:
    # Rows in the tables that refer to tickets too: SQLite recreates a table it alters, under their foreign keys.
    photo = Attachment(kind="photo", source_message_id=7, file_id="P", file_size=123_456, mime_type="image/jpeg")
    for user in (1001, 1002):
        await submit_ticket(
            runtime,
            Submission(
                telegram_user_id=user, chat_id=user, locale="zh", kind="complaint", text="派出所一直有案不立。",
                contact_name="王女士", contact_phone="138 0000 0000", attachments=(photo,),
            ),
        )
    async with runtime.db.engine.connect() as connection:
        before = await connection.run_sync(row_counts)
    assert before["tickets"] == 2 and before["attachments"] == 2 and before["ticket_events"] > 0

    await runtime.db.downgrade("0004")
    await runtime.db.migrate()

    async with runtime.db.engine.connect() as connection:
        assert await connection.run_sync(row_counts) == before
        assert await connection.run_sync(differences) == []
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number("KM-20261123-0001")
    assert ticket is not None and ticket.contact_phone == "138 0000 0000"
