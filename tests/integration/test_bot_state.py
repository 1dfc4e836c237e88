"""The bot_state stores: what the persistence reads before every update and writes after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage.bot_state import CoreStateStore, SqliteStateStore
from storage.database import Database
from tests.conftest import database_url

WHEN = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
VALUES = {
    ("user_data", "42"): {"hotline_draft": {"kind": "complaint", "parts": ["楼下烧烤摊噪音", "凌晨两点"]}},
    ("conversation:hotline", "42:42"): 2,
    ("conversation:appraisal", "42:42"): "RATING",
    ("user_data", "43"): {"ratio": 0.5, "flags": [True, None]},
}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(database_url(tmp_path))
    await database.migrate()
    yield database
    await database.dispose()


async def test_a_sqlite_database_keeps_its_bot_state_without_the_engine(db: Database) -> None:
    expected = SqliteStateStore if db.engine.dialect.name == "sqlite" else CoreStateStore
    assert isinstance(db.bot_state, expected)


async def test_rows_come_back_as_written_with_their_moment(db: Database) -> None:
    await db.bot_state.write(VALUES, [], WHEN)

    rows = await db.bot_state.rows([*VALUES, ("user_data", "404")])
    assert {pair: row.value for pair, row in rows.items()} == VALUES
    assert {row.updated_at for row in rows.values()} == {WHEN}
    assert all(row.updated_at.tzinfo is not None for row in rows.values())
    assert set(await db.bot_state.all_in("user_data")) == {"42", "43"}


@pytest.mark.sqlite_only(reason="the SQLite store writes without SQLAlchemy")
@pytest.mark.parametrize("written_by", ["sqlite3", "SQLAlchemy"])
async def test_the_sqlite_store_and_sqlalchemy_read_each_others_rows(db: Database, written_by: str) -> None:
    ours, engines = db.bot_state, CoreStateStore(db.engine)
    await (ours if written_by == "sqlite3" else engines).write(VALUES, [], WHEN)

    for reader in (ours, engines):
        rows = await reader.rows(VALUES)
        assert {pair: row.value for pair, row in rows.items()} == VALUES
        assert {row.updated_at for row in rows.values()} == {WHEN}


async def test_a_write_replaces_values_and_removes_rows_in_one_go(db: Database) -> None:
    await db.bot_state.write(VALUES, [], WHEN)
    later = WHEN + timedelta(minutes=5)

    await db.bot_state.write(
        {("conversation:hotline", "42:42"): 3}, [("user_data", "43"), ("conversation:appraisal", "42:42")], later
    )

    rows = await db.bot_state.rows(VALUES)
    assert {pair: row.value for pair, row in rows.items()} == {
        ("user_data", "42"): VALUES[("user_data", "42")],
        ("conversation:hotline", "42:42"): 3,
    }
    assert rows[("conversation:hotline", "42:42")].updated_at == later
    assert rows[("user_data", "42")].updated_at == WHEN


async def test_a_write_that_fails_halfway_leaves_nothing_of_itself(db: Database) -> None:
    await db.bot_state.write({("user_data", "42"): {"name": "李先生"}}, [], WHEN)

    with pytest.raises(Exception):  # the driver's IntegrityError: a key cannot be NULL
        await db.bot_state.write(
            {("user_data", "42"): {"name": "改了"}, ("user_data", None): {"x": 1}},  # type: ignore[dict-item]
            [],
            WHEN + timedelta(minutes=1),
        )

    rows = await db.bot_state.rows([("user_data", "42")])
    assert rows[("user_data", "42")].value == {"name": "李先生"}
    await db.bot_state.write({("user_data", "42"): {"name": "王女士"}}, [], WHEN)  # and the store goes on
    assert (await db.bot_state.rows([("user_data", "42")]))[("user_data", "42")].value == {"name": "王女士"}


async def test_a_closed_store_opens_its_connections_again_when_next_used(db: Database) -> None:
    await db.bot_state.write({("user_data", "42"): {"name": "李先生"}}, [], WHEN)
    await db.bot_state.close()
    assert (await db.bot_state.rows([("user_data", "42")]))[("user_data", "42")].value == {"name": "李先生"}
