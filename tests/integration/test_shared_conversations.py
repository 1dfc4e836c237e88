"""Two processes on one database take turns with the same conversation, as webhook workers behind a
load balancer do: each re-reads the conversation's state before handling an update."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Update
from telegram.ext import Application, CommandHandler, ConversationHandler, MessageHandler, filters

from domain.clock import FakeClock
from local_botapi import LocalBotApi
from storage.database import Database
from storage.persistence import DatabasePersistence, SharedConversationHandler, WriteThroughUpdates
from tests.conftest import database_url
from tests.integration.test_persistence import ASK_NAME, ASK_PLACE, begin, got_name, got_place, plain_http

TOKEN = "123456:SHARED-CONVERSATIONS"


async def cancel(update: Update, context: object) -> int:
    return ConversationHandler.END


def probe() -> ConversationHandler:
    text = filters.TEXT & ~filters.COMMAND
    return SharedConversationHandler(
        entry_points=[CommandHandler("probe", begin)],
        states={ASK_NAME: [MessageHandler(text, got_name)], ASK_PLACE: [MessageHandler(text, got_place)]},
        fallbacks=[CommandHandler("cancel", cancel)],
        name="probe",
        persistent=True,
    )


def write_through_application(api: LocalBotApi, persistence: DatabasePersistence) -> Application:
    """An Application saving its persistence after every update, as the bot's; no updater: the
    test hands it its updates."""
    updates = WriteThroughUpdates()
    application = (
        Application.builder()
        .token(api.token)
        .base_url(api.base_url)
        .request(plain_http())
        .persistence(persistence)
        .concurrent_updates(updates)
        .updater(None)
        .build()
    )
    updates.attach(application)
    return application


async def start_process(api: LocalBotApi, db_url: str, clock: FakeClock) -> Application:
    """A process of its own: engine, persistence and Application; updates are handed to it directly."""
    application = write_through_application(api, DatabasePersistence(Database(db_url), clock=clock))
    application.add_handler(probe())
    await application.initialize()
    await application.start()
    return application


async def deliver_next_update(api: LocalBotApi, application: Application) -> None:
    """Hands the oldest pending update to this process, as a load balancer would."""
    body = api.state.updates.first_pending()
    assert body is not None, "no update is waiting"
    api.state.updates.acknowledge(body["update_id"])
    update = Update.de_json(body, application.bot)
    await application.update_processor.process_update(update, application.process_update(update))


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi(token=TOKEN, bot_username="OpenDoorTestBot") as server:
        yield server


@pytest.fixture
async def processes(api: LocalBotApi, tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Application, Application]]:
    url = database_url(tmp_path, "shared")
    migrating = Database(url)
    await migrating.migrate()
    await migrating.dispose()
    a, b = await start_process(api, url, clock), await start_process(api, url, clock)
    yield a, b
    for application in (a, b):
        await application.stop()
        await application.shutdown()
        await application.persistence._db.dispose()  # noqa: SLF001


async def test_a_conversation_begun_in_one_process_goes_on_in_the_other_and_back(
    api: LocalBotApi, processes: tuple[Application, Application]
) -> None:
    a, b = processes
    resident = api.user("王女士")

    await resident.send("/probe")
    await deliver_next_update(api, a)
    await resident.send("王女士")
    await deliver_next_update(api, b)
    await resident.send("城关派出所")
    await deliver_next_update(api, a)

    assert [m.text for m in resident.messages] == ["第一步：您怎么称呼？", "第二步：在哪里？", "记下了：王女士，城关派出所"]


async def test_a_conversation_ended_in_one_process_is_over_in_the_other(
    api: LocalBotApi, processes: tuple[Application, Application]
) -> None:
    a, b = processes
    resident = api.user("王女士")
    await resident.send("/probe")
    await deliver_next_update(api, a)

    await resident.send("/cancel")
    await deliver_next_update(api, b)
    await resident.send("王女士")
    await deliver_next_update(api, a)  # a still held ASK_NAME in memory

    assert [m.text for m in resident.messages] == ["第一步：您怎么称呼？"]


async def test_the_periodic_save_of_a_process_does_not_write_its_old_state_over_the_others_newer_one(
    api: LocalBotApi, processes: tuple[Application, Application]
) -> None:
    a, b = processes
    resident = api.user("王女士")
    await resident.send("/probe")
    await deliver_next_update(api, a)
    await resident.send("王女士")
    await deliver_next_update(api, b)

    await a.update_persistence()  # what PTB does every second: a still holds ASK_NAME in memory
    await resident.send("城关派出所")
    await deliver_next_update(api, b)

    assert [m.text for m in resident.messages] == ["第一步：您怎么称呼？", "第二步：在哪里？", "记下了：王女士，城关派出所"]
