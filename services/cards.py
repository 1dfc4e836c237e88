"""The task card an officer receives for a routed ticket, and its buttons."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.tickets import TicketState
from services.outbox import queue_message
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import OfficerRow, TicketRow

CALLBACK_PREFIX = "task"


def callback_data(action: str, ticket_id: int) -> str:
    return f"{CALLBACK_PREFIX}:{action}:{ticket_id}"


def parse_callback(data: str) -> tuple[str, int] | None:
    """Returns (action, ticket_id) for well-formed task callback data, else None."""
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != CALLBACK_PREFIX or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])


def _buttons_for(state: str) -> list[str]:
    if state in (TicketState.DISPATCHED, TicketState.TRIAGE):
        return ["sign"]
    if state in (TicketState.SIGNED, TicketState.ANSWERED, TicketState.REOPENED):
        return ["reply", "close"]
    return []


def task_keyboard(rt: Runtime, locale: str, ticket: TicketRow) -> dict[str, Any] | None:
    actions = _buttons_for(ticket.state)
    if not actions:
        return None
    row = [
        {"text": rt.texts.get(locale, f"card.button.{action}"), "callback_data": callback_data(action, ticket.id or 0)}
        for action in actions
    ]
    return {"inline_keyboard": [row]}


def task_card_text(
    rt: Runtime, locale: str, ticket: TicketRow, responsible: str | None = None, *, title: str = "card.title"
) -> str:
    texts = rt.texts
    words = "、".join(ticket.deciding_words) or texts.get(locale, "card.no_words")
    lines = [
        texts.get(locale, title, number=ticket.number),
        texts.get(locale, "card.kind", kind=texts.get(locale, f"kind.{ticket.kind}")),
        texts.get(
            locale,
            "card.category",
            category=texts.get(locale, f"category.{ticket.category}"),
            confidence=f"{ticket.confidence:.0%}",
            words=words,
        ),
        texts.get(locale, "card.deadline", deadline=rt.format_moment(locale, ticket.deadline_at)),
        texts.get(locale, "card.state", state=texts.get(locale, f"state.{ticket.state}")),
    ]
    if responsible:
        lines.append(texts.get(locale, "card.responsible", name=responsible))
    lines += ["", texts.get(locale, "card.content"), ticket.text]
    return "\n".join(lines)


async def queue_task_cards(
    rt: Runtime, uow: UnitOfWork, ticket: TicketRow, officers: Iterable[OfficerRow], *, title: str = "card.title"
) -> None:
    """Sends the ticket's card to each officer, once per occasion (dispatch, each reopen)."""
    for officer in officers:
        await queue_message(
            uow,
            key=f"card:{ticket.id}:{ticket.reopen_count}:{officer.id}",
            chat_id=officer.chat_id,
            text=task_card_text(rt, officer.locale, ticket, title=title),
            reply_markup=task_keyboard(rt, officer.locale, ticket),
            purpose="task_card",
            ticket_id=ticket.id,
            now=rt.now(),
        )
