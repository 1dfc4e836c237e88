"""The officer's desk besides the card buttons: my tasks, one ticket in full, triage, group chats,
and what a resident adds by replying to the officer's answer."""

from __future__ import annotations

from dataclasses import dataclass

from domain.permissions import Do, Role, refusal
from domain.tickets import OPEN_STATES, TicketState
from services.cards import CardReader, actor_of, contact_line, desk_of, facts_of, officer_reader, task_card_text, task_keyboard
from services.outbox import queue_message
from services.runtime import Runtime
from services.tasks import TaskRefused
from services.timeline import TimelineEntry, ticket_timeline
from storage.models import DepartmentGroupRow, OfficerRow, TicketEventRow, TicketRow

RELAYED_REPLY = "notice.reply"


async def _officer(rt: Runtime, uow, telegram_user_id: int) -> OfficerRow:  # type: ignore[no-untyped-def]
    officer = await uow.officers.by_telegram_id(telegram_user_id)
    if officer is None or not officer.active:
        raise TaskRefused("task.not_officer")
    return officer


async def my_tasks(rt: Runtime, telegram_user_id: int) -> list[TicketRow]:
    """Open tickets of the officer's department that are theirs or nobody's yet; overdue first."""
    async with rt.db.unit_of_work() as uow:
        officer = await _officer(rt, uow, telegram_user_id)
        tickets = await uow.tickets.open_in_department(OPEN_STATES, officer.department_code)
        mine_or_free = [
            t for t in tickets
            if t.responsible_officer_id in (None, officer.id) or officer.role == Role.HEAD
        ]
        return [t for t in mine_or_free if refusal(actor_of(officer), Do.VIEW, facts_of(t), desk_of(rt)) is None]


async def triage_queue(rt: Runtime, telegram_user_id: int) -> tuple[CardReader, list[TicketRow]]:
    async with rt.db.unit_of_work() as uow:
        officer = await _officer(rt, uow, telegram_user_id)
        if officer.department_code != rt.settings.routing.triage_department:
            raise TaskRefused("task.not_yours")
        return officer_reader(officer), list(await uow.tickets.open_in_department([TicketState.TRIAGE], officer.department_code))


@dataclass(frozen=True)
class TicketDetail:
    card: str
    keyboard: dict | None
    timeline: list[TimelineEntry]


async def ticket_detail(rt: Runtime, telegram_user_id: int, number: str) -> TicketDetail:
    """The card and the full timeline (internal events too), if this officer may see the ticket."""
    async with rt.db.unit_of_work() as uow:
        officer = await _officer(rt, uow, telegram_user_id)
        ticket = await uow.tickets.by_number(number.strip().upper())
        if ticket is None or refusal(actor_of(officer), Do.VIEW, facts_of(ticket), desk_of(rt)) is not None:
            raise TaskRefused("task.not_found")
        responsible = await uow.officers.get(ticket.responsible_officer_id) if ticket.responsible_officer_id else None
        reader = officer_reader(officer)
        card = task_card_text(
            rt, officer.locale, ticket, responsible.display_name if responsible else None,
            contact=contact_line(rt, reader, ticket),
        )
        keyboard = task_keyboard(rt, reader, ticket)
    return TicketDetail(card, keyboard, await ticket_timeline(rt, ticket.number))


async def bind_group(rt: Runtime, telegram_user_id: int, chat_id: int) -> str:
    """The department head makes this group the department's work group; returns the department."""
    async with rt.db.unit_of_work() as uow:
        officer = await _officer(rt, uow, telegram_user_id)
        if officer.role != Role.HEAD:
            raise TaskRefused("group.head_only")
        await uow.groups.bind(
            DepartmentGroupRow(
                chat_id=chat_id, department_code=officer.department_code, bound_by_officer_id=officer.id or 0,
                bound_at=rt.now(),
            )
        )
        await uow.commit()
        return officer.department_code


async def relay_resident_reply(rt: Runtime, chat_id: int, replied_message_id: int, text: str) -> bool | None:
    """A resident answers an officer's relayed reply: pass it to the responsible officer.

    Returns True when passed on, False when the ticket is closed, None when the message they
    replied to was no officer's answer (the caller treats it as an ordinary message).
    """
    async with rt.db.unit_of_work() as uow:
        relayed = await uow.outbox.by_sent_message(chat_id, replied_message_id)
        if relayed is None or relayed.purpose != RELAYED_REPLY or relayed.ticket_id is None:
            return None
        ticket = await uow.tickets.get(relayed.ticket_id)
        if ticket is None or TicketState(ticket.state) not in OPEN_STATES:
            return False
        event = TicketEventRow(
            ticket_id=ticket.id or 0, at=rt.now(), actor="resident", action="resident_replied", note=text, public=True
        )
        await uow.events.append(event)
        officer = await uow.officers.get(ticket.responsible_officer_id) if ticket.responsible_officer_id else None
        if officer is not None and officer.active:
            await queue_message(
                uow,
                key=f"resident_reply:{event.id}",
                chat_id=officer.chat_id,
                text=rt.texts.get(officer.locale, "notice.resident_reply", number=ticket.number, text=text),
                purpose="resident_reply",
                ticket_id=ticket.id,
                now=rt.now(),
            )
        await uow.commit()
    rt.wake_dispatcher()
    return True
