"""A ticket's history, built from its immutable events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.runtime import Runtime


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    actor: str
    officer: str | None
    action: str
    note: str | None


class TicketNotFound(LookupError):
    pass


async def ticket_timeline(rt: Runtime, number: str, *, public_only: bool = False) -> list[TimelineEntry]:
    """Events of the ticket in order; `public_only` gives what the resident may see."""
    async with rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(number)
        if ticket is None:
            raise TicketNotFound(number)
        entries = []
        for event in await uow.events.timeline(ticket.id or 0, public_only=public_only):
            officer = await uow.officers.get(event.actor_officer_id) if event.actor_officer_id else None
            entries.append(
                TimelineEntry(event.at, event.actor, officer.display_name if officer else None, event.action, event.note)
            )
        return entries
