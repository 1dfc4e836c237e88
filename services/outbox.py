"""Queues outgoing messages as outbox rows; the dispatcher sends them (the one door out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.database import UnitOfWork
from storage.models import OutboxRow
from storage.repositories import PENDING


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
    row = OutboxRow(
        key=key,
        chat_id=chat_id,
        method="sendMessage",
        payload=payload,
        purpose=purpose,
        ticket_id=ticket_id,
        status=PENDING,
        created_at=now,
        next_attempt_at=now,
    )
    return await uow.outbox.enqueue(row)
