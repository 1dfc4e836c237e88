"""查询进度: a resident's own tickets, their state, department, deadline and public history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


from domain.tickets import OPEN_STATES, TicketState
from services.runtime import Runtime
from services.timeline import TimelineEntry, ticket_timeline
from storage.models import TicketRow

# The longest "my tickets" list; older tickets are still found by number.
MY_TICKETS_LIMIT = 10


@dataclass(frozen=True)
class TicketSummary:
    number: str
    state: str
    department_code: str
    deadline_at: datetime
    is_open: bool


@dataclass(frozen=True)
class TicketStatus:
    summary: TicketSummary
    timeline: list[TimelineEntry]


def _summary(ticket: TicketRow) -> TicketSummary:
    return TicketSummary(
        ticket.number,
        ticket.state,
        ticket.department_code,
        ticket.deadline_at,
        TicketState(ticket.state) in OPEN_STATES,
    )


def normalise_number(text: str) -> str:
    """`km-20261123-0001` and full-width forms are the same number."""
    return "".join(text.split()).upper().replace("－", "-")


async def ticket_status(rt: Runtime, telegram_user_id: int, number: str) -> TicketStatus | None:
    """The ticket if it is this resident's own; None for anyone else's number or an unknown one."""
    number = normalise_number(number)
    async with rt.db.unit_of_work() as uow:
        resident = await uow.residents.by_telegram_id(telegram_user_id)
        ticket = await uow.tickets.by_number(number)
        if resident is None or ticket is None or ticket.resident_id != resident.id:
            return None
        summary = _summary(ticket)
    return TicketStatus(summary, await ticket_timeline(rt, number, public_only=True))


async def my_tickets(rt: Runtime, telegram_user_id: int) -> list[TicketSummary]:
    """The resident's latest tickets, newest first."""
    async with rt.db.unit_of_work() as uow:
        resident = await uow.residents.by_telegram_id(telegram_user_id)
        if resident is None:
            return []
        rows = await uow.tickets.of_resident(resident.id or 0, limit=MY_TICKETS_LIMIT)
        return [_summary(row) for row in rows]
