"""Queues outgoing messages as outbox rows; the dispatcher sends them (the one door out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import OutboxRow, TicketRow
from storage.repositories import PENDING


# Residents who reached us without Telegram (Open311) have no chat; Telegram ids start at 1.
NO_TELEGRAM_CHAT = 0


async def queue_call(
    uow: UnitOfWork,
    *,
    key: str,
    method: str,
    payload: dict[str, Any],
    purpose: str,
    now: datetime,
    ticket_id: int | None = None,
) -> bool:
    """Queues one Bot API call (payload = its parameters); False when this key was already queued."""
    row = OutboxRow(
        key=key,
        chat_id=payload["chat_id"],
        method=method,
        payload=payload,
        purpose=purpose,
        ticket_id=ticket_id,
        status=PENDING,
        created_at=now,
        next_attempt_at=now,
    )
    return await uow.outbox.enqueue(row)


async def queue_message(
    uow: UnitOfWork,
    *,
    key: str,
    chat_id: int,
    text: str,
    purpose: str,
    now: datetime,
    ticket_id: int | None = None,
    reply_markup: dict[str, Any] | None = None,
) -> bool:
    """Queues a sendMessage; returns False when a message with this key was already queued."""
    payload: dict[str, Any] = {"chat_id": chat_id, "text": text}
    if reply_markup is not None:
        payload["reply_markup"] = reply_markup
    return await queue_call(
        uow, key=key, method="sendMessage", payload=payload, purpose=purpose, now=now, ticket_id=ticket_id
    )


async def send_later(rt: Runtime, *, key: str, chat_id: int, text: str, purpose: str) -> None:
    """Queues one message in a unit of work of its own and wakes the dispatcher."""
    async with rt.db.unit_of_work() as uow:
        await queue_message(uow, key=key, chat_id=chat_id, text=text, purpose=purpose, now=rt.now())
        await uow.commit()
    rt.wake_dispatcher()


async def notify_resident(
    uow: UnitOfWork, rt: Runtime, ticket: TicketRow, key: str, text_key: str, *, reply_markup: dict[str, Any] | None = None, **params: str | datetime
) -> None:
    """Queues a notice to the ticket's resident, in their language."""
    resident = await uow.residents.get(ticket.resident_id)
    if resident is None or resident.chat_id == NO_TELEGRAM_CHAT:
        return  # e.g. an Open311 request: the other system asks us for its status instead
    department = rt.department_name(resident.locale, ticket.department_code)
    # Moments are written in the resident's own language and the bureau's time zone.
    localized = {k: rt.format_moment(resident.locale, v) if isinstance(v, datetime) else v for k, v in params.items()}
    text = rt.texts.get(resident.locale, text_key, number=ticket.number, department=department, **localized)
    await queue_message(
        uow,
        key=key,
        chat_id=resident.chat_id,
        text=text,
        purpose=text_key,
        ticket_id=ticket.id,
        now=rt.now(),
        reply_markup=reply_markup,
    )
