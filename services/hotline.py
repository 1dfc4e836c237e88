"""A resident's hotline item becomes a ticket: classified, numbered, given a deadline, dispatched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


from bot.settings import department_names
from domain.duplicates import near_duplicate
from domain.tickets import OPEN_STATES, Action, TicketState, format_number, named_department, next_state, route
from services.cards import queue_task_cards, readers_of_department
from services.deadlines import schedule_handling
from services.outbox import queue_call, queue_message
from services.recipients import Recipients
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import AttachmentRow, OfficerRow, TicketEventRow, TicketRow
from storage.repositories import NewEvent


@dataclass(frozen=True)
class Attachment:
    """A photo, document or location a resident sent; the file stays on Telegram."""

    kind: str  # "photo", "document" or "location"
    source_message_id: int
    file_id: str | None = None
    file_unique_id: str | None = None
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None
    caption: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attachment:
        return cls(**data)


@dataclass(frozen=True)
class Submission:
    telegram_user_id: int
    chat_id: int
    locale: str
    kind: str
    text: str
    attachments: tuple[Attachment, ...] = ()
    contact_mode: str = "real_name"  # or "anonymous"
    contact_name: str | None = None
    contact_phone: str | None = None
    source: str = "hotline"
    # Names the draft: submitting the same draft again gives its ticket back instead of a second one.
    key: str | None = None


@dataclass(frozen=True)
class Accepted:
    number: str
    department_code: str
    deadline_at: datetime
    needs_triage: bool


class TextTooLong(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"text longer than {limit} characters")
        self.limit = limit


@dataclass(frozen=True)
class Duplicate:
    """The resident's open ticket that says nearly the same: no new ticket was made."""

    number: str


async def submit_ticket(rt: Runtime, submission: Submission) -> Accepted:
    """Creates the ticket, its history, its reminders and the officers' task cards, in one commit."""
    accepted = await _submit(rt, submission, unless_duplicate=False)
    assert isinstance(accepted, Accepted)  # nothing was looked for
    return accepted


async def submit_unless_duplicate(rt: Runtime, submission: Submission) -> Accepted | Duplicate:
    """As `submit_ticket`, unless the resident has an open ticket that says nearly the same: then its
    number, and nothing is written. One unit of work for both: the look costs no second one."""
    return await _submit(rt, submission, unless_duplicate=True)


async def _submit(rt: Runtime, submission: Submission, *, unless_duplicate: bool) -> Accepted | Duplicate:
    text = submission.text.strip()
    if len(text) > rt.settings.tickets.max_text_chars:
        raise TextTooLong(rt.settings.tickets.max_text_chars)
    now = rt.now()
    verdict = rt.classifier.classify(text)
    routing = route(
        verdict.category,
        verdict.confidence,
        rt.settings.routing.departments,
        rt.settings.routing.triage_department,
        rt.settings.routing.confidence_threshold,
    )
    limit = rt.settings.limits.reply_limit(verdict.category, submission.kind)
    deadline = limit.due_after(now, rt.calendar, rt.hours)
    async with rt.db.unit_of_work() as uow:
        if unless_duplicate and (number := await _duplicate_in(uow, submission.telegram_user_id, text, submission.key)):
            return Duplicate(number)
        resident = await uow.residents.upsert(submission.telegram_user_id, submission.chat_id, submission.locale, now)
        sequence = await uow.tickets.next_sequence(rt.local(now).strftime("%Y%m%d"))
        action = Action.SEND_TO_TRIAGE if routing.needs_triage else Action.DISPATCH
        ticket = await uow.tickets.add_once(
            TicketRow(
                number=format_number(rt.settings.tickets.number_prefix, rt.local(now).strftime("%Y%m%d"), sequence),
                source=submission.source,
                kind=submission.kind,
                text=text,
                resident_id=resident.id or 0,
                category=verdict.category,
                confidence=verdict.confidence,
                deciding_words=list(verdict.deciding_words),
                scores=dict(verdict.scores),
                classifier_version=verdict.model_version,
                unit_code=verdict.unit,
                state=next_state(TicketState.SUBMITTED, action),
                department_code=routing.department,
                received_at=now,
                deadline_at=deadline,
                named_unit=_named_unit(rt, verdict.category, text),
                contact_mode=submission.contact_mode,
                contact_name=submission.contact_name if submission.contact_mode == "real_name" else None,
                contact_phone=submission.contact_phone if submission.contact_mode == "real_name" else None,
                submission_key=submission.key,
            )
        )
        if ticket is None:  # this draft was submitted before: its ticket, and nothing of this try (rolled back)
            earlier = await uow.tickets.by_submission_key(submission.key or "")
            if earlier is None:
                raise RuntimeError(f"submission {submission.key} conflicted with a ticket that is not there")
            triage = earlier.department_code == rt.settings.routing.triage_department
            return Accepted(earlier.number, earlier.department_code, earlier.deadline_at, triage)
        await _record_submission(uow, ticket, action, now, verdict.deciding_words)
        await schedule_handling(rt, uow, ticket, now)
        await _store_attachments(uow, ticket, submission.chat_id, submission.attachments, now)
        readers = await readers_of_department(rt, uow, ticket.department_code)
        # The attachments were added just now, so their number is known without counting them again.
        await queue_task_cards(rt, uow, ticket, readers, attachments=len(submission.attachments))
        if submission.attachments:
            officers = await Recipients(uow).department(ticket.department_code)
            await _queue_attachment_copies(uow, ticket, officers, submission.chat_id, submission.attachments, now, "new")
        await uow.commit()
    rt.wake_dispatcher()
    return Accepted(ticket.number, ticket.department_code, deadline, routing.needs_triage)


