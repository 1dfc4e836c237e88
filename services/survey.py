"""The follow-up survey (回访): a resident rates the handling of a closed ticket.

满意 / 基本满意 end the ticket's life; 不满意 reopens it once for the same department with a shorter
limit; a second 不满意 goes to the supervisors (督办).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.limits import reopen_limit
from domain.tickets import Action, SurveyAnswer, SurveyOutcome, TicketState, next_state, survey_outcome
from services.cards import officer_reader, queue_task_cards
from services.deadlines import schedule_handling
from services.outbox import notify_resident, queue_message
from services.recipients import Recipients
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import TicketEventRow, TicketRow

CALLBACK_PREFIX = "survey"


class SurveyRefused(Exception):
    """Not this resident's survey, or already answered; `reason` is a text key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SurveyResult:
    outcome: SurveyOutcome
    number: str
    deadline_at: datetime | None


def survey_keyboard(rt: Runtime, locale: str, ticket_id: int) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [
                {"text": rt.texts.get(locale, f"survey.{answer.value}"), "callback_data": f"{CALLBACK_PREFIX}:{ticket_id}:{answer.value}"}
                for answer in SurveyAnswer
            ]
        ]
    }


def parse_survey_callback(data: str) -> tuple[int, SurveyAnswer] | None:
    parts = data.split(":")
    # isascii too: "²".isdigit() holds, but int("²") fails.
    if len(parts) != 3 or parts[0] != CALLBACK_PREFIX or not (parts[1].isascii() and parts[1].isdigit()):
        return None
    try:
        return int(parts[1]), SurveyAnswer(parts[2])
    except ValueError:
        return None


async def answer_survey(rt: Runtime, ticket_id: int, telegram_user_id: int, answer: SurveyAnswer) -> SurveyResult:
    """Records the resident's answer and acts on it."""
    now = rt.now()
    async with rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.get(ticket_id)
        resident = await uow.residents.by_telegram_id(telegram_user_id)
        if ticket is None or resident is None or ticket.resident_id != resident.id:
            raise SurveyRefused("survey.not_found")
        if ticket.state != TicketState.CLOSED or ticket.survey_result is not None:
            raise SurveyRefused("survey.already")
        outcome = survey_outcome(answer, ticket.reopen_count)
        await uow.events.append(
            TicketEventRow(ticket_id=ticket_id, at=now, actor="resident", action=Action.SURVEY, note=answer, public=True)
        )
        await uow.reminders.finish_all_for(ticket_id, now)
        if outcome == SurveyOutcome.REOPENED:
            await _reopen(rt, uow, ticket, now)
        else:
            moved = await uow.tickets.move(
                ticket_id, TicketState.CLOSED, state=next_state(TicketState.CLOSED, Action.SURVEY),
                survey_result=answer, surveyed_at=now,
            )
            if not moved:
                raise SurveyRefused("survey.already")
            if outcome == SurveyOutcome.ESCALATED:
                await escalate_to_supervisors(
                    rt, uow, Recipients(uow), ticket, "notice.survey_escalated", f"survey:{ticket_id}"
                )
        await uow.commit()
    rt.wake_dispatcher()
    return SurveyResult(outcome, ticket.number, ticket.deadline_at if outcome == SurveyOutcome.REOPENED else None)


async def _reopen(rt: Runtime, uow: UnitOfWork, ticket: TicketRow, now: datetime) -> None:
    limits = rt.settings.limits
    original = limits.reply_limit(ticket.category, ticket.kind)
    limit = reopen_limit(original, limits.reopen_fraction, limits.reopen_minimum, rt.hours)
    deadline = limit.due_after(now, rt.calendar, rt.hours)
    moved = await uow.tickets.move(
        # The ticket keeps only its final rating; this 不满意 stays in the event log.
        ticket.id or 0, TicketState.CLOSED, state=next_state(TicketState.CLOSED, Action.REOPEN),
        reopen_count=ticket.reopen_count + 1, deadline_at=deadline, closed_at=None, result=None,
    )
    if not moved:
        raise SurveyRefused("survey.already")
    await uow.events.append(
        TicketEventRow(
            ticket_id=ticket.id or 0, at=now, actor="resident", action=Action.REOPEN, note=f"{limit}", public=True
        )
    )
    await schedule_handling(rt, uow, ticket, now)
    readers = [officer_reader(officer) for officer in await Recipients(uow).handlers_of(ticket)]
    await queue_task_cards(rt, uow, ticket, readers, title="card.reopened_title")


async def escalate_to_supervisors(
    rt: Runtime, uow: UnitOfWork, recipients: Recipients, ticket: TicketRow, text_key: str, key: str
) -> None:
    """督办: every active supervisor is told, and the ticket's history says so."""
    for supervisor in await recipients.supervisors():
        await queue_message(
            uow,
            key=f"escalate:{key}:{supervisor.id}",
            chat_id=supervisor.chat_id,
            text=rt.texts.get(
                supervisor.locale,
                text_key,
                number=ticket.number,
                department=rt.department_name(supervisor.locale, ticket.department_code),
                deadline=rt.format_moment(supervisor.locale, ticket.deadline_at),
            ),
            purpose="escalation",
            ticket_id=ticket.id,
            now=rt.now(),
        )
    await uow.events.append(
        TicketEventRow(ticket_id=ticket.id or 0, at=rt.now(), actor="system", action="escalated", note=text_key, public=False)
    )


async def send_survey(rt: Runtime, uow: UnitOfWork, ticket: TicketRow, text_key: str, key: str) -> None:
    resident = await uow.residents.get(ticket.resident_id)
    locale = resident.locale if resident else rt.settings.default_locale
    await notify_resident(uow, rt, ticket, key, text_key, reply_markup=survey_keyboard(rt, locale, ticket.id or 0))
