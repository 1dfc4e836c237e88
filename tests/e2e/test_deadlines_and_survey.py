"""Deadlines and the follow-up survey, as officers, supervisors and residents meet them in Telegram."""

from __future__ import annotations

from datetime import datetime

from bot.assembly import build_application, build_runtime, start_polling, stop_polling
from local_botapi import SimUser
from scheduler.sweep import sweep
from services.hotline import Submission, submit_ticket
from services.tasks import close_ticket, sign_for
from tests.conftest import SHANGHAI, LiveBot

COMPLAINT = "我去年被人打伤后报了案，派出所一直有案不立，打电话问了好几次也没人管。"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


async def submit(live_bot: LiveBot, resident: SimUser) -> tuple[int, str]:
    accepted = await submit_ticket(
        live_bot.rt, Submission(resident.id, resident.id, "zh", "complaint", COMPLAINT)
    )
    async with live_bot.rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    return ticket.id, accepted.number


async def closed_ticket(live_bot: LiveBot, officer: SimUser, resident: SimUser) -> tuple[int, str]:
    """A petition submitted Monday 23 Nov 10:00, signed and closed at once."""
    ticket_id, number = await submit(live_bot, resident)
    await sign_for(live_bot.rt, ticket_id, officer.id)
    await close_ticket(live_bot.rt, ticket_id, officer.id, "已依法立案，结果已告知。")
    for _ in range(3):  # card, 签收 notice to the resident, 办结 notice
        await (officer if _ == 0 else resident).next_message()
    return ticket_id, number


async def sweep_at(live_bot: LiveBot, moment: datetime) -> int:
    live_bot.clock.set(moment)
    return await live_bot.sweep()


