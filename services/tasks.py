"""What an officer does with a task: sign for it, reply to the resident, close it with a result.

Every action is authorised here against the database (never against callback data), moves the
ticket with a compare-and-set so a race has one winner, and writes an event.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.tickets import OPEN_STATES, Action, InvalidTransition, ResultRequired, TicketState, check_closable, next_state
from services.deadlines import schedule_survey
from services.outbox import notify_resident
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import OfficerRow, TicketEventRow, TicketRow


class TaskRefused(Exception):
    """The action is not allowed; `reason` is a text key the handler shows to the officer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TaskOutcome:
    ticket: TicketRow
    officer: OfficerRow


async def _authorised(uow: UnitOfWork, ticket_id: int, telegram_user_id: int) -> tuple[TicketRow, OfficerRow]:
    officer = await uow.officers.by_telegram_id(telegram_user_id)
    if officer is None or not officer.active:
        raise TaskRefused("task.not_officer")
    ticket = await uow.tickets.get(ticket_id)
    if ticket is None or ticket.department_code != officer.department_code:
        raise TaskRefused("task.not_yours")
    return ticket, officer


def _refusal_for_state(ticket: TicketRow, officer: OfficerRow) -> TaskRefused:
    if TicketState(ticket.state) not in OPEN_STATES:
        return TaskRefused("task.already_closed")
    if ticket.responsible_officer_id not in (None, officer.id):
        return TaskRefused("task.taken")
    return TaskRefused("task.wrong_state")


async def _move(uow: UnitOfWork, ticket: TicketRow, officer: OfficerRow, action: Action, **values: object) -> None:
    try:
        target = next_state(TicketState(ticket.state), action)
    except InvalidTransition:
        raise _refusal_for_state(ticket, officer) from None
    if not await uow.tickets.move(ticket.id or 0, ticket.state, state=target, **values):
        await uow.session.refresh(ticket)
        raise _refusal_for_state(ticket, officer)


async def _record(uow: UnitOfWork, rt: Runtime, ticket: TicketRow, officer: OfficerRow, action: Action, note: str | None) -> int:
    event = TicketEventRow(
        ticket_id=ticket.id or 0, at=rt.now(), actor="officer", actor_officer_id=officer.id, action=action, note=note, public=True
    )
    await uow.events.append(event)
    return event.id or 0


def _require_responsible(ticket: TicketRow, officer: OfficerRow) -> None:
    if TicketState(ticket.state) not in OPEN_STATES:
        raise TaskRefused("task.already_closed")
    if ticket.responsible_officer_id != officer.id:
        raise TaskRefused("task.not_responsible")


async def sign_for(rt: Runtime, ticket_id: int, telegram_user_id: int) -> TaskOutcome:
    """Makes the officer responsible for the ticket; the first to sign wins."""
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _authorised(uow, ticket_id, telegram_user_id)
        await _move(uow, ticket, officer, Action.SIGN, responsible_officer_id=officer.id)
        await _record(uow, rt, ticket, officer, Action.SIGN, None)
        await notify_resident(uow, rt, ticket, f"signed:{ticket.id}:{ticket.reopen_count}", "notice.signed")
        await uow.commit()
    rt.wake_dispatcher()
    return TaskOutcome(ticket, officer)


async def check_can_reply(rt: Runtime, ticket_id: int, telegram_user_id: int) -> TaskOutcome:
    """Refuses early, before the officer types a reply that could not be sent."""
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _authorised(uow, ticket_id, telegram_user_id)
        _require_responsible(ticket, officer)
        return TaskOutcome(ticket, officer)


async def reply_to_resident(rt: Runtime, ticket_id: int, telegram_user_id: int, text: str) -> TaskOutcome:
    """Relays the officer's reply to the resident (the bot sends it; the officer stays unseen)."""
    reply = text.strip()
    if not reply:
        raise TaskRefused("task.empty_reply")
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _authorised(uow, ticket_id, telegram_user_id)
        _require_responsible(ticket, officer)
        await _move(uow, ticket, officer, Action.REPLY)
        event_id = await _record(uow, rt, ticket, officer, Action.REPLY, reply)
        await notify_resident(uow, rt, ticket, f"reply:{ticket.id}:{event_id}", "notice.reply", reply=reply)
        await uow.commit()
    rt.wake_dispatcher()
    return TaskOutcome(ticket, officer)


async def close_ticket(rt: Runtime, ticket_id: int, telegram_user_id: int, result: str) -> TaskOutcome:
    """Closes with a written result (销号制); the resident is told the result."""
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _authorised(uow, ticket_id, telegram_user_id)
        _require_responsible(ticket, officer)
        try:
            cleaned = check_closable(result, ticket.responsible_officer_id)
        except ResultRequired:
            raise TaskRefused("task.result_required") from None
        now = rt.now()
        await _move(uow, ticket, officer, Action.CLOSE, closed_at=now, result=cleaned)
        await _record(uow, rt, ticket, officer, Action.CLOSE, cleaned)
        await uow.reminders.finish_all_for(ticket.id or 0, now)
        await schedule_survey(rt, uow, ticket, now)
        await notify_resident(
            uow, rt, ticket, f"closed:{ticket.id}:{ticket.reopen_count}", "notice.closed", result=cleaned
        )
        await uow.commit()
    rt.wake_dispatcher()
    return TaskOutcome(ticket, officer)
