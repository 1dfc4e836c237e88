"""Finds reminders that have fallen due in the database and acts on them.

Everything comes from the tables, so a restart loses nothing (what fell due while the bot was down
fires at start-up), and each reminder is finished in the same transaction that queues its messages,
so nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from domain.tickets import OPEN_STATES, UNSIGNED_STATES, Action, TicketState
from scheduler.digest import queue_digest_if_due
from services.deadlines import Reminder, schedule_survey_follow_ups
from services.outbox import queue_message
from services.recipients import handlers_and_heads, handlers_of
from services.runtime import Runtime
from services.survey import escalate_to_supervisors, send_survey
from storage.database import UnitOfWork
from storage.models import OfficerRow, ReminderRow, TicketEventRow, TicketRow

Fire = Callable[[Runtime, UnitOfWork, ReminderRow, TicketRow], Awaitable[bool]]


async def sweep(rt: Runtime) -> int:
    """Acts on every reminder due now; returns how many fired (the rest had become moot)."""
    now = rt.now()
    fired = 0
    async with rt.db.unit_of_work() as uow:
        for reminder in await uow.reminders.due(now):
            if not await uow.reminders.finish(reminder.id or 0, now):
                continue
            ticket = await uow.tickets.get(reminder.ticket_id)
            if ticket is not None and await _FIRES[reminder.kind](rt, uow, reminder, ticket):
                fired += 1
        await uow.commit()
    if fired:
        rt.wake_dispatcher()
    await queue_digest_if_due(rt)
    return fired


async def _tell(
    rt: Runtime, uow: UnitOfWork, reminder: ReminderRow, ticket: TicketRow, officers: list[OfficerRow], text_key: str
) -> None:
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


async def _record(rt: Runtime, uow: UnitOfWork, ticket: TicketRow, action: str) -> None:
    await uow.events.append(
        TicketEventRow(ticket_id=ticket.id or 0, at=rt.now(), actor="system", action=action, public=False)
    )


def _is_open(ticket: TicketRow) -> bool:
    return TicketState(ticket.state) in OPEN_STATES


def _awaits_survey(ticket: TicketRow) -> bool:
    return ticket.state == TicketState.CLOSED and ticket.survey_result is None


async def _sign_for(rt: Runtime, uow: UnitOfWork, reminder: ReminderRow, ticket: TicketRow) -> bool:
    """Nobody signed in time: the department and its head are told."""
    if TicketState(ticket.state) not in UNSIGNED_STATES:
        return False
    await _tell(rt, uow, reminder, ticket, await handlers_and_heads(uow, ticket), "notice.sign_overdue")
    await _record(rt, uow, ticket, "sign_reminded")
    return True


async def _remind(rt: Runtime, uow: UnitOfWork, reminder: ReminderRow, ticket: TicketRow) -> bool:
    if not _is_open(ticket):
        return False
    await _tell(rt, uow, reminder, ticket, await handlers_of(uow, ticket), "notice.reminder")
    await _record(rt, uow, ticket, Action.REMIND)
    return True


async def _overdue(rt: Runtime, uow: UnitOfWork, reminder: ReminderRow, ticket: TicketRow) -> bool:
    """催办: the handlers and the department head."""
    if not _is_open(ticket):
        return False
    await _tell(rt, uow, reminder, ticket, await handlers_and_heads(uow, ticket), "notice.overdue")
    await _record(rt, uow, ticket, Action.OVERDUE)
    return True


async def _escalate(rt: Runtime, uow: UnitOfWork, reminder: ReminderRow, ticket: TicketRow) -> bool:
    """督办: still open two working days after the deadline."""
    if not _is_open(ticket):
        return False
    await escalate_to_supervisors(rt, uow, ticket, "notice.escalated", f"overdue:{reminder.id}")
    return True


async def _survey(rt: Runtime, uow: UnitOfWork, reminder: ReminderRow, ticket: TicketRow) -> bool:
    if not _awaits_survey(ticket):
        return False
    await send_survey(rt, uow, ticket, "survey.question", f"survey:{reminder.id}")
    await schedule_survey_follow_ups(rt, uow, ticket, rt.now())
    await _record(rt, uow, ticket, "survey_sent")
    return True


async def _survey_reminder(rt: Runtime, uow: UnitOfWork, reminder: ReminderRow, ticket: TicketRow) -> bool:
    if not _awaits_survey(ticket):
        return False
    await send_survey(rt, uow, ticket, "survey.reminder", f"survey:{reminder.id}")
    return True


async def _survey_expired(rt: Runtime, uow: UnitOfWork, reminder: ReminderRow, ticket: TicketRow) -> bool:
    """未回访: the resident never answered; the ticket's life ends without a rating."""
    if not _awaits_survey(ticket):
        return False
    await uow.tickets.move(ticket.id or 0, TicketState.CLOSED, survey_result="unanswered")
    await _record(rt, uow, ticket, "survey_unanswered")
    return True


_FIRES: dict[str, Fire] = {
    Reminder.SIGN_FOR: _sign_for,
    Reminder.REMIND: _remind,
    Reminder.OVERDUE: _overdue,
    Reminder.ESCALATE: _escalate,
    Reminder.SURVEY: _survey,
    Reminder.SURVEY_REMINDER: _survey_reminder,
    Reminder.SURVEY_EXPIRED: _survey_expired,
}
