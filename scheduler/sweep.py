"""Finds reminders that have fallen due in the database and acts on them.

Everything comes from the tables, so a restart loses nothing (what fell due while the bot was down
fires at start-up), and each reminder is finished in the same transaction that queues its messages,
so nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from domain.tickets import OPEN_STATES, UNSIGNED_STATES, Action, TicketState
from scheduler.digest import queue_digest_if_due
from services.deadlines import Reminder, schedule_survey_follow_ups
from services.outbox import queue_message
from services.recipients import Recipients
from services.runtime import Runtime
from services.survey import escalate_to_supervisors, send_survey
from storage.database import UnitOfWork
from storage.models import OfficerRow, ReminderRow, TicketEventRow, TicketRow



@dataclass(frozen=True)
class Sweeping:
    """What every reminder of one batch shares: the runtime, the transaction, the recipient look-ups."""

    rt: Runtime
    uow: UnitOfWork
    recipients: Recipients


Fire = Callable[[Sweeping, ReminderRow, TicketRow], Awaitable[bool]]


SWEEP_BATCH = 500


async def sweep(rt: Runtime) -> int:
    """Acts on every reminder due now, in committed batches; returns how many fired (the rest were moot)."""
    now = rt.now()
    fired = 0
    while True:
        async with rt.db.unit_of_work() as uow:
            batch = await uow.reminders.due(now, limit=SWEEP_BATCH)
            finished = await uow.reminders.finish([r.id or 0 for r in batch], now) if batch else set()
            tickets = await uow.tickets.get_many(r.ticket_id for r in batch if r.id in finished)
            sweeping = Sweeping(rt, uow, Recipients(uow))
            for reminder in batch:
                ticket = tickets.get(reminder.ticket_id)
                if reminder.id in finished and ticket is not None and await _FIRES[reminder.kind](sweeping, reminder, ticket):
                    fired += 1
            await uow.commit()
        if fired:
            rt.wake_dispatcher()
        if len(batch) < SWEEP_BATCH:
            break
    await queue_digest_if_due(rt)
    return fired


async def _tell(s: Sweeping, reminder: ReminderRow, ticket: TicketRow, officers: list[OfficerRow], text_key: str) -> None:
    for officer in officers:
        await queue_message(
            s.uow,
            key=f"{reminder.kind}:{reminder.id}:{officer.id}",
            chat_id=officer.chat_id,
            text=s.rt.texts.get(
                officer.locale, text_key, number=ticket.number, deadline=s.rt.format_moment(officer.locale, ticket.deadline_at)
            ),
            purpose=reminder.kind,
            ticket_id=ticket.id,
            now=s.rt.now(),
        )


async def _record(s: Sweeping, ticket: TicketRow, action: str) -> None:
    await s.uow.events.append(
        TicketEventRow(ticket_id=ticket.id or 0, at=s.rt.now(), actor="system", action=action, public=False),
        flush=False,
    )


def _is_open(ticket: TicketRow) -> bool:
    return TicketState(ticket.state) in OPEN_STATES


def _awaits_survey(ticket: TicketRow) -> bool:
    return ticket.state == TicketState.CLOSED and ticket.survey_result is None


async def _sign_for(s: Sweeping, reminder: ReminderRow, ticket: TicketRow) -> bool:
    """Nobody signed in time: the department and its head are told."""
    if TicketState(ticket.state) not in UNSIGNED_STATES:
        return False
    await _tell(s, reminder, ticket, await s.recipients.handlers_and_heads(ticket), "notice.sign_overdue")
    await _record(s, ticket, "sign_reminded")
    return True


async def _remind(s: Sweeping, reminder: ReminderRow, ticket: TicketRow) -> bool:
    if not _is_open(ticket):
        return False
    await _tell(s, reminder, ticket, await s.recipients.handlers_of(ticket), "notice.reminder")
    await _record(s, ticket, Action.REMIND)
    return True


async def _overdue(s: Sweeping, reminder: ReminderRow, ticket: TicketRow) -> bool:
    """催办: the handlers and the department head."""
    if not _is_open(ticket):
        return False
    await _tell(s, reminder, ticket, await s.recipients.handlers_and_heads(ticket), "notice.overdue")
    await _record(s, ticket, Action.OVERDUE)
    return True


async def _escalate(s: Sweeping, reminder: ReminderRow, ticket: TicketRow) -> bool:
    """督办: still open two working days after the deadline."""
    if not _is_open(ticket):
        return False
    await escalate_to_supervisors(s.rt, s.uow, s.recipients, ticket, "notice.escalated", f"overdue:{reminder.id}")
    return True


async def _survey(s: Sweeping, reminder: ReminderRow, ticket: TicketRow) -> bool:
    if not _awaits_survey(ticket):
        return False
    await send_survey(s.rt, s.uow, ticket, "survey.question", f"survey:{reminder.id}")
    await schedule_survey_follow_ups(s.rt, s.uow, ticket, s.rt.now())
    await _record(s, ticket, "survey_sent")
    return True


async def _survey_reminder(s: Sweeping, reminder: ReminderRow, ticket: TicketRow) -> bool:
    if not _awaits_survey(ticket):
        return False
    await send_survey(s.rt, s.uow, ticket, "survey.reminder", f"survey:{reminder.id}")
    return True


async def _survey_expired(s: Sweeping, reminder: ReminderRow, ticket: TicketRow) -> bool:
    """未回访: the resident never answered; the ticket's life ends without a rating."""
    if not _awaits_survey(ticket):
        return False
    await s.uow.tickets.move(ticket.id or 0, TicketState.CLOSED, survey_result="unanswered")
    await _record(s, ticket, "survey_unanswered")
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
