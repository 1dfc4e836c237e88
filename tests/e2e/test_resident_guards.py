"""What guards every resident conversation: emergencies first, a flood limit, group chats, odd message types, /cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.clock import FakeClock
from tests.conftest import LiveBot, running_bot
from tests.e2e.test_resident_hotline import start_item


@pytest.fixture
async def strict_bot(tmp_path: Path, clock: FakeClock) -> AsyncIterator[LiveBot]:
    """A live bot that accepts only 3 messages a minute from each person."""
    async with running_bot(
        tmp_path, clock, OPENDOOR_RESIDENT__FLOOD_MAX_MESSAGES="3", OPENDOOR_RESIDENT__FLOOD_PER_SECONDS="60"
    ) as bot:
        yield bot


@pytest.fixture
async def impatient_bot(tmp_path: Path, clock: FakeClock) -> AsyncIterator[LiveBot]:
    """A live bot that gives up on a silent conversation after half a second."""
    async with running_bot(tmp_path, clock, OPENDOOR_RESIDENT__CONVERSATION_TIMEOUT_MINUTES="0.008") as bot:
        yield bot


async def test_emergency_words_get_the_numbers_to_call_first_and_the_text_is_still_used(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await start_item(resident)
    await resident.send("救命！楼下有人正在打人")
    warning = await resident.next_message()
    assert warning.text.startswith("⚠️ 如果危险正在发生，请立即拨打 110")
    summary = await resident.next_message()
    assert summary.text.endswith("内容：救命！楼下有人正在打人")


async def test_unsupported_messages_are_explained_and_the_draft_is_kept(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await start_item(resident)
    await resident.send("楼下KTV每天晚上噪音很大。")
    await resident.next_message()
    await resident.send_sticker()
    assert "暂不支持这种消息" in (await resident.next_message()).text
    await resident.send_voice()
    assert "暂不支持这种消息" in (await resident.next_message()).text
    await resident.send("一直吵到凌晨两点。")
    assert "噪音很大。\n一直吵到凌晨两点。" in (await resident.next_message()).text


async def test_in_a_group_only_resident_commands_get_one_line_pointing_to_the_private_chat(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    group = live_bot.api.group("小区业主群")
    await resident.send("大家好，楼下又在吵了", chat=group)
    await resident.send("/start", chat=group)
    pointer = await group.next_message()
    assert pointer.text == "请私聊我使用此功能：@OpenDoorTestBot"
    await group.expect_no_message()


async def test_a_flood_is_refused_with_one_warning_and_the_description_keeps_what_was_sent(strict_bot: LiveBot) -> None:
    resident = strict_bot.api.user("王女士")
    await start_item(resident)  # /start: the first of three messages this minute
    await resident.send("第一条。")
    await resident.next_message()
    await resident.send("第二条。")
    await resident.next_message()
    await resident.send("第三条。")
    warning = await resident.next_message()
    assert warning.text.startswith("您发送得太快了") and "刚才的内容已记下" in warning.text
    await resident.send("第四条。")
    await resident.expect_no_message()
    draft = strict_bot.application.user_data[resident.id]["hotline_draft"]
    assert draft["parts"] == ["第一条。", "第二条。", "第三条。", "第四条。"]


async def test_cancel_leaves_a_conversation_and_outside_one_says_nothing_is_in_progress(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await start_item(resident)
    await resident.send("/cancel")
    assert (await resident.next_message()).text.startswith("已取消")
    await resident.send("/cancel")
    assert (await resident.next_message()).text == "当前没有进行中的操作。需要时发送 /start。"


async def test_an_abandoned_conversation_times_out_with_a_friendly_message(impatient_bot: LiveBot) -> None:
    resident = impatient_bot.api.user("王女士")
    await start_item(resident)
    await resident.send("楼下KTV每天晚上噪音很大。")
    await resident.next_message()
    timed_out = await resident.next_message()
    assert timed_out.text.startswith("您有一项反映长时间没有完成")
    await resident.send("还在吗？")
    assert (await resident.next_message()).text == "请点下方菜单开始，或发送 /start。"


async def test_an_edited_message_is_not_added_again_and_the_resident_is_told_how_to_correct_it(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await start_item(resident)
    sent = await resident.send("楼下KTV每天晚上噪音很大。")
    summary = await resident.next_message()

    await resident.edit(sent, "楼下KTV每天晚上噪音很大，吵到凌晨两点。")

    assert (await resident.next_message()).text.startswith("修改已发出的消息不会更新已记下的内容")
    await resident.send("一直吵到凌晨两点。")
    latest = await resident.next_message()
    assert latest.text.endswith("内容：楼下KTV每天晚上噪音很大。\n一直吵到凌晨两点。"), latest.text
    assert summary.buttons == []