async def test_a_ticket_nobody_signs_for_reminds_the_department_and_its_head(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    head = await live_bot.register_officer("张主任", "petition", role="head")
    resident = live_bot.api.user("王女士")
    _, number = await submit(live_bot, resident)
    await officer.next_message(), await head.next_message()  # the task cards
    assert await sweep_at(live_bot, at(2026, 11, 24, 17, 59)) == 0
    assert await sweep_at(live_bot, at(2026, 11, 24, 18, 0)) == 1  # 1 working day after receipt
    for person in (officer, head):
        notice = await person.next_message()
        assert notice.text == f"⏰ 工单 {number} 派单后尚未签收，请尽快签收（办理期限 2026年12月14日 18:00）。"


async def test_an_overdue_ticket_escalates_to_supervisors_two_working_days_later(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    supervisor = await live_bot.register_officer("赵局长", "leadership", role="supervisor")
    resident = live_bot.api.user("王女士")
    ticket_id, number = await submit(live_bot, resident)
    await sign_for(live_bot.rt, ticket_id, officer.id)
    await sweep_at(live_bot, at(2026, 12, 14, 18, 0))  # the deadline passes (Monday)
    assert await sweep_at(live_bot, at(2026, 12, 16, 17, 59)) == 0
    assert await sweep_at(live_bot, at(2026, 12, 16, 18, 0)) == 1  # Wednesday: 2 working days later
    escalation = await next_starting(supervisor, "🚨")
    assert escalation == (
        f"🚨 督办：工单 {number}（法制、控申部门）已超期两个工作日仍未办结，办理期限为 2026年12月14日 18:00。"
    )
    assert not any("督办" in m.text for m in officer.messages)


async def test_a_satisfied_resident_is_surveyed_the_next_working_day_and_thanked(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    resident = live_bot.api.user("王女士")
    _, number = await closed_ticket(live_bot, officer, resident)
    assert await sweep_at(live_bot, at(2026, 11, 24, 9, 59)) == 0
    assert await sweep_at(live_bot, at(2026, 11, 24, 10, 0)) == 1
    survey = await resident.next_message()
    assert survey.text == f"您的工单 {number} 已办结。请对办理结果作出评价："
    assert survey.buttons == [["满意", "基本满意", "不满意"]]
    await resident.press("满意", message=survey)
    assert (await resident.next_message()).text == "感谢您的评价！"
    assert survey.text.endswith("您的评价：满意") and survey.buttons == []
    assert await sweep_at(live_bot, at(2026, 12, 31, 10, 0)) == 0  # no reminder, no 未回访


async def test_an_unsatisfied_resident_reopens_the_ticket_and_a_second_time_reaches_supervisors(
    live_bot: LiveBot,
) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    supervisor = await live_bot.register_officer("赵局长", "leadership", role="supervisor")
    resident = live_bot.api.user("王女士")
    ticket_id, number = await closed_ticket(live_bot, officer, resident)

    await sweep_at(live_bot, at(2026, 11, 24, 10, 0))
    await resident.press("不满意", message=await resident.next_message())
    # Half of 15 working days, rounded up: 8 working days after Tuesday 24 November.
    assert (await resident.next_message()).text == (
        f"很抱歉没有让您满意。工单 {number} 已重新交办，新的答复期限：2026年12月04日 18:00 前。"
    )
    reopened = await officer.next_message()
    assert reopened.text.startswith(f"🔁 群众不满意，工单 {number} 重新交办")
    assert "状态：已重新交办" in reopened.text
    assert reopened.buttons == [["回复", "办结"], ["申请延期", "退单", "转派"]]

    await close_ticket(live_bot.rt, ticket_id, officer.id, "已重新调查并当面说明。")
    await resident.next_message()  # closed again
    await sweep_at(live_bot, at(2026, 11, 25, 10, 0))
    await resident.press("不满意", message=await resident.next_message())
    assert (await resident.next_message()).text == f"很抱歉仍未让您满意。工单 {number} 已报送局领导督办。"
    escalation = await next_starting(supervisor, "🚨")
    assert escalation == f"🚨 督办：工单 {number}（法制、控申部门）重新办理后群众仍不满意，请督促处理。"


async def test_an_unanswered_survey_is_reminded_once_then_counts_as_not_surveyed(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    resident = live_bot.api.user("王女士")
    ticket_id, number = await closed_ticket(live_bot, officer, resident)
    await sweep_at(live_bot, at(2026, 11, 24, 10, 0))
    survey = await resident.next_message()
    assert await sweep_at(live_bot, at(2026, 11, 25, 10, 0)) == 1
    reminder = await resident.next_message()
    assert reminder.text.startswith(f"提醒：您的工单 {number} 已办结，还没有收到您的评价")
    assert await sweep_at(live_bot, at(2026, 11, 27, 10, 0)) == 1  # 3 working days after the survey
    assert await sweep_at(live_bot, at(2026, 12, 31, 10, 0)) == 0
    answer = await (await resident.press("满意", message=survey)).answered()
    assert answer.text == "这个工单已经评价过了，谢谢。" and answer.show_alert
    async with live_bot.rt.db.unit_of_work() as uow:
        assert (await uow.tickets.get(ticket_id)).survey_result == "unanswered"


async def test_nobody_can_answer_another_residents_survey(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    resident = live_bot.api.user("王女士")
    stranger = live_bot.api.user("路人")
    ticket_id, _ = await closed_ticket(live_bot, officer, resident)
    await stranger.send("/start")
    menu = await stranger.next_message()
    answer = await (await stranger.press_data(f"survey:{ticket_id}:unsatisfied", message=menu)).answered()
    assert answer.text == "没有找到这个工单。"
    async with live_bot.rt.db.unit_of_work() as uow:
        assert (await uow.tickets.get(ticket_id)).state == "closed"


async def next_starting(person: SimUser, prefix: str) -> str:
    """The next message that starts with `prefix`, passing over others (e.g. the morning digest)."""
    while True:
        message = await person.next_message()
        if (message.text or "").startswith(prefix):
            return message.text


async def test_supervisors_get_a_daily_digest_with_a_chart_once_a_working_day(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    supervisor = await live_bot.register_officer("赵局长", "leadership", role="supervisor")
    resident = live_bot.api.user("王女士")
    _, number = await submit(live_bot, resident)  # Monday 23 November
    await sweep_at(live_bot, at(2026, 11, 24, 8, 29))
    assert supervisor.messages[1:] == []  # nothing before 08:30
    await sweep_at(live_bot, at(2026, 11, 24, 8, 30))
    digest = await supervisor.next_message()
    assert digest.text.splitlines()[:4] == [
        "📊 每日督办简报（11月23日）",
        "昨日受理 1 件，办结 0 件",
        "在办 1 件，其中超期 0 件，24 小时内到期 0 件",
        "近 30 天满意率 —（回访评价 0 件）",
    ]
    chart = await supervisor.next_message()
    assert chart.method == "sendPhoto" and chart.photo
    await sweep_at(live_bot, at(2026, 11, 24, 17, 0))
    await sweep_at(live_bot, at(2026, 11, 28, 9, 0))  # Saturday: no digest
    assert len(supervisor.messages) == 3

    await sweep_at(live_bot, at(2026, 12, 15, 8, 30))  # the day after the deadline
    overdue = await next_starting(supervisor, "📊 每日督办简报（12月14日）")
    assert "在办 1 件，其中超期 1 件" in overdue
    assert f"• {number}｜法制、控申部门｜期限 2026年12月14日 18:00" in overdue
    assert officer.messages and not any((m.text or "").startswith("📊") for m in officer.messages)


async def test_a_restart_in_the_middle_of_a_reminder_schedule_loses_and_repeats_nothing(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    resident = live_bot.api.user("王女士")
    ticket_id, number = await submit(live_bot, resident)
    await sign_for(live_bot.rt, ticket_id, officer.id)
    await sweep_at(live_bot, at(2026, 12, 4, 9, 0))  # the 50% reminder
    assert (await next_starting(officer, "⏰ 提醒")).startswith(f"⏰ 提醒：工单 {number}")

    # The bot goes down; the 80% reminder and the deadline pass while it is away.
    await stop_polling(live_bot.application)
    live_bot.clock.set(at(2026, 12, 15, 9, 0))
    restarted = build_runtime(live_bot.rt.settings, live_bot.clock)
    application = build_application(restarted)
    await start_polling(application)  # its first sweep runs at start-up and catches up
    try:
        late = [await officer.next_message(), await officer.next_message()]
        assert [m.text[:5] for m in late] == ["⏰ 提醒：", "⚠️ 催办"]
        assert await sweep(restarted) == 0
        await officer.expect_no_message()
    finally:
        await stop_polling(application)
        await restarted.db.dispose()
