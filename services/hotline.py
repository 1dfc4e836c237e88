"""A resident's hotline item becomes a ticket: classified, numbered, given a deadline, dispatched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.settings import department_names
from domain.tickets import Action, TicketState, format_number, named_department, next_state, route
from services.cards import queue_task_cards, readers_of_department
from services.deadlines import schedule_handling
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import TicketEventRow, TicketRow


@dataclass(frozen=True)
class Submission:
    telegram_user_id: int
    chat_id: int
    locale: str
    kind: str
    text: str


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


async def submit_ticket(rt: Runtime, submission: Submission) -> Accepted:
    """Creates the ticket, its history, its reminders and the officers' task cards, in one commit."""
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
        resident = await uow.residents.upsert(submission.telegram_user_id, submission.chat_id, submission.locale, now)
        sequence = await uow.tickets.next_sequence(rt.local(now).strftime("%Y%m%d"))
        action = Action.SEND_TO_TRIAGE if routing.needs_triage else Action.DISPATCH
        ticket = await uow.tickets.add(
            TicketRow(
                number=format_number(rt.settings.tickets.number_prefix, rt.local(now).strftime("%Y%m%d"), sequence),
                source="hotline",
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
            )
        )
        await _record_submission(uow, ticket, action, now, verdict.deciding_words)
        await schedule_handling(rt, uow, ticket, now)
        await queue_task_cards(rt, uow, ticket, await readers_of_department(rt, uow, ticket.department_code))
        await uow.commit()
    rt.wake_dispatcher()
    return Accepted(ticket.number, ticket.department_code, deadline, routing.needs_triage)


def _named_unit(rt: Runtime, category: str, text: str) -> str | None:
    if category != "discipline":
        return None
    discipline = rt.settings.routing.departments["discipline"]
    return named_department(text, department_names(rt.settings), besides=discipline)


async def _record_submission(
    uow: UnitOfWork, ticket: TicketRow, action: Action, now: datetime, words: tuple[str, ...]
) -> None:
    ticket_id = ticket.id or 0
    await uow.events.append(
        TicketEventRow(ticket_id=ticket_id, at=now, actor="resident", action=Action.SUBMIT, public=True)
    )
    classified = f"{ticket.category} {ticket.confidence:.2f}: {'、'.join(words)}"
    await uow.events.append(
        TicketEventRow(ticket_id=ticket_id, at=now, actor="system", action="classified", note=classified, public=False)
    )
    await uow.events.append(
        TicketEventRow(
            ticket_id=ticket_id, at=now, actor="system", action=action, note=ticket.department_code, public=True
        )
    )
