"""Officers join only with a one-time, expiring invite code bound to a department and a role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from services.runtime import Runtime
from storage.models import InviteRow, OfficerRow

ROLES = ("officer", "head", "supervisor", "admin")
# Unambiguous characters only: officers type these codes by hand.
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 10


class RegistrationRefused(Exception):
    """The code cannot be used; `reason` is a text key the handler shows to the person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Registered:
    department_code: str
    role: str


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def create_invite(rt: Runtime, department: str, role: str = "officer", valid_for: timedelta = timedelta(hours=72)) -> str:
    """Creates a one-time code; only its hash is stored, so a database leak reveals no usable code."""
    if department not in rt.settings.departments:
        raise ValueError(f"unknown department {department!r}; known: {', '.join(rt.settings.departments)}")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    now = rt.now()
    async with rt.db.unit_of_work() as uow:
        await uow.invites.add(
            InviteRow(code_hash=_hash(code), department_code=department, role=role, created_at=now, expires_at=now + valid_for)
        )
        await uow.commit()
    return code


async def register_officer(
    rt: Runtime, code: str, *, telegram_user_id: int, chat_id: int, display_name: str, locale: str
) -> Registered:
    """Binds a Telegram account to the invite's department and role, consuming the code."""
    now = rt.now()
    async with rt.db.unit_of_work() as uow:
        if await uow.officers.by_telegram_id(telegram_user_id) is not None:
            raise RegistrationRefused("register.already")
        invite = await uow.invites.by_hash(_hash(code))
        if invite is None or invite.used_at is not None:
            raise RegistrationRefused("register.invalid")
        if invite.expires_at <= now:
            raise RegistrationRefused("register.expired")
        officer = await uow.officers.add(
            OfficerRow(
                telegram_user_id=telegram_user_id,
                chat_id=chat_id,
                display_name=display_name,
                department_code=invite.department_code,
                role=invite.role,
                locale=locale,
                created_at=now,
            )
        )
        if not await uow.invites.consume(invite.id or 0, officer.id or 0, now):
            raise RegistrationRefused("register.invalid")
        await uow.commit()
    return Registered(invite.department_code, invite.role)


async def revoke_invite(rt: Runtime, code: str) -> bool:
    """Makes an unused code unusable at once; False when no such unused code exists."""
    async with rt.db.unit_of_work() as uow:
        invite = await uow.invites.by_hash(_hash(code))
        if invite is None or invite.used_at is not None:
            return False
        invite.expires_at = rt.now()
        uow.session.add(invite)
        await uow.commit()
        return True


async def list_officers(rt: Runtime) -> list[OfficerRow]:
    async with rt.db.unit_of_work() as uow:
        return list(await uow.officers.all())


async def deactivate_officer(rt: Runtime, officer_id: int) -> OfficerRow | None:
    """Takes effect at once: every action is authorised against the database, not a session."""
    async with rt.db.unit_of_work() as uow:
        officer = await uow.officers.get(officer_id)
        if officer is None:
            return None
        officer.active = False
        uow.session.add(officer)
        await uow.commit()
        return officer
