"""Supervisors ask the bot for figures, the ranking and the ledger; heads get their department's, officers nothing."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from local_botapi import BotMessage, SimUser
from services.appraisal import Appraisal, submit_appraisal
from services.hotline import Submission, submit_ticket
from services.ledger import HEADERS
from services.tasks import close_ticket, sign_for
from tests.conftest import LiveBot

PETITION = "我去年被人打伤后报了案，派出所一直有案不立，打电话问了好几次也没人管。"
DISCIPLINE = "派出所民警吃拿卡要，还充当保护伞，收了老板的红包就不查了。"


async def submit(live_bot: LiveBot, text: str) -> str:
    resident = live_bot.api.user("王女士")
    return (await submit_ticket(live_bot.rt, Submission(resident.id, resident.id, "zh", "complaint", text))).number


async def handle(live_bot: LiveBot, officer: SimUser, number: str, result: str) -> None:
    async with live_bot.rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(number)
    await sign_for(live_bot.rt, ticket.id, officer.id)
    await close_ticket(live_bot.rt, ticket.id, officer.id, result)


async def answer(person: SimUser, method: str = "sendMessage", starting: str = "") -> BotMessage:
    """The next message of that kind, passing over task cards and notices the bot sent meanwhile."""
    while True:
        message = await person.next_message()
        if message.method == method and (message.text or "").startswith(starting):
            return message


def workbook(live_bot: LiveBot, message: BotMessage):  # type: ignore[no-untyped-def]
    data = live_bot.api.state.files[message.payload["document"]["file_id"]].data
    return load_workbook(io.BytesIO(data))


async def test_a_supervisor_gets_the_months_figures_and_a_chart(live_bot: LiveBot) -> None:
    supervisor = await live_bot.register_officer("督办王", "leadership", role="supervisor")
    officer = await live_bot.register_officer("李警官", "petition")
    await handle(live_bot, officer, await submit(live_bot, PETITION), "已立案侦查，并电话告知当事人")
    await submit(live_bot, PETITION)
    await supervisor.send("/stats")
    # Not just "📊": the daily digest, which may fall due meanwhile, starts with it too.
    figures = await answer(supervisor, starting="📊 工单统计")
    assert figures.text.splitlines()[:2] == ["📊 工单统计 2026-11（全局）", "受理 2 件，办结 1 件，办结率 50.0%"]
    assert "• 法制、控申部门：受理 2，办结 1" in figures.text
    chart = await answer(supervisor, "sendPhoto")
    assert live_bot.api.state.files[chart.payload["photo"][0]["file_id"]].data.startswith(b"\x89PNG")


async def test_a_period_the_bot_does_not_know_gets_the_usage(live_bot: LiveBot) -> None:
    supervisor = await live_bot.register_officer("督办王", "leadership", role="supervisor")
    await supervisor.send("/stats yesterday")
    assert (await supervisor.next_message()).text == "用法：/stats [today|week|month|YYYY-MM]，例如 /stats 2026-11"


async def test_an_officer_gets_no_figures_no_ranking_and_no_ledger(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("李警官", "petition")
    for command in ("/stats", "/ranking", "/ledger"):
        await officer.send(command)
        assert (await officer.next_message()).text == "统计、排名和台账仅供督办、管理员和部门负责人查看。"


async def test_the_ranking_scores_units_by_their_appraisals_and_tickets(live_bot: LiveBot) -> None:
    supervisor = await live_bot.register_officer("督办王", "leadership", role="supervisor")
    resident = live_bot.api.user("赵先生")
    for rating in ("satisfied", "satisfied", "unsatisfied"):
        await submit_appraisal(
            live_bot.rt, Appraisal(resident.id, resident.id, "zh", "xishan_station", rating, {}, None)
        )
    await submit_appraisal(live_bot.rt, Appraisal(resident.id, resident.id, "zh", "panlong_station", "satisfied", {}, None))
    await supervisor.send("/ranking")
    ranking = await answer(supervisor, starting="🏅")
    lines = ranking.text.splitlines()
    assert lines[0] == "🏅 绩效考评 2026-11"
    # Appraisals only: 盘龙 1 ÷ 1 = 100%, 西山 2 ÷ 3 = 66.7%.
    assert lines[1] == "1. 盘龙派出所　100.0 分（按期 —｜满意 —｜评议 100.0%）"
    assert lines[2] == "2. 西山派出所　66.7 分（按期 —｜满意 —｜评议 66.7%）"


async def test_a_supervisor_ledger_holds_every_department_and_a_heads_only_their_own(live_bot: LiveBot) -> None:
    supervisor = await live_bot.register_officer("督办王", "leadership", role="supervisor")
    head = await live_bot.register_officer("张主任", "petition", role="head")
    petition = await submit(live_bot, PETITION)
    discipline = await submit(live_bot, DISCIPLINE)
    await supervisor.send("/ledger")
    sent = await answer(supervisor, "sendDocument")
    assert sent.text == "📒 台账 2026-11：共 2 条"
    assert sent.payload["document"]["file_name"] == "台账-2026-11.xlsx"
    rows = list(workbook(live_bot, sent)["台账"].iter_rows(values_only=True))
    assert rows[0] == HEADERS
    assert {row[0] for row in rows[1:]} == {petition, discipline}
    async with live_bot.rt.db.unit_of_work() as uow:
        assert (await uow.tickets.by_number(discipline)).department_code == "discipline"
    await head.send("/ledger 2026-11")
    own = await answer(head, "sendDocument")
    assert [row[0] for row in workbook(live_bot, own)["台账"].iter_rows(min_row=2, values_only=True)] == [petition]


async def test_a_head_sees_the_figures_of_their_own_department_only(live_bot: LiveBot) -> None:
    head = await live_bot.register_officer("张主任", "petition", role="head")
    await submit(live_bot, PETITION)
    await submit(live_bot, DISCIPLINE)
    await head.send("/stats month")
    figures = await answer(head, starting="📊 工单统计")
    assert figures.text.splitlines()[:2] == ["📊 工单统计 2026-11（法制、控申部门）", "受理 1 件，办结 0 件，办结率 0.0%"]
    assert "纪检" not in figures.text
