"""The officers' desk in Telegram: every action, every refusal, and who gets to see what."""

from __future__ import annotations

import asyncio

from local_botapi import BotMessage, SimUser
from services.hotline import Submission, submit_ticket
from services.officers import deactivate_officer
from tests.conftest import LiveBot

PETITION = "我去年被人打伤后报了案，派出所一直有案不立，打电话问了好几次也没人管。"
DISCIPLINE = "派出所民警吃拿卡要，还充当保护伞，收了老板的红包就不查了。"


async def submit(live_bot: LiveBot, resident: SimUser, text: str = PETITION) -> str:
    accepted = await submit_ticket(live_bot.rt, Submission(resident.id, resident.id, "zh", "complaint", text))
    return accepted.number


async def card_of(officer: SimUser, number: str) -> BotMessage:
    while True:
        message = await officer.next_message()
        if (message.text or "").startswith("📋") and number in message.text:
            return message


async def shows(live_bot: LiveBot, message: BotMessage, text: str) -> None:
    await live_bot.api.wait_for(lambda: text in (message.text or ""), what=f"the card to show {text!r}")


async def test_two_officers_racing_to_sign_leave_exactly_one_responsible(live_bot: LiveBot) -> None:
    first = await live_bot.register_officer("李警官", "petition")
    second = await live_bot.register_officer("陈警官", "petition")
    number = await submit(live_bot, live_bot.api.user("王女士"))
    cards = [await card_of(first, number), await card_of(second, number)]
    presses = await asyncio.gather(first.press("签收", message=cards[0]), second.press("签收", message=cards[1]))
    answers = sorted([(await press.answered()).text for press in presses])
    assert answers[0] == "已签收，您是该工单的责任人。"
    assert answers[1] in ("该工单已由其他民警签收。", "该工单刚被其他人处理过，请看更新后的工单。")
    for card in cards:
        await shows(live_bot, card, "状态：已签收")
    assert cards[0].text.count("责任人：") == 1 and cards[0].text == cards[1].text


async def test_a_department_group_sees_the_card_and_who_signed_for_it(live_bot: LiveBot) -> None:
    head = await live_bot.register_officer("张主任", "petition", role="head")
    officer = await live_bot.register_officer("李警官", "petition")
    group = live_bot.api.group("法制大队工作群")
    await head.send("/bind_group", chat=group)
    assert (await group.next_message()).text == "本群已绑定为“法制、控申部门”的工作群，新工单会同时发到这里。"
    number = await submit(live_bot, live_bot.api.user("王女士"))
    group_card = await card_of(group, number)
    assert group_card.buttons == [["签收"], ["退单", "转派"]]  # a group gets no head-only buttons
    await (await officer.press("签收", message=group_card)).answered()
    await shows(live_bot, group_card, "责任人：李警官")
    await live_bot.api.wait_for(lambda: any("责任人：李警官" in (m.text or "") for m in head.messages))
    # 回复 pressed in the group continues in the officer's private chat, never in the group.
    await officer.press("回复", message=group_card)
    prompt = await next_text(officer, "请输入给群众的答复")
    assert prompt.chat_id == officer.id


async def next_text(person: SimUser, prefix: str) -> BotMessage:
    while True:
        message = await person.next_message()
        if (message.text or "").startswith(prefix):
            return message


