"""Finds reminders that have fallen due in the database and queues their notices.

Everything comes from the tables, so a restart loses nothing, and each reminder is finished in the
same transaction that queues its messages, so nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.tickets import OPEN_STATES, Action, TicketState
from services.outbox import queue_message
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import OfficerRow, ReminderRow, TicketEventRow, TicketRow

HEAD_ROLE = "head"


async def sweep(rt: Runtime) -> int:
    """Queues every notice that is due now; returns how many reminders fired."""
    now = rt.now()
    fired = 0
    async with rt.db.unit_of_work() as uow:
        for reminder in await uow.reminders.due(now):
            if not await uow.reminders.finish(reminder.id or 0, now):
                continue
            ticket = await uow.tickets.get(reminder.ticket_id)
            if ticket is None or TicketState(ticket.state) not in OPEN_STATES:
                continue
            await _fire(rt, uow, reminder, ticket)
            fired += 1
        await uow.commit()
    if fired:
        rt.wake_dispatcher()
    return fired


async def _fire(rt: Runtime, uow: UnitOfWork, reminder: ReminderRow, ticket: TicketRow) -> None:
    officers = await _handlers_of(uow, ticket)
    if reminder.kind == "overdue":
        action, text_key = Action.OVERDUE, "notice.overdue"
        heads = [o for o in await uow.officers.active_in(ticket.department_code) if o.role == HEAD_ROLE]
        officers = list({o.id: o for o in [*officers, *heads]}.values())
    else:
        action, text_key = Action.REMIND, "notice.reminder"
    for officer in officers:
        await queue_message(
            uow,
            key=f"{reminder.kind}:{reminder.id}:{officer.id}",
            chat_id=officer.chat_id,
            text=rt.texts.get(
                officer.locale, text_key, number=ticket.number, deadline=rt.format_moment(officer.locale, ticket.deadline_at)
            ),
            purpose=reminder.kind,
            ticket_id=ticket.id,
            now=rt.now(),
        )
    await uow.events.append(
        TicketEventRow(ticket_id=ticket.id or 0, at=rt.now(), actor="system", action=action, public=False)
    )


async def _handlers_of(uow: UnitOfWork, ticket: TicketRow) -> Sequence[OfficerRow]:
    """The responsible officer once signed; before that, everyone in the department."""
    if ticket.responsible_officer_id is not None:
        officer = await uow.officers.get(ticket.responsible_officer_id)
        if officer is not None and officer.active:
            return [officer]
    return await uow.officers.active_in(ticket.department_code)
