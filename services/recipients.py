"""Who is told about a ticket: its handlers, the department head, the supervisors.

One `Recipients` lives for one unit of work, so a sweep over hundreds of reminders looks each
department up once.
"""

from __future__ import annotations

from storage.database import UnitOfWork
from storage.models import OfficerRow, TicketRow

HEAD_ROLE = "head"
SUPERVISOR_ROLE = "supervisor"


class Recipients:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._departments: dict[str, list[OfficerRow]] = {}
        self._supervisors: list[OfficerRow] | None = None

    async def department(self, code: str) -> list[OfficerRow]:
        if code not in self._departments:
            self._departments[code] = list(await self.uow.officers.active_in(code))
        return self._departments[code]

    async def handlers_of(self, ticket: TicketRow) -> list[OfficerRow]:
        """The responsible officer while active; before signing (or after they left), the whole department."""
        if ticket.responsible_officer_id is not None:
            officer = await self.uow.officers.get(ticket.responsible_officer_id)
            if officer is not None and officer.active:
                return [officer]
        return await self.department(ticket.department_code)

    async def handlers_and_heads(self, ticket: TicketRow) -> list[OfficerRow]:
        heads = [o for o in await self.department(ticket.department_code) if o.role == HEAD_ROLE]
        return list({o.id: o for o in [*await self.handlers_of(ticket), *heads]}.values())

    async def supervisors(self) -> list[OfficerRow]:
        if self._supervisors is None:
            self._supervisors = list(await self.uow.officers.active_with_role(SUPERVISOR_ROLE))
        return self._supervisors
