"""The bot's own Bot API client (bot/telegram_bot.py) against the local Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram_bot import OpenDoorBot
from bot.telegram_http import AiohttpRequest
from local_botapi import LocalBotApi
from tests.conftest import TEST_TOKEN


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi(token=TEST_TOKEN) as server:
        yield server


@pytest.fixture
async def bot(api: LocalBotApi) -> AsyncIterator[OpenDoorBot]:
    client = OpenDoorBot(
        TEST_TOKEN, base_url=api.base_url, base_file_url=api.base_file_url,
        request=AiohttpRequest(), get_updates_request=AiohttpRequest(connection_pool_size=1),
    )
    async with client:
        yield client


async def test_a_press_answered_a_second_time_is_no_error(api: LocalBotApi, bot: OpenDoorBot) -> None:
    """As when Telegram sends an update again because the worker that had it died: the second
    worker's handler answers the press again and must go on."""
    resident = api.user("王女士")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("✅ 确认提交", callback_data="confirm")]])
    await bot.send_message(resident.id, "请确认", reply_markup=keyboard)
    press = await resident.press("✅ 确认提交")
    (update,) = await bot.get_updates()

    assert await update.callback_query.answer() is True
    assert await update.callback_query.answer() is False
    assert (await press.answered()).text is None

