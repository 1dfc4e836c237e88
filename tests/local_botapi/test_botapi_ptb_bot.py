"""The real python-telegram-bot `Bot` talks to the fake exactly as to Telegram."""

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageOriginUser,
    ReplyKeyboardMarkup,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from local_botapi import LocalBotApi

SIGN_KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("签收", callback_data="sign:42"),
            InlineKeyboardButton("退回", callback_data="back:42"),
        ]
    ]
)


async def test_get_me_describes_the_bot_behind_the_token(bot: Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.is_bot, me.username, me.first_name) == (
        123456,
        True,
        "OpenDoorTestBot",
        "开门评",
    )


async def test_a_message_with_an_inline_keyboard_reaches_the_resident(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")

    sent = await bot.send_message(resident.id, "请确认", reply_markup=SIGN_KEYBOARD)
    seen = await resident.next_message()

    assert sent.from_user is not None and sent.from_user.id == bot.id
    assert (seen.message_id, seen.chat_id, seen.method) == (
        sent.message_id,
        resident.id,
        "sendMessage",
    )
    assert seen.text == "请确认"
    assert seen.buttons == [["签收", "退回"]]
    assert seen.button_data("退回") == "back:42"


async def test_html_messages_keep_the_raw_text_and_show_the_plain_text(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")

    sent = await bot.send_message(
        resident.id, "<b>工单</b> #7 &lt;已受理&gt;", parse_mode=ParseMode.HTML
    )
    seen = await resident.next_message()

    assert seen.text == sent.text == "工单 #7 <已受理>"
    assert seen.raw_text == "<b>工单</b> #7 &lt;已受理&gt;"
    assert seen.parse_mode == "HTML"
    assert sent.text_html == "<b>工单</b> #7 &lt;已受理&gt;"


async def test_editing_a_message_keeps_its_earlier_version(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    sent = await bot.send_message(resident.id, "待签收", reply_markup=SIGN_KEYBOARD)

    edited = await bot.edit_message_text("已签收", chat_id=resident.id, message_id=sent.message_id)

    seen = await resident.next_message()
    assert isinstance(edited, type(sent)) and edited.edit_date is not None
    assert seen.text == "已签收"
    assert seen.buttons == []  # An edit without reply_markup drops the keyboard, as on Telegram.
    assert [version.text for version in seen.edits] == ["待签收"]
    assert seen.edits[0].buttons == [["签收", "退回"]]


async def test_editing_only_the_keyboard_keeps_the_text(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    sent = await bot.send_message(resident.id, "待签收", reply_markup=SIGN_KEYBOARD)

    await bot.edit_message_reply_markup(resident.id, sent.message_id)

    seen = await resident.next_message()
    assert (seen.text, seen.buttons) == ("待签收", [])
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(resident.id, sent.message_id)


async def test_a_caption_can_be_edited_but_a_text_message_has_none(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    photo = await bot.send_photo(
        resident.id, photo=b"img", caption="<i>现场</i>", parse_mode="HTML"
    )
    text = await bot.send_message(resident.id, "文字")

    await bot.edit_message_caption(resident.id, photo.message_id, caption="现场（已处理）")

    seen = await resident.next_message()
    assert seen.text == "现场（已处理）"
    assert seen.edits[0].raw_text == "<i>现场</i>"
    with pytest.raises(BadRequest, match="There is no caption in the message to edit"):
        await bot.edit_message_caption(resident.id, text.message_id, caption="x")


async def test_a_message_with_a_reply_keyboard_cannot_be_edited(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    menu = await bot.send_message(
        resident.id, "请选择", reply_markup=ReplyKeyboardMarkup([["返回"]])
    )

    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("新菜单", chat_id=resident.id, message_id=menu.message_id)


async def test_a_reply_quotes_the_message_it_answers(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    question = await resident.send("几点上班？")

    reply = await bot.send_message(
        resident.id, "九点", reply_parameters=ReplyParameters(question["message_id"])
    )

    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "几点上班？"
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(resident.id, "?", reply_parameters=ReplyParameters(999))


async def test_the_bot_can_answer_a_pressed_button(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    await bot.send_message(resident.id, "请确认", reply_markup=SIGN_KEYBOARD)

    press = await resident.press("签收")
    (update,) = await bot.get_updates()
    assert update.callback_query is not None
    assert update.callback_query.data == "sign:42"
    assert update.callback_query.from_user.id == resident.id
    await update.callback_query.answer("已签收", show_alert=True)

    answer = await press.answered()
    assert (answer.text, answer.show_alert) == ("已签收", True)


async def test_a_photo_is_uploaded_once_and_resent_by_file_id(api: LocalBotApi, bot: Bot) -> None:
    resident, officer = api.user("王女士"), api.user("李警官")

    first = await bot.send_photo(resident.id, photo=b"\x89PNG fake photo", caption="现场照片")
    again = await bot.send_photo(officer.id, photo=first.photo[-1].file_id)

    assert again.photo[-1].file_unique_id == first.photo[-1].file_unique_id
    assert (await resident.next_message()).text == "现场照片"
    assert (await officer.next_message()).photo == [again.photo[-1].to_dict()]
    downloaded = await (await bot.get_file(first.photo[-1].file_id)).download_as_bytearray()
    assert bytes(downloaded) == b"\x89PNG fake photo"


async def test_a_document_arrives_with_its_name_and_content(api: LocalBotApi, bot: Bot) -> None:
    officer = api.user("李警官")

    sent = await bot.send_document(
        officer.id, document=b"id,status\n7,open\n", filename="工单.csv", caption="导出"
    )

    seen = await officer.next_message()
    assert sent.document is not None and sent.document.file_name == "工单.csv"
    assert seen.document is not None and seen.document["mime_type"] == "text/csv"
    assert seen.text == "导出"
    file = await bot.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"id,status\n7,open\n"


async def test_a_copied_message_shows_up_in_the_other_chat_without_a_forward_header(
    api: LocalBotApi, bot: Bot
) -> None:
    resident, group = api.user("王女士"), api.group("治安大队工作群")
    sent = await resident.send_photo(caption="楼道堆放杂物")

    copy_id = await bot.copy_message(
        group.id, from_chat_id=resident.id, message_id=sent["message_id"]
    )

    copy = await group.next_message()
    assert copy.message_id == copy_id.message_id
    assert (copy.method, copy.text, copy.forwarded) == ("copyMessage", "楼道堆放杂物", False)
    assert copy.photo == sent["photo"]
    assert copy.copied_from == (resident.id, sent["message_id"])
    assert "forward_origin" not in copy.payload


async def test_a_forwarded_message_is_recorded_as_forwarded(api: LocalBotApi, bot: Bot) -> None:
    resident, group = api.user("王女士"), api.group("治安大队工作群")
    sent = await resident.send("我的电话是 138")

    forwarded = await bot.forward_message(group.id, resident.id, sent["message_id"])

    assert isinstance(forwarded.forward_origin, MessageOriginUser)
    assert forwarded.forward_origin.sender_user.id == resident.id
    assert (await group.next_message()).forwarded
    assert api.calls("forwardMessage")


async def test_a_location_is_sent_with_its_coordinates(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")

    await bot.send_location(resident.id, latitude=31.23, longitude=121.47)

    assert (await resident.next_message()).location == {"latitude": 31.23, "longitude": 121.47}


async def test_commands_chat_info_and_chat_actions_round_trip(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士", username="wang")

    await bot.set_my_commands([("start", "开始"), ("report", "我要反映")])
    commands = await bot.get_my_commands()
    chat = await bot.get_chat(resident.id)
    assert await bot.send_chat_action(resident.id, "typing")
    await bot.delete_my_commands()

    assert [(c.command, c.description) for c in commands] == [
        ("start", "开始"),
        ("report", "我要反映"),
    ]
    assert (chat.id, chat.type, chat.first_name, chat.username) == (
        resident.id,
        "private",
        "王女士",
        "wang",
    )
    assert await bot.get_my_commands() == ()


async def test_deleted_messages_stay_visible_to_tests_as_deleted(
    api: LocalBotApi, bot: Bot
) -> None:
    resident = api.user("王女士")
    sent = await bot.send_message(resident.id, "临时提示")

    assert await bot.delete_message(resident.id, sent.message_id)

    seen = await resident.next_message()
    assert seen.deleted
    assert resident.history == []
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(resident.id, sent.message_id)


# -- errors arrive as the PTB exceptions production code will see ----------------------------


async def test_an_unknown_chat_is_a_bad_request(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(424242, "你好")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message("@nobody_here", "你好")


async def test_an_edit_that_changes_nothing_is_a_bad_request(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    sent = await bot.send_message(resident.id, "待签收", reply_markup=SIGN_KEYBOARD)

    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "待签收", chat_id=resident.id, message_id=sent.message_id, reply_markup=SIGN_KEYBOARD
        )
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=resident.id, message_id=999)


async def test_overlong_and_empty_texts_are_bad_requests(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")

    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(resident.id, "长" * 4097)
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(resident.id, photo=b"img", caption="长" * 1025)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(resident.id, "<b> </b>", parse_mode=ParseMode.HTML)
    assert len(await resident.send("ok")) and resident.messages == []


async def test_malformed_html_cannot_be_parsed(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")

    with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "script"'):
        await bot.send_message(resident.id, "来自居民: <script>", parse_mode=ParseMode.HTML)


async def test_an_unknown_callback_query_is_too_old(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("123", text="?")


async def test_a_blocked_resident_makes_sending_forbidden(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    api.block(resident)

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(resident.id, "您的工单已办结")

    api.unblock(resident)
    await bot.send_message(resident.id, "您的工单已办结")
    assert (await resident.next_message()).text == "您的工单已办结"


async def test_a_person_who_never_wrote_cannot_be_messaged_first(
    api: LocalBotApi, bot: Bot
) -> None:
    stranger = api.user("陌生人", started=False)

    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(stranger.id, "你好")

    await stranger.send("/start")
    await bot.send_message(stranger.id, "你好")


async def test_an_injected_429_arrives_as_retry_after(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    api.inject_fault("sendMessage", status=429, retry_after=3)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(resident.id, "你好")

    assert caught.value.retry_after == timedelta(seconds=3)
    await bot.send_message(resident.id, "你好")  # The fault was for one call only.
    assert [r.status for r in api.calls("sendMessage")] == [429, 200]
    assert api.stats["429"] == 1


@pytest.mark.parametrize(
    ("status", "description"), [(500, "Internal Server Error"), (502, "Bad Gateway")]
)
async def test_injected_server_errors_arrive_as_network_errors(
    api: LocalBotApi, bot: Bot, status: int, description: str
) -> None:
    api.inject_fault(status=status)

    with pytest.raises(NetworkError, match=description):
        await bot.get_me()


async def test_a_request_the_server_never_answers_times_out(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    api.inject_fault("sendMessage", status="timeout", delay=30)

    with pytest.raises(TimedOut):
        await bot.send_message(resident.id, "你好", read_timeout=0.2)

    assert api.stats["timeout"] == 1
    assert resident.messages == []
    started = time.monotonic()
    await api.stop()  # The held request must not delay shutdown.
    assert time.monotonic() - started < 1.0


async def test_a_wrong_token_is_an_invalid_token(
    api: LocalBotApi, plain_http_request: Callable[[], HTTPXRequest]
) -> None:
    intruder = Bot(
        "654321:WRONG",
        base_url=api.base_url,
        base_file_url=api.base_file_url,
        request=plain_http_request(),
    )

    with pytest.raises(InvalidToken):
        await intruder.initialize()
    await intruder.shutdown()
