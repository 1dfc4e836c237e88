"""Simulated residents and officers: sending, pressing, waiting, and readable failures."""

from datetime import timedelta

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest

from local_botapi import LocalBotApi

SIGN = InlineKeyboardMarkup([[InlineKeyboardButton("签收", callback_data="sign:1")]])


async def test_people_and_groups_get_distinct_ids_of_the_right_sign(api: LocalBotApi) -> None:
    first, second = api.user("王女士"), api.user("王女士")
    group, supergroup = api.group("工作群"), api.group("大群", kind="supergroup")

    assert first.id != second.id and first.id > 0
    assert group.id < 0 and group.type == "group"
    assert str(supergroup.id).startswith("-100") and supergroup.type == "supergroup"


async def test_next_message_returns_bot_messages_in_the_order_they_were_sent(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    for text in ("一", "二", "三"):
        await bot.send_message(resident.id, text)

    assert [(await resident.next_message()).text for _ in range(3)] == ["一", "二", "三"]
    assert [message.text for message in resident.messages] == ["一", "二", "三"]


async def test_a_missing_reply_fails_with_the_transcript_and_the_failed_calls(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    await resident.send("我要反映")
    with pytest.raises(BadRequest):
        await bot.send_message(resident.id, "<b>未闭合", parse_mode=ParseMode.HTML)

    with pytest.raises(AssertionError) as caught:
        await resident.next_message(timeout=0.05)

    report = str(caught.value)
    assert "王女士: 我要反映" in report
    assert "sendMessage -> 400 Bad Request: can't parse entities" in report


async def test_expect_no_message_passes_in_silence_and_fails_on_a_message(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    await resident.expect_no_message(within=0.05)

    await bot.send_message(resident.id, "打扰了")

    with pytest.raises(AssertionError, match="打扰了"):
        await resident.expect_no_message(within=0.05)


async def test_press_uses_the_newest_message_that_has_the_button(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    await bot.send_message(resident.id, "旧工单", reply_markup=SIGN)
    newer = await bot.send_message(resident.id, "新工单", reply_markup=SIGN)
    await bot.send_message(resident.id, "无按钮")

    press = await resident.press("签收")

    assert press.message.message_id == newer.message_id
    (update,) = await bot.get_updates()
    assert update.callback_query is not None
    assert update.callback_query.message is not None
    assert update.callback_query.message.message_id == newer.message_id


async def test_pressing_a_button_that_is_not_there_lists_what_is(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    await bot.send_message(resident.id, "请确认", reply_markup=SIGN)

    with pytest.raises(AssertionError, match=r"(?s)no message .* has a button '退回'.*\[签收\]"):
        await resident.press("退回")


async def test_a_forged_press_reaches_the_bot_with_its_data(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    message = await bot.send_message(resident.id, "请确认", reply_markup=SIGN)

    await resident.press_data("sign:999", message=resident.messages[0])

    (update,) = await bot.get_updates()
    assert update.callback_query is not None
    assert update.callback_query.data == "sign:999"
    assert update.callback_query.message is not None
    assert update.callback_query.message.message_id == message.message_id


async def test_an_unanswered_press_fails_when_awaited(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    await bot.send_message(resident.id, "请确认", reply_markup=SIGN)
    press = await resident.press("签收")

    with pytest.raises(AssertionError, match="did not answer"):
        await press.answered(timeout=0.05)


async def test_reply_keyboards_are_shown_until_removed_or_used_once(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    menu = ReplyKeyboardMarkup([[KeyboardButton("我要反映"), "查询进度"]], one_time_keyboard=True)

    await bot.send_message(resident.id, "请选择", reply_markup=menu)
    assert resident.reply_keyboard_buttons() == [["我要反映", "查询进度"]]
    await resident.send("查询进度")
    assert resident.reply_keyboard_buttons() == []

    await bot.send_message(resident.id, "请选择", reply_markup=ReplyKeyboardMarkup([["返回"]]))
    await bot.send_message(resident.id, "好的", reply_markup=ReplyKeyboardRemove())
    assert resident.reply_keyboard_buttons() == []


async def test_history_reads_like_a_chat_transcript(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    await resident.send("/start")
    await bot.send_message(resident.id, "请描述问题", reply_markup=SIGN)
    await resident.send_photo(caption="楼道")
    await resident.send_location(31.2, 121.5)

    assert resident.history == [
        ("王女士", "/start"),
        ("开门评", "请描述问题\n    [签收]"),
        ("王女士", "[photo] 楼道"),
        ("王女士", "[location 31.2, 121.5]"),
    ]


async def test_everything_a_person_can_send_deserializes_in_ptb(
    api: LocalBotApi, bot: Bot
) -> None:
    resident, group = api.user("王女士", last_name="芳"), api.group("工作群")
    await resident.send("/report 噪音")
    await resident.send("群里说一句", chat=group)
    await resident.send_photo()
    await resident.send_document("材料.pdf", caption="证明")
    await resident.send_location(31.2, 121.5)
    await resident.send_contact("+8613800000000")
    await resident.send_sticker()
    await resident.send_voice(duration=4)
    await resident.send_video(caption="视频")

    messages = [update.message for update in await bot.get_updates()]

    assert all(message is not None for message in messages)
    command, in_group, photo, document, location, contact, sticker, voice, video = messages
    assert command.entities[0].type == "bot_command" and command.entities[0].length == 7
    assert in_group.chat.id == group.id and in_group.from_user.id == resident.id
    assert photo.photo[-1].file_id
    assert (document.document.file_name, document.document.mime_type) == (
        "材料.pdf",
        "application/pdf",
    )
    assert (location.location.latitude, location.location.longitude) == (31.2, 121.5)
    assert (contact.contact.user_id, contact.contact.first_name) == (resident.id, "王女士")
    assert sticker.sticker.emoji == "👍"
    assert voice.voice.duration == timedelta(seconds=4)
    assert video.caption == "视频"


async def test_the_bot_can_download_what_a_person_uploaded(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    sent = await resident.send_document("报警回执.txt", data="回执编号 7".encode())

    file = await bot.get_file(sent["document"]["file_id"])

    assert bytes(await file.download_as_bytearray()) == "回执编号 7".encode()


async def test_wait_for_rechecks_after_every_bot_call(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    message = await bot.send_message(resident.id, "处理中", reply_markup=SIGN)

    await bot.edit_message_reply_markup(resident.id, message.message_id)

    await api.wait_for(lambda: resident.messages[0].buttons == [], timeout=1.0)
    with pytest.raises(AssertionError, match="never true did not become true"):
        await api.wait_for(lambda: False, timeout=0.05, what="never true")


async def test_an_edited_message_reaches_the_bot_as_edited_message(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    sent = await resident.send("/start")
    photo = await resident.send_photo(caption="门口")

    await resident.edit(sent, "楼下很吵")
    await resident.edit(photo, "门口照片")

    updates = await bot.get_updates()
    edits = [update.edited_message for update in updates if update.edited_message]
    assert [(m.message_id, m.text, m.caption) for m in edits] == [
        (sent["message_id"], "楼下很吵", None),
        (photo["message_id"], None, "门口照片"),
    ]
    assert edits[0].entities == () and edits[0].edit_date is not None
    with pytest.raises(AssertionError, match="no message 999"):
        await resident.edit({"message_id": 999, "text": ""}, "改")
