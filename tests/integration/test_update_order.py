"""Updates of different chats are handled at the same time; each chat's one after another, each
committed to the database before the chat's next one starts (`WriteThroughUpdates`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from domain.clock import FakeClock
from local_botapi import LocalBotApi, SimUser
from storage.database import Database
from storage.persistence import DatabasePersistence
from tests.conftest import database_url
from tests.integration.test_shared_conversations import write_through_application

TOKEN = "123456:UPDATE-ORDER"
BOUND_SECONDS = 10  # a wait that would hang if updates were handled one at a time fails instead


class Desk:
    """A bot whose answer to "等一下" waits until the test lets it go; every other text is
    answered at once with what the sender said before, as the database holds it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.let_go = asyncio.Event()
        self.started: list[str] = []

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answers with what the database holds of the sender, then remembers this text."""
        text = update.effective_message.text
        self.started.append(text)
        if text == "等一下":
            await self.let_go.wait()
        # Read as another process would: what the sender's earlier updates committed.
        stored = (await DatabasePersistence(self.db).get_user_data()).get(update.effective_user.id, {})
        context.user_data["last"] = text
        await update.effective_message.reply_text(f"{text}（之前：{stored.get('last', '无')}）")


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi(token=TOKEN, bot_username="OpenDoorTestBot") as server:
        yield server


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    db = Database(database_url(tmp_path, "order"))
    await db.migrate()
    yield Desk(db)
    await db.dispose()


@pytest.fixture
async def application(api: LocalBotApi, desk: Desk, clock: FakeClock) -> AsyncIterator[Application]:
    application = write_through_application(api, DatabasePersistence(desk.db, clock=clock))
    application.add_handler(MessageHandler(filters.TEXT, desk.on_text))
    await application.initialize()
    await application.start()
    yield application
    desk.let_go.set()
    await application.stop()
    await application.shutdown()


async def receive_everything_sent(api: LocalBotApi, application: Application) -> None:
    """Puts the updates waiting on the server into the application's queue, oldest first, as polling does."""
    while (body := api.state.updates.first_pending()) is not None:
        api.state.updates.acknowledge(body["update_id"])
        await application.update_queue.put(Update.de_json(body, application.bot))


async def answer(resident: SimUser) -> str:
    async with asyncio.timeout(BOUND_SECONDS):
        return (await resident.next_message(timeout=BOUND_SECONDS)).text or ""


async def test_a_resident_is_answered_while_another_residents_update_is_still_being_handled(
    api: LocalBotApi, application: Application, desk: Desk
) -> None:
    slow, quick = api.user("王女士"), api.user("李先生")
    await slow.send("等一下")
    await quick.send("你好")
    await receive_everything_sent(api, application)

    assert await answer(quick) == "你好（之前：无）"
    desk.let_go.set()
    assert await answer(slow) == "等一下（之前：无）"


async def test_a_residents_next_update_waits_until_the_one_before_is_handled_and_committed(
    api: LocalBotApi, application: Application, desk: Desk
) -> None:
    resident, other = api.user("王女士"), api.user("李先生")
    await resident.send("等一下")
    await resident.send("第二句")
    await other.send("你好")
    await receive_everything_sent(api, application)

    await answer(other)  # handled meanwhile: the queue did not stop at the resident's first update
    assert desk.started == ["等一下", "你好"]
    desk.let_go.set()

    answers = [await answer(resident), await answer(resident)]
    assert answers == ["等一下（之前：无）", "第二句（之前：等一下）"]
