"""我要反映 from the resident's side: several messages, files, contact choice, FAQ, duplicates, restarts."""

from __future__ import annotations

import re

from sqlmodel import select

from bot.assembly import build_application, build_runtime, start_polling, stop_polling
from local_botapi import SimUser
from storage.models import AttachmentRow, TicketRow
from tests.conftest import LiveBot

NOISE = "楼下KTV每天晚上噪音很大，吵到凌晨两点，严重影响休息。"


async def start_item(resident: SimUser, kind: str = "投诉") -> None:
    await resident.send("/start")
    await resident.next_message()
    await resident.press("📝 我要反映")
    await resident.next_message()
    await resident.press(kind)
    await resident.next_message()


async def confirm(resident: SimUser) -> str:
    await resident.press("✅ 确认提交")
    accepted = await resident.next_message()
    number = re.search(r"KM-\d{8}-\d{4}", accepted.text or "")
    assert number, accepted.text
    return number.group(0)


async def ticket(live_bot: LiveBot, number: str) -> TicketRow:
    async with live_bot.rt.db.unit_of_work() as uow:
        found = await uow.tickets.by_number(number)
    assert found is not None
    return found


async def test_several_messages_and_files_make_one_item_and_reach_the_officer_after_the_card(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("张警官", "business")
    resident = live_bot.api.user("王女士")
    await start_item(resident)

    await resident.send("楼下KTV每天晚上噪音很大。")
    first = await resident.next_message()
    assert first.text.endswith("内容：楼下KTV每天晚上噪音很大。")
    await resident.send("一直吵到凌晨两点。")
    second = await resident.next_message()
    assert "楼下KTV每天晚上噪音很大。\n一直吵到凌晨两点。" in second.text
    await live_bot.api.wait_for(lambda: first.buttons == [], what="the older summary to lose its buttons")
    photo = await resident.send_photo(caption="门口照片")
    with_photo = await resident.next_message()
    assert "附件：1 个" in with_photo.text and "门口照片" in with_photo.text
    await resident.send_location(25.04, 102.71)
    assert "附件：2 个" in (await resident.next_message()).text

    number = await confirm(resident)
    card = await officer.next_message()
    assert card.text.startswith(f"📋 新工单 {number}")
    assert card.text.endswith("📎 附件 2 个（见下方）")
    copies = [await officer.next_message(), await officer.next_message()]
    assert [c.method for c in copies] == ["copyMessage", "copyMessage"]
    assert copies[0].copied_from == (resident.id, photo["message_id"])

    stored = await ticket(live_bot, number)
    assert stored.text == "楼下KTV每天晚上噪音很大。\n一直吵到凌晨两点。\n门口照片"
    assert stored.contact_mode == "real_name" and stored.contact_name == "王女士"
    async with live_bot.rt.db.unit_of_work() as uow:
        rows = (await uow.session.exec(select(AttachmentRow).where(AttachmentRow.ticket_id == stored.id))).all()
    assert [(row.kind, row.latitude) for row in rows] == [("photo", None), ("location", 25.04)]
    assert rows[0].file_id


async def test_a_resident_may_stay_anonymous_or_share_their_own_phone(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await start_item(resident)
    await resident.send(NOISE)
    await resident.next_message()
    await resident.press("📱 留手机号")
    ask = await resident.next_message()
    assert ask.reply_markup["keyboard"][0][0]["request_contact"] is True
    await resident.send_contact("+8613800000000")
    assert (await resident.next_message()).text == "已记录您的手机号。"
    summary = await resident.next_message()
    assert "联系电话：+8613800000000" in summary.text
    number = await confirm(resident)
    assert (await ticket(live_bot, number)).contact_phone == "+8613800000000"

    await start_item(resident, "建议")
    await resident.send("建议在学校门口增设护学岗，早晚高峰安排民警值守。")
    await resident.next_message()
    await resident.press("🙈 匿名提交")
    await live_bot.api.wait_for(
        lambda: "联系方式：匿名" in (resident.messages[-1].text or ""), what="the summary to say anonymous"
    )
    number = await confirm(resident)
    anonymous = await ticket(live_bot, number)
    assert anonymous.contact_mode == "anonymous" and anonymous.contact_name is None


async def test_a_question_the_faq_answers_creates_no_ticket_unless_the_resident_still_needs_help(
    live_bot: LiveBot,
) -> None:
    resident = live_bot.api.user("王女士")
    await start_item(resident, "咨询")
    await resident.send("身份证丢了怎么补办？")
    await resident.next_message()
    await resident.press("✅ 确认提交")
    answer = await resident.next_message()
    assert answer.text.startswith("💡") and answer.buttons == [["✅ 已解决", "🙋 仍需人工"]]
    await resident.press("✅ 已解决")
    assert (await resident.next_message()).text.startswith("很高兴帮到您")
    async with live_bot.rt.db.unit_of_work() as uow:
        assert await uow.tickets.count() == 0

    await start_item(resident, "咨询")
    await resident.send("身份证丢了怎么补办？")
    await resident.next_message()
    await resident.press("✅ 确认提交")
    await resident.next_message()
    await resident.press("🙋 仍需人工")
    accepted = await resident.next_message()
    assert "工单编号" in accepted.text


async def test_sending_the_same_problem_again_offers_to_add_it_to_the_open_ticket(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("张警官", "business")
    resident = live_bot.api.user("王女士")
    await start_item(resident)
    await resident.send(NOISE)
    await resident.next_message()
    number = await confirm(resident)
    await officer.next_message()  # the card

    await start_item(resident)
    await resident.send(NOISE + "请尽快处理！")
    await resident.next_message()
    await resident.press("✅ 确认提交")
    offer = await resident.next_message()
    assert number in offer.text
    await resident.press("➕ 补充到该工单")
    assert (await resident.next_message()).text == f"已补充到工单 {number}，并转给承办民警。"
    notice = await officer.next_message()
    assert notice.text.startswith(f"💬 群众就工单 {number} 补充") and "请尽快处理" in notice.text
    async with live_bot.rt.db.unit_of_work() as uow:
        assert await uow.tickets.count() == 1


async def test_a_restart_in_the_middle_of_a_description_loses_nothing(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await start_item(resident)
    await resident.send("楼下KTV每天晚上噪音很大。")
    await resident.next_message()

    await stop_polling(live_bot.application)
    restarted = build_runtime(live_bot.rt.settings, live_bot.clock)
    application = build_application(restarted)
    await start_polling(application)
    try:
        await resident.send("一直吵到凌晨两点。")
        summary = await resident.next_message()
        assert "内容：楼下KTV每天晚上噪音很大。\n一直吵到凌晨两点。" in summary.text
        await resident.press("✅ 确认提交")
        assert "工单编号" in (await resident.next_message()).text
    finally:
        await stop_polling(application)
        await restarted.db.dispose()