async def _store_attachments(
    uow: UnitOfWork, ticket: TicketRow, chat_id: int, attachments: tuple[Attachment, ...], now: datetime
) -> None:
    for item in attachments:
        await uow.attachments.add(
            AttachmentRow(
                ticket_id=ticket.id or 0,
                kind=item.kind,
                file_id=item.file_id,
                file_unique_id=item.file_unique_id,
                file_name=item.file_name,
                mime_type=item.mime_type,
                file_size=item.file_size,
                caption=item.caption,
                latitude=item.latitude,
                longitude=item.longitude,
                source_chat_id=chat_id,
                source_message_id=item.source_message_id,
                added_at=now,
            )
        )


async def _queue_attachment_copies(
    uow: UnitOfWork,
    ticket: TicketRow,
    officers: list[OfficerRow],
    chat_id: int,
    attachments: tuple[Attachment, ...],
    now: datetime,
    occasion: str,
) -> None:
    """Queues a copy (not a forward: no resident identity) of each attachment to each officer, after the card."""
    for officer in officers:
        for item in attachments:
            await queue_call(
                uow,
                key=f"attachment:{ticket.id}:{occasion}:{item.source_message_id}:{officer.chat_id}",
                method="copyMessage",
                payload={"chat_id": officer.chat_id, "from_chat_id": chat_id, "message_id": item.source_message_id},
                purpose="attachment",
                ticket_id=ticket.id,
                now=now,
            )


@dataclass(frozen=True)
class OpenTicket:
    number: str
    text: str
    submission_key: str | None = None


async def open_tickets_of(rt: Runtime, telegram_user_id: int) -> list[OpenTicket]:
    """The resident's tickets still being handled, newest first."""
    async with rt.db.unit_of_work() as uow:
        return await _open_tickets_in(uow, telegram_user_id)


async def _open_tickets_in(uow: UnitOfWork, telegram_user_id: int) -> list[OpenTicket]:
    rows = await uow.tickets.texts_of_telegram_user(telegram_user_id, states=[s.value for s in OPEN_STATES])
    return [OpenTicket(row.number, row.text, row.submission_key) for row in rows]


async def find_duplicate(rt: Runtime, telegram_user_id: int, text: str, submission_key: str | None = None) -> str | None:
    """The number of the resident's open ticket that says nearly the same as `text`, if any; not the
    ticket the same draft already made (`submission_key`), which is no duplicate but itself."""
    async with rt.db.unit_of_work() as uow:
        return await _duplicate_in(uow, telegram_user_id, text, submission_key)


async def _duplicate_in(uow: UnitOfWork, telegram_user_id: int, text: str, submission_key: str | None) -> str | None:
    tickets = await _open_tickets_in(uow, telegram_user_id)
    others = [t for t in tickets if submission_key is None or t.submission_key != submission_key]
    return near_duplicate(text, [(ticket.number, ticket.text) for ticket in others])


async def add_to_ticket(
    rt: Runtime, telegram_user_id: int, chat_id: int, number: str, text: str, attachments: tuple[Attachment, ...] = ()
) -> bool:
    """Adds the resident's text and files to their open ticket and tells the handling officers.

    Returns False when the ticket is not theirs or no longer open.
    """
    now = rt.now()
    async with rt.db.unit_of_work() as uow:
        resident = await uow.residents.by_telegram_id(telegram_user_id)
        ticket = await uow.tickets.by_number(number)
        if resident is None or ticket is None or ticket.resident_id != resident.id:
            return False
        if TicketState(ticket.state) not in OPEN_STATES:
            return False
        note = text.strip() or "📎"
        event = TicketEventRow(
            ticket_id=ticket.id or 0, at=now, actor="resident", action="resident_replied", note=note, public=True
        )
        await uow.events.append(event)
        await _store_attachments(uow, ticket, chat_id, attachments, now)
        officers = await Recipients(uow).handlers_of(ticket)
        for officer in officers:
            await queue_message(
                uow,
                key=f"resident_added:{event.id}:{officer.chat_id}",
                chat_id=officer.chat_id,
                text=rt.texts.get(officer.locale, "notice.resident_reply", number=ticket.number, text=note),
                purpose="resident_reply",
                ticket_id=ticket.id,
                now=now,
            )
        await _queue_attachment_copies(uow, ticket, officers, chat_id, attachments, now, f"added{event.id}")
        await uow.commit()
    rt.wake_dispatcher()
    return True


def _named_unit(rt: Runtime, category: str, text: str) -> str | None:
    if category != "discipline":
        return None
    discipline = rt.settings.routing.departments["discipline"]
    return named_department(text, department_names(rt.settings), besides=discipline)


async def _record_submission(
    uow: UnitOfWork, ticket: TicketRow, action: Action, now: datetime, words: tuple[str, ...]
) -> None:
    classified = f"{ticket.category} {ticket.confidence:.2f}: {'、'.join(words)}"
    await uow.events.append_all(
        ticket.id or 0,
        now,
        [
            NewEvent("resident", Action.SUBMIT, None, public=True),
            NewEvent("system", "classified", classified, public=False),
            NewEvent("system", action, ticket.department_code, public=True),
        ],
    )


async def is_officer(rt: Runtime, telegram_user_id: int) -> bool:
    """Whether this Telegram user is a registered, active officer (the resident guards leave them alone)."""
    async with rt.db.unit_of_work() as uow:
        officer = await uow.officers.by_telegram_id(telegram_user_id)
    return officer is not None and officer.active
