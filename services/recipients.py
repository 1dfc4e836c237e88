"""Who is told about a ticket: its handlers, the department head, the supervisors."""

from __future__ import annotations

from storage.database import UnitOfWork
from storage.models import OfficerRow, TicketRow

HEAD_ROLE = "head"
SUPERVISOR_ROLE = "supervisor"


async def handlers_of(uow: UnitOfWork, ticket: TicketRow) -> list[OfficerRow]:
    """The responsible officer while active; before signing (or after they left), the whole department."""
    if ticket.responsible_officer_id is not None:
        officer = await uow.officers.get(ticket.responsible_officer_id)
        if officer is not None and officer.active:
            return [officer]
    return list(await uow.officers.active_in(ticket.department_code))


async def handlers_and_heads(uow: UnitOfWork, ticket: TicketRow) -> list[OfficerRow]:
    heads = [o for o in await uow.officers.active_in(ticket.department_code) if o.role == HEAD_ROLE]
    return list({o.id: o for o in [*await handlers_of(uow, ticket), *heads]}.values())


async def supervisors(uow: UnitOfWork) -> list[OfficerRow]:
    return list(await uow.officers.active_with_role(SUPERVISOR_ROLE))