async def test_only_the_head_can_bind_a_group(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    group = live_bot.api.group("法制大队工作群")
    await officer.send("/bind_group", chat=group)
    assert (await group.next_message()).text == "只有部门负责人可以绑定工作群。"


async def test_sending_back_goes_to_triage_and_triage_assigns_it_teaching_the_classifier(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    duty = await live_bot.register_officer("值班员", "triage")
    business = await live_bot.register_officer("刘警官", "business")
    number = await submit(live_bot, live_bot.api.user("王女士"))
    card = await card_of(officer, number)
    await officer.press("退单", message=card)
    await next_text(officer, f"请输入退单理由（工单 {number}）")
    await officer.send("这是户籍业务，不归法制部门。")
    assert (await next_text(officer, "工单")).text == f"工单 {number} 已退回分拣。"
    await shows(live_bot, card, "工单 " + number + " 已转交其他部门办理。")
    assert card.buttons == []

    triage_card = await card_of(duty, number)
    assert triage_card.buttons == [["分派"]]
    await duty.send("/triage")
    assert (await duty.next_message()).text == "待分拣工单 1 件："
    await duty.next_message()
    await duty.press("分派", message=triage_card)
    picker = await next_text(duty, "请选择要转交的部门")
    assert ["业务部门（治安、交管、户政、出入境等）"] in picker.buttons and ["局领导、督办"] not in picker.buttons
    await duty.press("业务部门（治安、交管、户政、出入境等）", message=picker)
    await live_bot.api.wait_for(lambda: picker.text.startswith(f"工单 {number} 已分派给业务部门"))
    assert "承办部门：业务部门" in (await card_of(business, number)).text
    async with live_bot.rt.db.unit_of_work() as uow:
        corrections = await uow.corrections.all()
    assert [(c.predicted_category, c.corrected_category, c.source) for c in corrections] == [
        ("petition", "business", "triage")
    ]


async def test_rerouting_to_discipline_hides_the_content_from_the_first_department(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    inspector = await live_bot.register_officer("纪检员", "discipline")
    number = await submit(live_bot, live_bot.api.user("王女士"))
    card = await card_of(officer, number)
    await officer.press("转派", message=card)
    picker = await next_text(officer, "请选择要转交的部门")
    await officer.press("纪检监察、督察部门", message=picker)
    await shows(live_bot, card, "已转交其他部门办理")
    assert PETITION not in card.text
    assert "承办部门：纪检监察、督察部门" in (await card_of(inspector, number)).text
    await officer.send(f"/task {number}")
    assert (await officer.next_message()).text == "没有找到这个工单，或您无权查看。"


async def test_an_extension_approved_moves_the_deadline_and_tells_the_resident(live_bot: LiveBot) -> None:
    head = await live_bot.register_officer("张主任", "petition", role="head")
    officer = await live_bot.register_officer("李警官", "petition")
    resident = live_bot.api.user("王女士")
    number = await submit(live_bot, resident)
    card = await card_of(officer, number)
    await (await officer.press("签收", message=card)).answered()
    await resident.next_message()  # signed for
    await shows(live_bot, card, "状态：已签收")
    await officer.press("申请延期", message=card)
    days = await next_text(officer, f"需要延期几个工作日（工单 {number}）")
    await officer.press("5", message=days)
    await live_bot.api.wait_for(lambda: days.text.startswith("请输入延期理由"))
    await officer.send("需调取外地监控录像")
    assert (await next_text(officer, "延期申请")).text == f"延期申请已提交部门负责人审批（工单 {number}）。"
    request = await next_text(head, "⏳ 延期申请")
    assert "延期：5 个工作日" in request.text and "理由：需调取外地监控录像" in request.text
    await head.press("批准", message=request)
    await live_bot.api.wait_for(lambda: request.text.endswith("已批准。"))
    assert (await next_text(officer, "您对工单")).text == f"您对工单 {number} 的延期申请已批准，新的期限：2026年12月21日 18:00。"
    assert (await resident.next_message()).text == (
        f"您的工单 {number} 需要更多时间办理：需调取外地监控录像\n新的答复期限：2026年12月21日 18:00 前。"
    )
    await shows(live_bot, card, "办理期限：2026年12月21日 18:00")
    again = await (await head.press_data("ext:1:approve", message=request)).answered()
    assert again.text == "该延期申请已经审批过了。"


async def test_an_extension_rejected_keeps_the_deadline_and_the_resident_hears_nothing(live_bot: LiveBot) -> None:
    head = await live_bot.register_officer("张主任", "petition", role="head")
    officer = await live_bot.register_officer("李警官", "petition")
    resident = live_bot.api.user("王女士")
    number = await submit(live_bot, resident)
    card = await card_of(officer, number)
    await (await officer.press("签收", message=card)).answered()
    await shows(live_bot, card, "状态：已签收")
    await officer.press("申请延期", message=card)
    days = await next_text(officer, "需要延期几个工作日")
    await officer.press("3", message=days)
    await live_bot.api.wait_for(lambda: days.text.startswith("请输入延期理由"))
    await officer.send("当事人联系不上")
    await next_text(officer, "延期申请已提交")
    await head.press("不批准", message=await next_text(head, "⏳ 延期申请"))
    assert (await next_text(officer, "您对工单")).text == f"您对工单 {number} 的延期申请未获批准，期限仍为 2026年12月14日 18:00。"
    await resident.next_message()  # only the 签收 notice
    await resident.expect_no_message()


async def test_an_officer_cannot_ask_for_an_extension_of_someone_elses_ticket(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    other = await live_bot.register_officer("陈警官", "petition")
    number = await submit(live_bot, live_bot.api.user("王女士"))
    card = await card_of(officer, number)
    await (await officer.press("签收", message=card)).answered()
    other_card = await card_of(other, number)
    await shows(live_bot, other_card, "状态：已签收")
    answer = await (await other.press("申请延期", message=other_card)).answered()
    assert answer.text == "只有签收该工单的责任人才能答复和办结。" and answer.show_alert


async def test_voiding_is_for_the_head_and_the_resident_is_told_why(live_bot: LiveBot) -> None:
    head = await live_bot.register_officer("张主任", "petition", role="head")
    officer = await live_bot.register_officer("李警官", "petition")
    resident = live_bot.api.user("王女士")
    number = await submit(live_bot, resident, "买彩票加微信12345必中大奖")
    async with live_bot.rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(number)
        await uow.tickets.move(ticket.id, ticket.state, department_code="petition", state="dispatched")
        await uow.commit()
    await head.send(f"/task {number}")
    head_card = await head.next_message()
    assert head_card.buttons[-1][-1] == "无效"
    forged = await (await officer.press_data(f"task:void:{ticket.id}", message=head_card)).answered()
    assert forged.text == "只有部门负责人可以这样做。"
    await head.press("无效", message=head_card)
    await next_text(head, f"请输入作废理由（工单 {number}）")
    await head.send("广告信息")
    assert (await next_text(head, "工单")).text == f"工单 {number} 已作废。"
    notice = await resident.next_message()
    assert notice.text == f"您的反映（工单 {number}）经核实不属于受理范围，已作结案处理。说明：广告信息"
    live_bot.clock.advance(days=30)
    await live_bot.sweep()
    await resident.expect_no_message()  # a void ticket is never surveyed


async def test_refusals_explain_themselves_are_logged_and_change_nothing(live_bot: LiveBot, caplog) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    outsider = await live_bot.register_officer("刘警官", "business")
    resident = live_bot.api.user("王女士")
    number = await submit(live_bot, resident)
    card = await card_of(officer, number)
    ticket_id = int(card.button_data("签收").split(":")[-1])

    wrong_department = await (await outsider.press_data(f"task:sign:{ticket_id}", message=card)).answered()
    assert wrong_department.text == "没有找到这个工单，或您无权查看。"
    assert f"refused sign on {number}" in caplog.text
    garbage = await (await officer.press_data("task:sign:not-a-number", message=card)).answered()
    assert garbage.text == "这个按钮已失效，请发送 /start 重新开始。"
    unknown_action = await (await officer.press_data(f"task:delete:{ticket_id}", message=card)).answered()
    assert unknown_action.text == "这个按钮已失效，请发送 /start 重新开始。"
    resident_forging = await (await resident.press_data(f"task:close:{ticket_id}", message=card)).answered()
    assert resident_forging.text == "您不是已登记的民警，无法操作工单。"
    assert f"refused close on ticket id {ticket_id} by a non-officer" in caplog.text

    async with live_bot.rt.db.unit_of_work() as uow:
        officer_id = (await uow.officers.by_telegram_id(officer.id)).id
    await deactivate_officer(live_bot.rt, officer_id)
    deactivated = await (await officer.press("签收", message=card)).answered()
    assert deactivated.text == "您不是已登记的民警，无法操作工单。"
    async with live_bot.rt.db.unit_of_work() as uow:
        assert (await uow.tickets.get(ticket_id)).state == "dispatched"


async def test_a_stale_button_says_what_happened_instead_of_acting(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    number = await submit(live_bot, live_bot.api.user("王女士"))
    card = await card_of(officer, number)
    old_keyboard = dict(card.reply_markup)
    await (await officer.press("签收", message=card)).answered()
    await shows(live_bot, card, "状态：已签收")
    ticket_id = int(old_keyboard["inline_keyboard"][0][0]["callback_data"].split(":")[-1])
    again = await (await officer.press_data(f"task:sign:{ticket_id}", message=card)).answered()
    assert again.text == "该工单当前状态不允许此操作。"


async def test_invite_codes_expire_and_work_once(live_bot: LiveBot) -> None:
    from datetime import timedelta

    from services.officers import create_invite

    code = await create_invite(live_bot.rt, "petition", valid_for=timedelta(hours=1))
    first, second, late = live_bot.api.user("甲"), live_bot.api.user("乙"), live_bot.api.user("丙")
    await first.send(f"/register {code}")
    assert (await first.next_message()).text.startswith("登记成功")
    await second.send(f"/register {code}")
    assert (await second.next_message()).text == "邀请码无效或已被使用。"
    expiring = await create_invite(live_bot.rt, "petition", valid_for=timedelta(hours=1))
    live_bot.clock.advance(hours=2)
    await late.send(f"/register {expiring}")
    assert (await late.next_message()).text == "邀请码已过期，请向管理员重新申请。"


async def test_a_discipline_report_reaches_only_the_discipline_department_and_no_officer_sees_who_sent_it(
    live_bot: LiveBot,
) -> None:
    petition = await live_bot.register_officer("李警官", "petition")
    business = await live_bot.register_officer("刘警官", "business")
    inspector = await live_bot.register_officer("纪检员", "discipline")
    supervisor = await live_bot.register_officer("赵局长", "leadership", role="supervisor")
    resident = live_bot.api.user("王女士", username="wang_nvshi")
    number = await submit(live_bot, resident, DISCIPLINE)
    assert "民警违法违纪" in (await card_of(inspector, number)).text
    for outsider in (petition, business):
        await outsider.send(f"/task {number}")
        assert (await next_text(outsider, "没有找到")).text == "没有找到这个工单，或您无权查看。"
    await supervisor.send(f"/task {number}")
    seen = await supervisor.next_message()
    assert DISCIPLINE in seen.text and seen.buttons == []  # supervisors see, they do not act
    everything = [m.text or "" for person in (petition, business, inspector, supervisor) for m in person.messages]
    assert not any(str(resident.id) in text or "wang_nvshi" in text or "王女士" in text for text in everything)
    assert not any(DISCIPLINE in (m.text or "") for person in (petition, business) for m in person.messages)


async def test_mytasks_lists_overdue_first_and_task_shows_the_whole_timeline(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    resident = live_bot.api.user("王女士")
    first = await submit(live_bot, resident)
    live_bot.clock.advance(days=10)
    second = await submit(live_bot, resident)
    await card_of(officer, first)  # both new-ticket cards are in, so none comes between the answers below
    await card_of(officer, second)
    live_bot.clock.advance(days=12)  # the first is overdue now, the second not yet
    await officer.send("/mytasks")
    listing = await next_text(officer, "待办工单")
    lines = listing.text.splitlines()
    assert lines[0] == "待办工单 2 件（超期在前）："
    assert lines[1].startswith(f"⚠️ {first}｜已派单") and lines[2].startswith(f"• {second}｜已派单")
    await officer.send(f"/task {first}")
    await next_text(officer, "📋")
    timeline = await officer.next_message()
    assert "受理" in timeline.text and "自动分类" in timeline.text and "派单" in timeline.text


async def test_a_residents_answer_to_the_officers_reply_goes_back_to_that_officer(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    resident = live_bot.api.user("王女士")
    number = await submit(live_bot, resident)
    card = await card_of(officer, number)
    await (await officer.press("签收", message=card)).answered()
    await resident.next_message()
    await shows(live_bot, card, "状态：已签收")
    await officer.press("回复", message=card)
    await next_text(officer, "请输入给群众的答复")
    await officer.send("请问您报案的回执编号是多少？")
    relayed = await resident.next_message()
    # Rows go out in order: once the card shows 已答复, the relayed answer's message id is recorded.
    await shows(live_bot, card, "状态：已答复")
    await resident.send_raw(text="回执编号是A2025-778", reply_to_message=relayed.payload)
    assert (await resident.next_message()).text == "已转给承办民警。"
    forwarded = await next_text(officer, "💬")
    assert forwarded.text == f"💬 群众就工单 {number} 补充：\n回执编号是A2025-778"


async def test_a_discipline_report_naming_a_unit_is_hidden_from_that_units_own_supervisor(live_bot: LiveBot) -> None:
    inspector = await live_bot.register_officer("纪检员", "discipline")
    own_supervisor = await live_bot.register_officer("交警大队教导员", "business", role="supervisor")
    bureau_supervisor = await live_bot.register_officer("赵局长", "leadership", role="supervisor")
    number = await submit(live_bot, live_bot.api.user("王女士"), "交警大队有民警吃拿卡要，收了红包就不扣车。")
    await card_of(inspector, number)
    await own_supervisor.send(f"/task {number}")
    assert (await own_supervisor.next_message()).text == "没有找到这个工单，或您无权查看。"
    await bureau_supervisor.send(f"/task {number}")
    assert "吃拿卡要" in (await bureau_supervisor.next_message()).text
    # Overdue, it shows in the bureau's digest but not in the named unit's.
    live_bot.clock.set(live_bot.clock.now().replace(year=2026, month=12, day=15, hour=1))  # 09:00 in Shanghai
    await live_bot.sweep()
    bureau_digest = await next_text(bureau_supervisor, "📊")
    own_digest = await next_text(own_supervisor, "📊")
    assert number in bureau_digest.text and number not in own_digest.text
