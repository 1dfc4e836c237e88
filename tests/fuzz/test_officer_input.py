"""Whatever an officer sends at any step of working a card: the bot answers, never fails, and the
ticket only ever goes where the card's own buttons could send it."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from local_botapi import BotMessage, SimUser
from services.cards import callback_data
from services.hotline import Submission, submit_ticket
from services.tasks import sign_for
from storage.models import TicketRow
from tests.fuzz.conftest import FUZZ, ErrorLog, FuzzBot
from tests.fuzz.inputs import Input, Say, Tamper, answered, inputs, perform

NOISE = "楼下KTV每天晚上噪音很大，吵到凌晨两点，严重影响休息。"
# The card's actions that ask for more (a text, a department, a number of days) before acting.
PROMPTING = ["reply", "close", "extend", "send_back", "reroute"]
# Data an officer's modified client might put on the department and days buttons.
tails = st.sampled_from(["leadership", "triage", "business", "petition", "nowhere", "0", "99999", "٣", "²", "-1", ""])
officer_inputs = st.one_of(inputs, st.builds(Tamper, st.integers(0, 20), tails))


async def signed_ticket(bot: FuzzBot, officer: SimUser) -> tuple[TicketRow, BotMessage]:
    """A new ticket in the business department the officer has signed for, and its card."""
    resident = bot.api.user("居民")
    accepted = await submit_ticket(bot.rt, Submission(resident.id, resident.id, "zh", "complaint", NOISE))
    assert accepted.department_code == "business", accepted
    async with bot.rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    assert ticket is not None
    card = await officer.next_message()
    await sign_for(bot.rt, ticket.id or 0, officer.id)
    return ticket, card


@FUZZ
@given(action=st.sampled_from(PROMPTING), things=st.lists(officer_inputs, min_size=1, max_size=4))
# Once failed: 转派 to a department that receives no tickets (pick:leadership) was carried out.
@example(action="reroute", things=[Tamper(0, "leadership")])
@example(action="extend", things=[Tamper(0, "²"), Say("需要调取监控")])
async def test_whatever_an_officer_sends_while_working_a_card_gets_an_answer_and_nothing_fails(
    fuzz_bot: FuzzBot, errors: ErrorLog, action: str, things: list[Input]
) -> None:
    logged = len(errors.records)
    async with fuzz_bot.officer("警官", "business") as officer:
        ticket, card = await signed_ticket(fuzz_bot, officer)
        sent: list[dict[str, Any]] = []
        # The card is signed; its new buttons are on their way (a second later: the pace Telegram allows).
        await (await officer.press_data(callback_data(action, ticket.id or 0), message=card)).answered()
        await fuzz_bot.settle()
        for thing in things:
            seen = len(officer.messages)
            done = await perform(fuzz_bot, officer, sent, thing)
            if done is not None:
                await answered(fuzz_bot, officer, thing, done, seen)
            await fuzz_bot.settle()
    assert errors.since(logged) == []
    async with fuzz_bot.rt.db.unit_of_work() as uow:
        now = await uow.tickets.by_number(ticket.number)
    assert now is not None
    assert fuzz_bot.rt.settings.departments[now.department_code].receives_tickets, now.department_code
