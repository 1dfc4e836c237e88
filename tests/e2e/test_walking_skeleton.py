"""A resident's complaint travels end to end: submitted, routed, signed, reminded, overdue, answered, closed."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from services.timeline import ticket_timeline
from tests.conftest import SHANGHAI, LiveBot

COMPLAINT = "我去年被人打伤后报了案，派出所一直有案不立，打电话问了好几次也没人管。"
# 15 working days after Monday 23 November 2026 (the day of receipt does not count), at office end.
EXPECTED_DEADLINE = "2026年12月14日 18:00"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


async def test_a_complaint_travels_from_resident_to_officer_and_back_to_closure(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    resident = live_bot.api.user("王女士", language_code="zh-hans", username="wang_nvshi")

    # The resident opens the bot and chooses 我要反映 → 投诉.
    await resident.send("/start")
    menu = await resident.next_message()
    assert "开门评警" in menu.text and "110" in menu.text
    assert ["📝 我要反映"] in menu.buttons
    await resident.press("📝 我要反映")
    kinds = await resident.next_message()
    assert kinds.text == "请选择您要反映的类型："
    assert kinds.buttons == [["投诉", "举报"], ["建议", "咨询"]]
    await resident.press("投诉")
    ask = await resident.next_message()
    assert ask.text.startswith("请描述您要投诉的内容")
    assert kinds.text == "请选择您要反映的类型： 投诉"  # the choice stays visible, its buttons are gone
    assert kinds.buttons == []

    # The resident writes, sees the summary, confirms, and gets number, department and deadline.
    await resident.send(COMPLAINT)
    summary = await resident.next_message()
    assert summary.text == f"请确认您要提交的内容：\n类型：投诉\n内容：{COMPLAINT}"
    await resident.press("✅ 确认提交")
    accepted = await resident.next_message()
    number = re.search(r"工单编号：(KM-20261123-\d{4})", accepted.text)
    assert number, accepted.text
    number = number.group(1)
    assert number == "KM-20261123-0001"
    assert "承办部门：法制、控申部门" in accepted.text
    assert f"答复期限：{EXPECTED_DEADLINE} 前" in accepted.text

    # The petition officer receives the task card, with why it was routed there, and no resident identity.
    card = await officer.next_message()
    assert card.text.startswith(f"📋 新工单 {number}")
    assert "分类：信访 / 执法问题" in card.text and "有案不立" in card.text
    assert COMPLAINT in card.text and f"办理期限：{EXPECTED_DEADLINE}" in card.text
    assert "承办部门：法制、控申部门" in card.text
    assert card.buttons == [["签收"], ["退单", "转派"]]
    assert str(resident.id) not in card.text and "wang_nvshi" not in card.text

    # 签收: the card shows who is responsible and offers reply and close; the resident is told.
    answer = await (await officer.press("签收", message=card)).answered()
    assert answer.text == "已签收，您是该工单的责任人。"
    await live_bot.api.wait_for(lambda: "状态：已签收" in card.text, what="the card shows it is signed for")
    assert "状态：已签收" in card.text and "责任人：李警官" in card.text
    assert card.buttons == [["回复", "办结"], ["申请延期", "退单", "转派"]]
    signed = await resident.next_message()
    assert signed.text == f"您的工单 {number} 已由法制、控申部门签收，正在办理。"

    # Time passes. The 50% reminder falls at 02:00 on 4 December and waits for the working morning;
    # the 80% reminder falls in office hours on 10 December; the overdue notice comes at the deadline.
    for quiet, due in (
        (at(2026, 12, 4, 8, 59), at(2026, 12, 4, 9, 0)),
        (at(2026, 12, 10, 11, 30), at(2026, 12, 10, 11, 37)),
    ):
        live_bot.clock.set(quiet)
        assert await live_bot.sweep() == 0
        live_bot.clock.set(due)
        assert await live_bot.sweep() == 1
        reminder = await officer.next_message()
        assert reminder.text == f"⏰ 提醒：工单 {number} 的办理期限为 {EXPECTED_DEADLINE}，请抓紧办理。"
    deadline = at(2026, 12, 14, 18, 0)
    live_bot.clock.set(deadline + timedelta(minutes=1))
    assert await live_bot.sweep() == 1
    overdue = await officer.next_message()
    assert overdue.text == f"⚠️ 催办：工单 {number} 已超过办理期限（{EXPECTED_DEADLINE}），请立即办理并说明情况。"
    assert await live_bot.sweep() == 0  # nothing fires twice

    # 回复: the officer's words reach the resident, sent by the bot, not forwarded.
    await officer.press("回复", message=card)
    prompt = await officer.next_message()
    assert prompt.text.startswith(f"请输入给群众的答复（工单 {number}）")
    reply = "经核查，已责成派出所依法受理，并将在三日内告知您结果。"
    await officer.send(reply)
    assert (await officer.next_message()).text == f"答复已发送给群众（工单 {number}）。"
    relayed = await resident.next_message()
    assert relayed.text == f"关于您的工单 {number}，承办民警答复如下：\n{reply}"
    assert relayed.method == "sendMessage" and not relayed.forwarded

    # 办结 with a written result; the resident is told the result.
    await officer.press("办结", message=card)
    assert (await officer.next_message()).text.startswith(f"请输入办理结果 / 整改措施（工单 {number}）")
    result = "已立案侦查，办理情况已电话告知当事人。"
    await officer.send(result)
    assert (await officer.next_message()).text == f"工单 {number} 已办结。"
    closed = await resident.next_message()
    assert closed.text == f"您的工单 {number} 已办结。\n办理结果：{result}"

    # Every message each side received, nothing more.
    assert len(resident.messages) == 8
    assert len(officer.messages) == 9
    assert not any(m.forwarded for m in resident.messages + officer.messages)

    timeline = await ticket_timeline(live_bot.rt, number)
    assert [entry.action for entry in timeline] == [
        "submitted", "classified", "dispatched", "signed", "reminded", "reminded", "overdue", "answered", "closed",
    ]
    assert timeline[-1].officer == "李警官" and timeline[-1].note == result
    public = await ticket_timeline(live_bot.rt, number, public_only=True)
    assert [entry.action for entry in public] == ["submitted", "dispatched", "signed", "answered", "closed"]


async def test_a_button_nobody_knows_any_more_says_so_instead_of_acting(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await resident.send("/start")
    menu = await resident.next_message()
    answer = await (await resident.press_data("hotline:confirm", message=menu)).answered()
    assert answer.text == "这个按钮已失效，请发送 /start 重新开始。" and answer.show_alert


async def test_a_forged_task_button_from_a_resident_is_refused(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    resident = live_bot.api.user("王女士")
    await resident.send("/start")
    menu = await resident.next_message()
    answer = await (await resident.press_data("task:sign:1", message=menu)).answered()
    assert answer.text == "您不是已登记的民警，无法操作工单。"
    assert officer.messages[1:] == []


async def test_the_english_locale_follows_telegrams_language(live_bot: LiveBot) -> None:
    visitor = live_bot.api.user("Alice", language_code="en-GB")
    await visitor.send("/start")
    menu = await visitor.next_message()
    assert menu.text.startswith("Hello, this is the Open-Door channel")
    assert ["📝 Report a problem"] in menu.buttons


async def test_a_text_outside_any_conversation_points_back_to_the_menu(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await resident.send("你好")
    reply = await resident.next_message()
    assert reply.text == "请点下方菜单开始，或发送 /start。"
    assert ["📝 我要反映"] in reply.buttons


async def test_a_resident_can_edit_the_description_before_confirming(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await resident.send("/report")
    await resident.next_message()
    await resident.press("咨询")
    await resident.next_message()
    await resident.send("身份证丢了怎么补办")
    await resident.next_message()
    await resident.press("✏️ 修改")
    assert (await resident.next_message()).text == "请重新发送完整的内容："
    await resident.send("身份证丢了怎么补办？需要带什么材料？")
    summary = await resident.next_message()
    assert summary.text.endswith("内容：身份证丢了怎么补办？需要带什么材料？")
    await resident.press("✖️ 取消")
    assert (await resident.next_message()).text.startswith("已取消，没有提交任何内容")


async def test_an_over_long_description_is_refused_and_the_kind_is_kept(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await resident.send("/report")
    await resident.next_message()
    await resident.press("建议")
    await resident.next_message()
    await resident.send("长" * 2001)
    assert (await resident.next_message()).text.startswith("内容太长了（最多 2000 字）")
    await resident.send("建议在地铁站附近增加夜间巡逻。")
    summary = await resident.next_message()
    assert summary.text.startswith("请确认您要提交的内容：\n类型：建议")
