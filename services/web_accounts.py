"""Dashboard accounts: who may sign in, with which role, and the sessions their browsers hold.

A session cookie carries a random token; the database keeps only its SHA-256, the expiry and the
session's CSRF token. Repeated wrong passwords lock the account for a while (config.toml [web]).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.passwords import WeakPassword, check_strength, hash_password, verify_password
from domain.permissions import Role
from services.figures import scope_for, sees_figures
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import WebSessionRow, WebUserRow
from storage.repositories import TicketScope

# Verified against when the username is unknown, so a wrong name costs as long as a wrong password.
_DECOY_HASH = hash_password("not a password of anyone", salt=b"open-door-decoy!")


class AccountError(ValueError):
    """Why an account command was refused, as a key of the `web` texts (and its parameters)."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class SignInRefused(StrEnum):
    WRONG = "web.login_wrong"
    LOCKED = "web.login_locked"


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of one request, with the tickets they may see."""

    user_id: int
    username: str
    display_name: str
    role: str
    department_code: str
    csrf_token: str
    scope: TicketScope

    @property
    def sees_figures(self) -> bool:
        return sees_figures(self.role)


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


async def add_user(rt: Runtime, username: str, password: str, *, role: str, department: str, display_name: str | None = None) -> WebUserRow:
    username = username.strip()
    if not username or len(username) > 60 or any(ch.isspace() for ch in username):
        raise AccountError("web.username_invalid")
    display_name = (display_name or username).strip()
    if not display_name or len(display_name) > 60:
        raise AccountError("web.name_invalid")
    if role not in set(Role):
        raise AccountError("web.role_invalid", roles=", ".join(Role))
    if department not in rt.settings.departments:
        raise AccountError("web.department_invalid", departments=", ".join(rt.settings.departments))
    _check(password, username)
    async with rt.db.unit_of_work() as uow:
        if await uow.web_users.by_username(username) is not None:
            raise AccountError("web.username_taken", username=username)
        user = await uow.web_users.add(
            WebUserRow(
                username=username, display_name=display_name, password_hash=hash_password(password),
                role=role, department_code=department, created_at=rt.now(),
            )
        )
        await uow.commit()
    return user


async def set_password(rt: Runtime, username: str, password: str) -> None:
    """A new password; it also unlocks the account and signs out every browser of it."""
    _check(password, username)
    async with rt.db.unit_of_work() as uow:
        user = await _existing(uow, username)
        await uow.web_users.update(user.id or 0, password_hash=hash_password(password), failed_logins=0, locked_until=None)
        await uow.web_sessions.delete_of_user(user.id or 0)
        await uow.commit()


async def set_active(rt: Runtime, username: str, active: bool) -> None:
    """Disables (signing out every browser) or re-enables an account."""
    async with rt.db.unit_of_work() as uow:
        user = await _existing(uow, username)
        await uow.web_users.update(user.id or 0, active=active, failed_logins=0, locked_until=None)
        if not active:
            await uow.web_sessions.delete_of_user(user.id or 0)
        await uow.commit()


async def list_users(rt: Runtime) -> list[WebUserRow]:
    async with rt.db.unit_of_work() as uow:
        return list(await uow.web_users.all())


async def sign_in(rt: Runtime, username: str, password: str) -> SignedIn | SignInRefused:
    """A new session for a right password; WRONG or LOCKED otherwise (never saying whether the name exists)."""
    now, web = rt.now(), rt.settings.web
    async with rt.db.unit_of_work() as uow:
        user = await uow.web_users.by_username(username.strip())
        if user is None or not user.active:
            verify_password(password, _DECOY_HASH)
            return SignInRefused.WRONG
        if user.locked_until is not None and user.locked_until > now:
            return SignInRefused.LOCKED
        if not verify_password(password, user.password_hash):
            failures = await uow.web_users.count_failure(user.id or 0)
            if failures >= web.max_failed_logins:
                await uow.web_users.update(user.id or 0, failed_logins=0, locked_until=now + timedelta(minutes=web.lockout_minutes))
                await uow.commit()
                return SignInRefused.LOCKED
            await uow.commit()
            return SignInRefused.WRONG
        token = secrets.token_urlsafe(32)
        expires_at = now + timedelta(hours=web.session_hours)
        await uow.web_users.update(user.id or 0, failed_logins=0, locked_until=None, last_login_at=now)
        await uow.web_sessions.delete_expired(now)
        await uow.web_sessions.add(
            WebSessionRow(
                token_hash=_token_hash(token), user_id=user.id or 0, csrf_token=secrets.token_urlsafe(24),
                created_at=now, expires_at=expires_at,
            )
        )
        await uow.commit()
    return SignedIn(token, expires_at)


async def viewer_of(rt: Runtime, token: str | None) -> Viewer | None:
    """Who holds the session `token`, if it is current and their account still active."""
    if not token:
        return None
    async with rt.db.unit_of_work() as uow:
        session = await uow.web_sessions.get(_token_hash(token))
        if session is None or session.expires_at <= rt.now():
            return None
        user = await uow.web_users.get(session.user_id)
    if user is None or not user.active:
        return None
    return Viewer(
        user_id=user.id or 0, username=user.username, display_name=user.display_name, role=user.role,
        department_code=user.department_code, csrf_token=session.csrf_token,
        scope=scope_for(rt, user.role, user.department_code),
    )


async def sign_out(rt: Runtime, token: str) -> None:
    async with rt.db.unit_of_work() as uow:
        await uow.web_sessions.delete(_token_hash(token))
        await uow.commit()


def _check(password: str, username: str) -> None:
    try:
        check_strength(password, username)
    except WeakPassword as weak:
        raise AccountError(str(weak)) from None


async def _existing(uow: UnitOfWork, username: str) -> WebUserRow:
    user = await uow.web_users.by_username(username)
    if user is None:
        raise AccountError("web.username_unknown", username=username)
    return user
