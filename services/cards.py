"""The task card an officer (or a department group) receives for a routed ticket, and its buttons.

A card is an outbox row; when the ticket changes, every copy is edited (or, if not sent yet,
rewritten) so a group sees who signed for it and a moved ticket stops offering buttons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from domain.permissions import Actor, Desk, Do, Role, TicketFacts, refusal
from domain.tickets import TicketState
from services.outbox import queue_call, queue_message
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import OfficerRow, OutboxRow, TicketRow
from storage.repositories import PENDING, SENT

CALLBACK_PREFIX = "task"
CARD_PURPOSE = "task_card"
# In an edit's payload: the outbox row of the message to edit; the dispatcher turns it into message_id.
EDIT_OF_ROW = "edit_of_outbox_row"

# Buttons in rows, by what the ticket is waiting for.
_UNSIGNED = [["sign"], ["send_back", "reroute"]]
_SIGNED = [["reply", "close"], ["extend", "send_back", "reroute"]]
_TRIAGE = [["assign"]]
_LAYOUTS = {
    TicketState.TRIAGE: _TRIAGE,
    TicketState.DISPATCHED: _UNSIGNED,
    TicketState.SIGNED: _SIGNED,
    TicketState.ANSWERED: _SIGNED,
    TicketState.REOPENED: _SIGNED,
}


def callback_data(action: str, ticket_id: int) -> str:
    return f"{CALLBACK_PREFIX}:{action}:{ticket_id}"


def parse_callback(data: str) -> tuple[str, int] | None:
    """Returns (action, ticket_id) for well-formed task callback data, else None."""
    parts = data.split(":")
    # isascii too: "²".isdigit() holds, but int("²") fails.
    if len(parts) != 3 or parts[0] != CALLBACK_PREFIX or not (parts[2].isascii() and parts[2].isdigit()):
        return None
    return parts[1], int(parts[2])


def desk_of(rt: Runtime) -> Desk:
    return Desk(triage=rt.settings.routing.triage_department, discipline=rt.settings.routing.departments["discipline"])


def facts_of(ticket: TicketRow) -> TicketFacts:
    return TicketFacts(
        ticket.department_code, TicketState(ticket.state), ticket.responsible_officer_id, ticket.category, ticket.named_unit
    )


def actor_of(officer: OfficerRow) -> Actor:
    return Actor(officer.id or 0, officer.department_code, Role(officer.role), officer.active)


@dataclass(frozen=True)
class CardReader:
    """Who looks at a card: an officer in private chat, or a department's group (acts as an officer)."""

    chat_id: int
    locale: str
    actor: Actor


def task_keyboard(rt: Runtime, reader: CardReader, ticket: TicketRow) -> dict[str, Any] | None:
    """The buttons this reader could use now; the server checks again when one is pressed."""
    layout = _LAYOUTS.get(TicketState(ticket.state))
    if layout is None or reader.actor.department != ticket.department_code:
        return None
    if refusal(reader.actor, Do.VIEW, facts_of(ticket), desk_of(rt)) is not None:
        return None
    rows = [list(row) for row in layout]
    if reader.actor.role == Role.HEAD:
        rows[-1].append("void")
    return {
        "inline_keyboard": [
            [
                {"text": rt.texts.get(reader.locale, f"card.button.{action}"), "callback_data": callback_data(action, ticket.id or 0)}
                for action in row
            ]
            for row in rows
        ]
    }


def contact_line(rt: Runtime, reader: CardReader, ticket: TicketRow) -> str:
    """Anonymous stays anonymous for everyone; a real name and phone only for the handling department."""
    if ticket.contact_mode == "anonymous":
        return rt.texts.get(reader.locale, "card.anonymous")
    if reader.actor.department != ticket.department_code:
        return rt.texts.get(reader.locale, "card.contact_hidden")
    if not (ticket.contact_name or ticket.contact_phone):
        return rt.texts.get(reader.locale, "card.contact_none")
    return rt.texts.get(
        reader.locale, "card.contact", name=ticket.contact_name or "—", phone=ticket.contact_phone or "—"
    )


def task_card_text(
    rt: Runtime,
    locale: str,
    ticket: TicketRow,
    responsible: str | None = None,
    *,
    title: str = "card.title",
    contact: str | None = None,
    attachments: int = 0,
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
        texts.get(locale, "card.department", department=rt.department_name(locale, ticket.department_code)),
        texts.get(locale, "card.deadline", deadline=rt.format_moment(locale, ticket.deadline_at)),
        texts.get(locale, "card.state", state=texts.get(locale, f"state.{ticket.state}")),
    ]
    if responsible:
        lines.append(texts.get(locale, "card.responsible", name=responsible))
    if contact:
        lines.append(contact)
    lines += ["", texts.get(locale, "card.content"), ticket.text]
    if attachments:
        lines.append(texts.get(locale, "card.attachments", count=attachments))
    return "\n".join(lines)


