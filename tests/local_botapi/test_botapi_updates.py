"""getUpdates: offset confirmation, limits, long polls that wake on injection, conflicts."""

import asyncio
import time
from datetime import timedelta

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Conflict

from local_botapi import LocalBotApi


async def test_updates_stay_pending_until_a_higher_offset_confirms_them(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    for text in ("一", "二", "三"):
        await resident.send(text)

    first_look = await bot.get_updates()
    second_look = await bot.get_updates()
    after_confirming_two = await bot.get_updates(offset=first_look[1].update_id + 1)

    assert [u.message.text for u in first_look if u.message] == ["一", "二", "三"]
    assert [u.update_id for u in second_look] == [u.update_id for u in first_look]
    assert [u.message.text for u in after_confirming_two if u.message] == ["三"]


async def test_limit_caps_how_many_updates_one_call_returns(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    for text in ("一", "二", "三"):
        await resident.send(text)

    updates = await bot.get_updates(limit=2)

    assert [u.message.text for u in updates if u.message] == ["一", "二"]


async def test_a_negative_offset_keeps_only_the_newest_updates(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    for text in ("一", "二", "三"):
        await resident.send(text)

    newest = await bot.get_updates(offset=-1)
    remaining = await bot.get_updates()

    assert [u.message.text for u in newest if u.message] == ["三"]
    assert [u.update_id for u in remaining] == [u.update_id for u in newest]


async def test_a_long_poll_returns_as_soon_as_an_update_is_injected(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await api.wait_for(lambda: api.state.updates.waiting_polls == 1, what="the poll is waiting")

    started = time.monotonic()
    await resident.send("有人吗")
    (update,) = await poll

    assert time.monotonic() - started < 0.5
    assert update.message is not None and update.message.text == "有人吗"


async def test_a_long_poll_without_updates_returns_empty_after_its_timeout(bot: Bot) -> None:
    started = time.monotonic()

    assert await bot.get_updates(timeout=timedelta(seconds=0.2)) == ()
    assert 0.15 < time.monotonic() - started < 1.0


async def test_pending_updates_are_returned_without_waiting(api: LocalBotApi, bot: Bot) -> None:
    await api.user("王女士").send("在吗")
    started = time.monotonic()

    assert len(await bot.get_updates(timeout=10)) == 1
    assert time.monotonic() - started < 0.5


async def test_a_newer_poll_ends_the_older_one_with_a_conflict(api: LocalBotApi, bot: Bot) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=10))
    await api.wait_for(lambda: api.state.updates.waiting_polls == 1, what="the poll is waiting")

    assert await bot.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await older


async def test_stopping_the_server_ends_a_pending_long_poll_at_once(
    api: LocalBotApi, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await api.wait_for(lambda: api.state.updates.waiting_polls == 1, what="the poll is waiting")

    started = time.monotonic()
    await api.stop()

    assert await poll == ()
    assert time.monotonic() - started < 1.0


async def test_get_updates_conflicts_with_an_active_webhook(bot: Bot) -> None:
    await bot.set_webhook("https://example.invalid/hook")

    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"

    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


async def test_allowed_updates_filters_updates_created_afterwards(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("好", callback_data="ok")]])
    await bot.send_message(resident.id, "请确认", reply_markup=keyboard)
    await bot.get_updates(allowed_updates=["callback_query"])

    await resident.send("这条不会送达")
    await resident.press("好")

    (update,) = await bot.get_updates()
    assert update.callback_query is not None and update.callback_query.data == "ok"
