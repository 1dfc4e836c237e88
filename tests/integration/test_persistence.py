"""Conversations and user data kept in the database: a restarted bot continues where the resident was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from enum import IntEnum
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import select
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, ConversationHandler, MessageHandler, filters
from telegram.request import HTTPXRequest

from domain.clock import FakeClock
from local_botapi import LocalBotApi
from storage.database import Database
from storage.models import BotStateRow
from storage.persistence import (
    DatabasePersistence,
    NotJsonSerialisable,
    WriteThroughUpdates,
    decode_conversation_key,
    encode_conversation_key,
)
from tests.conftest import database_url

TOKEN = "123456:PERSISTENCE-TEST"
ASK_NAME, ASK_PLACE = 1, 2
RESIDENT_ID = 1001


# --- a tiny two-step conversation, persistent under the name "probe" ------------------------


async def begin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    await update.effective_message.reply_text("第一步：您怎么称呼？")
    return ASK_NAME


async def got_name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    context.user_data["name"] = update.effective_message.text
    await update.effective_message.reply_text("第二步：在哪里？")
    return ASK_PLACE


async def got_place(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    name = context.user_data.get("name", "（不知道）")
    await update.effective_message.reply_text(f"记下了：{name}，{update.effective_message.text}")
    return ConversationHandler.END


def probe_conversation() -> ConversationHandler:
    text = filters.TEXT & ~filters.COMMAND
    return ConversationHandler(
        entry_points=[CommandHandler("probe", begin)],
        states={ASK_NAME: [MessageHandler(text, got_name)], ASK_PLACE: [MessageHandler(text, got_place)]},
        fallbacks=[],
        name="probe",
        persistent=True,
    )


def plain_http() -> HTTPXRequest:
    return HTTPXRequest(httpx_kwargs={"verify": False})  # the fake speaks plain HTTP


async def start_bot(api: LocalBotApi, db: Database, clock: FakeClock) -> Application:
    """What a bot process does at start-up: a fresh Application and persistence on the shared database."""
    updates = WriteThroughUpdates()
    application = (
        Application.builder()
        .token(api.token)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .request(plain_http())
        .get_updates_request(plain_http())
        .persistence(DatabasePersistence(db, clock=clock))
        .concurrent_updates(updates)
        .build()
    )
    updates.attach(application)
    application.add_handler(probe_conversation())
    await application.initialize()
    await application.start()
    await application.updater.start_polling(poll_interval=0, timeout=10)
    return application


async def stop_bot(application: Application) -> None:
    await application.updater.stop()
    await application.stop()
    await application.shutdown()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return database_url(tmp_path, "state")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.migrate()
    yield database
    await database.dispose()


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi(token=TOKEN, bot_username="OpenDoorTestBot") as server:
        yield server


# --- end to end with the real PTB Application --------------------------------------------


async def test_a_restarted_bot_continues_the_conversation_with_the_users_data_intact(
    api: LocalBotApi, db: Database, db_url: str, clock: FakeClock
) -> None:
    resident = api.user("王女士")
    first = await start_bot(api, db, clock)
    await resident.send("/probe")
    assert (await resident.next_message()).text == "第一步：您怎么称呼？"
    await resident.send("王女士")
    assert (await resident.next_message()).text == "第二步：在哪里？"
    await stop_bot(first)

    # A new process: its own database engine, persistence and Application on the same file.
    other_process_db = Database(db_url)
    second = await start_bot(api, other_process_db, clock)
    try:
        await resident.send("城关派出所")
        assert (await resident.next_message()).text == "记下了：王女士，城关派出所"
        await second.update_queue.join()
        # The conversation has ended, and its row is gone with it.
        assert await DatabasePersistence(other_process_db).get_conversations("probe") == {}
    finally:
        await stop_bot(second)
        await other_process_db.dispose()


async def test_each_step_is_in_the_database_as_soon_as_it_is_handled_not_only_at_shutdown(
    api: LocalBotApi, db: Database, db_url: str, clock: FakeClock
) -> None:
    resident = api.user("李先生")
    application = await start_bot(api, db, clock)
    try:
        await resident.send("/probe")
        await resident.next_message()
        await resident.send("李先生")
        await resident.next_message()
        await application.update_queue.join()  # the update and everything after it are done

        # Read by another process while this one still runs (a crash now would lose nothing).
        reader_db = Database(db_url)
        reader = DatabasePersistence(reader_db)
        conversations = await reader.get_conversations("probe")
        user_data = await reader.get_user_data()
        await reader_db.dispose()
    finally:
        await stop_bot(application)

    assert conversations == {(resident.id, resident.id): ASK_PLACE}
    assert user_data == {resident.id: {"name": "李先生"}}


async def test_an_update_that_changes_the_state_and_the_users_data_commits_them_in_one_transaction(
    api: LocalBotApi, db: Database, clock: FakeClock
) -> None:
    resident = api.user("赵女士")
    application = await start_bot(api, db, clock)
    commits = Commits(db)
    try:
        await resident.send("/probe")
        await resident.next_message()
        await application.update_queue.join()
        commits.clear()

        await resident.send("赵女士")  # ASK_NAME → ASK_PLACE, and the name into user_data
        await resident.next_message()
        await application.update_queue.join()
    finally:
        await stop_bot(application)

    assert len(commits) == 1


async def test_an_update_that_changes_nothing_stored_writes_nothing(
    api: LocalBotApi, db: Database, clock: FakeClock
) -> None:
    resident = api.user("钱先生")
    application = await start_bot(api, db, clock)
    commits = Commits(db)
    try:
        await resident.send("你好")  # no conversation takes it, and nothing is kept about the resident
        await resident.send("/probe")
        await resident.next_message()
        await application.update_queue.join()
    finally:
        await stop_bot(application)

    assert len(commits) == 1  # /probe's new state only


class Commits:
    """The database's commits from now on: those the engine reports and, on SQLite, those of the
    bot_state store, which writes without the engine."""

    def __init__(self, db: Database) -> None:
        self._store = db.bot_state
        self._engine_commits: list[object] = []
        event.listen(db.engine.sync_engine, "commit", self._engine_commits.append)
        self.clear()

    def _store_commits(self) -> int:
        return getattr(self._store, "commits", 0)

    def clear(self) -> None:
        self._engine_commits.clear()
        self._from = self._store_commits()

    def __len__(self) -> int:
        return len(self._engine_commits) + self._store_commits() - self._from


# --- the persistence on its own ------------------------------------------------------------


@pytest.mark.parametrize("key", [(-100123, 42), (42,), (7, 8, 9), ("AgAAABC:xyz", 42)])
def test_conversation_keys_survive_the_round_trip_through_a_text_key(key: tuple[int | str, ...]) -> None:
    assert decode_conversation_key(encode_conversation_key(key)) == key


def test_a_chat_and_user_key_reads_chat_colon_user() -> None:
    assert encode_conversation_key((-100123, 42)) == "-100123:42"


@pytest.mark.parametrize(
    "data",
    [{"when": datetime(2026, 11, 23)}, {"pair": (1, 2)}, {"tags": {"a"}}, {1: "int key"}, {"x": float("nan")}],
)
async def test_user_data_that_json_cannot_give_back_equal_is_refused_naming_the_user(
    db: Database, data: dict[object, object]
) -> None:
    with pytest.raises(NotJsonSerialisable, match=f"user_data of user {RESIDENT_ID}"):
        await DatabasePersistence(db).update_user_data(RESIDENT_ID, data)


class Step(IntEnum):
    TEXT = 3


async def test_an_intenum_state_is_stored_as_its_number(db: Database) -> None:
    await DatabasePersistence(db).update_conversation("hotline", (5, 5), Step.TEXT)
    assert await DatabasePersistence(db).get_conversations("hotline") == {(5, 5): 3}


async def test_an_ended_conversation_and_dropped_data_leave_no_row(db: Database) -> None:
    persistence = DatabasePersistence(db)
    await persistence.update_conversation("probe", (5, 5), ASK_NAME)
    await persistence.update_user_data(5, {"name": "x"})
    await persistence.update_conversation("probe", (5, 5), None)
    await persistence.drop_user_data(5)
    assert await rows(db) == []


async def test_emptied_user_data_removes_its_row_and_empty_data_is_never_written(db: Database) -> None:
    persistence = DatabasePersistence(db)
    await persistence.update_user_data(5, {})
    assert await rows(db) == []
    await persistence.update_user_data(5, {"draft": {"kind": "complaint"}})
    assert [row.value for row in await rows(db)] == [{"draft": {"kind": "complaint"}}]
    await persistence.update_user_data(5, {})
    assert await rows(db) == []


async def test_unchanged_data_is_not_written_again(db: Database, clock: FakeClock) -> None:
    persistence = DatabasePersistence(db, clock=clock)
    await persistence.update_user_data(RESIDENT_ID, {"topic": "noise"})
    written_at = (await rows(db))[0].updated_at
    clock.advance(minutes=5)
    await persistence.update_user_data(RESIDENT_ID, {"topic": "noise"})
    assert (await rows(db))[0].updated_at == written_at
    await persistence.update_user_data(RESIDENT_ID, {"topic": "parking"})
    assert (await rows(db))[0].updated_at == clock.now()


async def test_user_data_changed_by_another_process_is_taken_over_before_the_next_update(db: Database) -> None:
    this, other = DatabasePersistence(db), DatabasePersistence(db)
    held = (await this.get_user_data()).get(RESIDENT_ID, {})
    await other.update_user_data(RESIDENT_ID, {"draft": "written elsewhere"})

    await this.refresh_user_data(RESIDENT_ID, held)

    assert held == {"draft": "written elsewhere"}


async def test_unsaved_changes_of_this_process_survive_a_refresh_when_nobody_else_wrote(db: Database) -> None:
    persistence = DatabasePersistence(db)
    await persistence.update_user_data(RESIDENT_ID, {"draft": "saved"})
    held = {"draft": "saved", "kind": "not saved yet"}

    await persistence.refresh_user_data(RESIDENT_ID, held)

    assert held == {"draft": "saved", "kind": "not saved yet"}


async def test_data_another_process_dropped_is_dropped_here_too(db: Database) -> None:
    this, other = DatabasePersistence(db), DatabasePersistence(db)
    await this.update_user_data(RESIDENT_ID, {"topic": "noise"})
    await other.get_user_data()
    await other.drop_user_data(RESIDENT_ID)
    held = {"topic": "noise"}

    await this.refresh_user_data(RESIDENT_ID, held)

    assert held == {}


async def test_bot_data_chat_data_and_callback_data_are_not_stored(db: Database) -> None:
    persistence = DatabasePersistence(db)
    assert persistence.store_data.user_data
    stored = persistence.store_data
    assert not (stored.bot_data or stored.chat_data or stored.callback_data)
    await persistence.update_bot_data({"runtime": object()})
    await persistence.update_chat_data(-100, {"topic": "noise"})
    assert await persistence.get_bot_data() == {} and await persistence.get_chat_data() == {}
    assert await persistence.get_callback_data() is None
    assert await rows(db) == []


async def rows(db: Database) -> list[BotStateRow]:
    async with db.unit_of_work() as uow:
        return list((await uow.session.exec(select(BotStateRow))).all())