@dataclass(frozen=True)
class _CardFacts:
    """What every copy of one card shows alike, looked up once per card rather than per reader."""

    responsible: str | None
    attachments: int


async def _card_facts(uow: UnitOfWork, ticket: TicketRow, attachments: int | None = None) -> _CardFacts:
    """`attachments`: the ticket's number of attachments when the caller knows it; else it is counted."""
    officer = await uow.officers.get(ticket.responsible_officer_id) if ticket.responsible_officer_id else None
    if attachments is None:
        attachments = await uow.attachments.count_for(ticket.id or 0)
    return _CardFacts(officer.display_name if officer else None, attachments)


def _render(rt: Runtime, facts: _CardFacts, reader: CardReader, ticket: TicketRow, title: str) -> tuple[str, dict | None]:
    if refusal(reader.actor, Do.VIEW, facts_of(ticket), desk_of(rt)) is not None:
        # The ticket moved somewhere this reader may not follow: keep the number, hide the content.
        return rt.texts.get(reader.locale, "card.moved", number=ticket.number), None
    text = task_card_text(
        rt, reader.locale, ticket, facts.responsible, title=title,
        contact=contact_line(rt, reader, ticket), attachments=facts.attachments,
    )
    return text, task_keyboard(rt, reader, ticket)


def officer_reader(officer: OfficerRow) -> CardReader:
    return CardReader(officer.chat_id, officer.locale, actor_of(officer))


def group_reader(rt: Runtime, chat_id: int, department: str) -> CardReader:
    return CardReader(chat_id, rt.settings.default_locale, Actor(0, department, Role.OFFICER, True))


async def readers_of_department(rt: Runtime, uow: UnitOfWork, department: str) -> list[CardReader]:
    """The department's active officers, then its groups."""
    return [
        group_reader(rt, row.chat_id, department)
        if row.officer_id is None
        else CardReader(row.chat_id, row.locale or rt.settings.default_locale, Actor(row.officer_id, department, Role(row.role), True))
        for row in await uow.officers.card_readers_in(department)
    ]


async def queue_task_cards(
    rt: Runtime,
    uow: UnitOfWork,
    ticket: TicketRow,
    readers: Iterable[CardReader],
    *,
    title: str = "card.title",
    attachments: int | None = None,
) -> None:
    """Sends the ticket's card to each reader, once per occasion (dispatch, each reopen, each move).

    `attachments`: how many the ticket has, when the caller knows (a ticket just made); else counted.
    """
    facts = await _card_facts(uow, ticket, attachments)
    for reader in readers:
        text, markup = _render(rt, facts, reader, ticket, title)
        await queue_message(
            uow,
            key=f"card:{ticket.id}:{ticket.reopen_count}:{ticket.department_code}:{reader.chat_id}",
            chat_id=reader.chat_id,
            text=text,
            reply_markup=markup,
            purpose=CARD_PURPOSE,
            ticket_id=ticket.id,
            now=rt.now(),
        )


async def _reader_for_row(rt: Runtime, uow: UnitOfWork, row: OutboxRow) -> CardReader | None:
    if row.chat_id < 0:
        group = await uow.groups.get(row.chat_id)
        return group_reader(rt, row.chat_id, group.department_code) if group else None
    officer = await uow.officers.by_chat_id(row.chat_id)
    return officer_reader(officer) if officer else None


async def refresh_cards(rt: Runtime, uow: UnitOfWork, ticket: TicketRow, occasion: str) -> None:
    """Brings every copy of the ticket's card up to date with its new state.

    The edit names the card's outbox row rather than a message id: the card may be on its way
    at this very moment. The dispatcher sends a chat's rows in order, so by the time the edit
    goes out the card has been sent and its message id is known (or it failed, and so does the edit).
    """
    facts = await _card_facts(uow, ticket)
    for row in await uow.outbox.for_ticket(ticket.id or 0, CARD_PURPOSE):
        reader = await _reader_for_row(rt, uow, row)
        if reader is None or row.status not in (PENDING, SENT):
            continue
        text, markup = _render(rt, facts, reader, ticket, "card.title")
        payload: dict[str, Any] = {"chat_id": row.chat_id, "text": text, EDIT_OF_ROW: row.id}
        if markup:
            payload["reply_markup"] = markup
        await queue_call(
            uow, key=f"card_edit:{row.id}:{occasion}", method="editMessageText", payload=payload,
            purpose="card_edit", ticket_id=ticket.id, now=rt.now(),
        )
