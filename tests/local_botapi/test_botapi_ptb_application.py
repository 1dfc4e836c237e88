"""A real PTB Application, polling the fake, serves simulated people and shuts down promptly."""

import time
from collections.abc import AsyncIterator, Callable

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from local_botapi import LocalBotApi

LONG_POLL_SECONDS = 10


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("签收", callback_data="sign")]])
    await update.effective_message.reply_text("欢迎使用开门评", reply_markup=keyboard)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None and update.effective_message.text is not None
    await update.effective_message.reply_text(f"收到：{update.effective_message.text}")


async def sign(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer("已签收")
    await query.edit_message_text("工单已签收")


@pytest.fixture
async def polling_app(
    api: LocalBotApi, plain_http_request: Callable[[], HTTPXRequest]
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    app = (
        Application.builder()
        .token(api.token)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .request(plain_http_request())
        .get_updates_request(plain_http_request())
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(sign))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=LONG_POLL_SECONDS)
    yield app
    if app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.shutdown()


@pytest.mark.usefixtures("polling_app")
async def test_the_application_answers_messages_in_order(api: LocalBotApi) -> None:
    resident = api.user("王女士")

    await resident.send("/start")
    await resident.send("楼下有噪音")
    await resident.send("晚上十点以后")

    assert (await resident.next_message()).text == "欢迎使用开门评"
    assert (await resident.next_message()).text == "收到：楼下有噪音"
    assert (await resident.next_message()).text == "收到：晚上十点以后"


@pytest.mark.usefixtures("polling_app")
async def test_the_application_answers_a_pressed_button_and_edits_the_message(
    api: LocalBotApi,
) -> None:
    resident = api.user("王女士")
    await resident.send("/start")
    welcome = await resident.next_message()

    press = await resident.press("签收")

    assert (await press.answered()).text == "已签收"
    await api.wait_for(lambda: welcome.text == "工单已签收", what="the welcome message is edited")
    assert welcome.buttons == []


@pytest.mark.usefixtures("polling_app")
async def test_commands_addressed_to_the_bot_work_in_groups(api: LocalBotApi) -> None:
    officer, group = api.user("李警官"), api.group("治安大队工作群")

    await officer.send("/start@OpenDoorTestBot", chat=group)

    assert (await group.next_message()).text == "欢迎使用开门评"
    assert group.history[0] == ("李警官", "/start@OpenDoorTestBot")


async def test_the_application_shuts_down_promptly_while_long_polling(
    api: LocalBotApi,
    polling_app: Application,  # type: ignore[type-arg]
) -> None:
    resident = api.user("王女士")
    await resident.send("在吗")
    await resident.next_message()
    await api.wait_for(lambda: api.state.updates.waiting_polls == 1, what="a long poll is pending")
    assert polling_app.updater is not None

    started = time.monotonic()
    await polling_app.updater.stop()
    await polling_app.stop()
    await polling_app.shutdown()

    assert time.monotonic() - started < 1.0
    # PTB abandons its long poll and confirms what it fetched with a final timeout=0 poll,
    # which (as on Telegram) ends the abandoned one with 409 Conflict.
    last_two = {(call.params["timeout"], call.status) for call in api.calls("getUpdates")[-2:]}
    assert last_two == {("10", 409), ("0", 200)}
    assert api.state.updates.pending_count == 0
