"""Presses no honest button could make: callback data naming tickets, extension requests and surveys
the person may not touch, malformed data, and the data of old buttons. None of them changes anything.

The world: a resident's ticket signed by its officer (with an extension request waiting for the head),
one not yet signed, and one closed (its survey due), all in the business department. Each example
brings a new stranger (a resident, or an officer or head of another department) who presses something
forged and then, in case the press opened a prompt, goes on typing or pressing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from local_botapi import SimUser
from services.hotline import Submission, submit_ticket
from services.tasks import close_ticket, request_extension, sign_for
from storage.models import TicketRow
from tests.fuzz.conftest import FUZZ, ErrorLog, FuzzBot
from tests.fuzz.inputs import Done, Forge, Input, answered, callback_data, inputs, perform

COMPLAINTS = (
    "楼下KTV每天晚上噪音很大，吵到凌晨两点，严重影响休息。",
    "小区门口每天早上乱停车，堵住消防通道，物业管不了，请交警来看看。",
    "出入境大厅排队时间太长，网上预约系统经常打不开，希望改进。",
)
TASK_ACTIONS = ["sign", "reply", "close", "extend", "send_back", "reroute", "void", "assign"]


@dataclass(frozen=True)
class World:
    signed: TicketRow  # signed by `officer`; an extension request of his waits for the head
    unsigned: TicketRow
    closed: TicketRow  # its survey is due
    extension_id: int
    officer: SimUser
    owner: SimUser

    def __repr__(self) -> str:
        return "<the world>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


async def _ticket(bot: FuzzBot, owner: SimUser, text: str) -> TicketRow:
    accepted = await submit_ticket(bot.rt, Submission(owner.id, owner.id, "zh", "complaint", text))
    async with bot.rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    assert ticket is not None and ticket.department_code == "business", ticket
    return ticket


@pytest.fixture
async def world(fuzz_bot: FuzzBot) -> World:
    officer = await fuzz_bot.register_officer("张警官", "business")
    await fuzz_bot.register_officer("王主任", "business", role="head")
    owner = fuzz_bot.api.user("王女士")
    signed, unsigned, closed = [await _ticket(fuzz_bot, owner, text) for text in COMPLAINTS]
    for ticket in (signed, closed):
        await sign_for(fuzz_bot.rt, ticket.id or 0, officer.id)
    asked = await request_extension(fuzz_bot.rt, signed.id or 0, officer.id, 3, "需要调取监控")
    await close_ticket(fuzz_bot.rt, closed.id or 0, officer.id, "已整改")
    return World(signed, unsigned, closed, asked.request.id or 0, officer, owner)


# Forged data, with the world's ids as {signed}, {unsigned}, {closed}, {extension} and {number}
# (the signed ticket's number), filled in when pressed.
OURS = ["{signed}", "{unsigned}", "{closed}", "0", "999999", "-1", "²", "٣", "1e3"]
forgeries = st.one_of(
    st.builds("task:{}:{}".format, st.sampled_from(TASK_ACTIONS) | st.text(max_size=8), st.sampled_from(OURS)),
    st.builds("ext:{}:{}".format, st.sampled_from(["{extension}", "0", "²"]), st.sampled_from(["approve", "reject", "maybe"])),
    st.builds("survey:{}:{}".format, st.sampled_from(OURS), st.sampled_from(["satisfied", "basically_satisfied", "unsatisfied", "x"])),
    st.builds("status:{}".format, st.sampled_from(["{number}", "KM-1", ""])),
    st.builds("{}:{}".format, st.sampled_from(["pick", "days"]), st.sampled_from(["leadership", "triage", "petition", "3", "99999", "٣"])),
    callback_data,
)


def filled_in(forgery: str, world: World) -> str:
    names = {
        "signed": world.signed.id, "unsigned": world.unsigned.id, "closed": world.closed.id,
        "extension": world.extension_id, "number": world.signed.number,
    }
    for name, value in names.items():
        forgery = forgery.replace("{" + name + "}", str(value))
    return forgery


@asynccontextmanager
async def stranger(bot: FuzzBot, who: str) -> AsyncIterator[SimUser]:
    if who == "resident":
        yield bot.api.user("路人")
        return
    department, role = who.split()
    async with bot.officer("外部门民警", department, role=role) as officer:
        yield officer


async def state_of(bot: FuzzBot, world: World) -> tuple[object, ...]:
    """Everything a forged press could change: the tickets, their history, the extension, their notices."""
    ids = [world.signed.id, world.unsigned.id, world.closed.id]
    async with bot.rt.db.unit_of_work() as uow:
        tickets = [await uow.tickets.get(ticket_id or 0) for ticket_id in ids]
        events = [len(await uow.events.timeline(ticket_id or 0)) for ticket_id in ids]
        extension = await uow.extensions.get(world.extension_id)
        notices = sorted(row.key for row in await uow.outbox.all() if row.ticket_id in ids)
    facts = [
        (t.state, t.department_code, t.responsible_officer_id, t.deadline_at, t.closed_at, t.reopen_count, t.result)
        for t in tickets
        if t is not None
    ]
    return (facts, events, extension.model_dump() if extension else None, notices)


@FUZZ
@given(
    who=st.sampled_from(["resident", "petition officer", "petition head", "triage officer", "discipline head"]),
    forgery=forgeries,
    then=st.lists(inputs, max_size=3),
)
@example(who="petition head", forgery="ext:{extension}:approve", then=[])
@example(who="petition officer", forgery="task:reroute:{unsigned}", then=[Forge("pick:petition")])
@example(who="resident", forgery="task:sign:²", then=[])
@example(who="resident", forgery="survey:²:satisfied", then=[])
@example(who="petition head", forgery="ext:²:approve", then=[])
async def test_no_forged_press_changes_a_ticket_and_each_gets_an_answer(
    fuzz_bot: FuzzBot, world: World, errors: ErrorLog, who: str, forgery: str, then: list[Input]
) -> None:
    before = await state_of(fuzz_bot, world)
    logged = len(errors.records)
    async with stranger(fuzz_bot, who) as person:
        sent: list[dict[str, Any]] = []
        for thing in [Forge(filled_in(forgery, world)), *then]:
            seen = len(person.messages)
            done = await perform(fuzz_bot, person, sent, thing)
            if done is not None:
                await answered(fuzz_bot, person, thing, done, seen)
            await fuzz_bot.settle()
    assert errors.since(logged) == []
    assert await state_of(fuzz_bot, world) == before
    assert not any(text in (m.text or "") for m in person.messages for text in COMPLAINTS), person.transcript()


async def closed_by(bot: FuzzBot, officer: SimUser) -> TicketRow:
    """A new ticket the officer signed for and closed."""
    ticket = await _ticket(bot, bot.api.user("李先生"), COMPLAINTS[0])
    await sign_for(bot.rt, ticket.id or 0, officer.id)
    await close_ticket(bot.rt, ticket.id or 0, officer.id, "已整改")
    async with bot.rt.db.unit_of_work() as uow:
        closed = await uow.tickets.get(ticket.id or 0)
    assert closed is not None
    return closed


@FUZZ
@given(action=st.sampled_from(TASK_ACTIONS), then=st.lists(inputs, max_size=3))
async def test_the_old_buttons_of_a_closed_tickets_card_change_nothing(
    fuzz_bot: FuzzBot, errors: ErrorLog, action: str, then: list[Input]
) -> None:
    """The officer who closed a ticket presses what its card offered before (a client may still show it)."""
    logged = len(errors.records)
    async with fuzz_bot.officer("张警官", "business") as officer:
        closed = await closed_by(fuzz_bot, officer)
        card = await officer.next_message()
        sent: list[dict[str, Any]] = []
        for thing in [Forge(f"task:{action}:{closed.id}"), *then]:
            seen = len(officer.messages)
            done = (
                Done(await officer.press_data(f"task:{action}:{closed.id}", message=card))
                if isinstance(thing, Forge)
                else await perform(fuzz_bot, officer, sent, thing)
            )
            if done is not None:
                await answered(fuzz_bot, officer, thing, done, seen)
            await fuzz_bot.settle()
    assert errors.since(logged) == []
    async with fuzz_bot.rt.db.unit_of_work() as uow:
        now = await uow.tickets.get(closed.id or 0)
    assert now is not None and now.model_dump() == closed.model_dump()
