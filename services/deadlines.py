"""The reminder rows a ticket gets: when it is dispatched or reopened, and when it is closed.

They are rows, not timers, so the scheduler finds them again after any restart.
"""

from __future__ import annotations

from datetime import datetime, time

from domain.calendar import deadline_after
from domain.tickets import UNSIGNED_STATES, TicketState, reminder_moments
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import TicketEventRow, TicketRow


class Reminder:
    SIGN_FOR = "sign_for"
    REMIND = "remind"
    OVERDUE = "overdue"
    ESCALATE = "escalate"
    SURVEY = "survey"
    SURVEY_REMINDER = "survey_reminder"
    SURVEY_EXPIRED = "survey_expired"


HANDLING_REMINDERS = (Reminder.SIGN_FOR, Reminder.REMIND, Reminder.OVERDUE, Reminder.ESCALATE)


async def schedule_handling(rt: Runtime, uow: UnitOfWork, ticket: TicketRow, start: datetime) -> None:
    """Sign-for reminder, progress reminders, the overdue notice and the escalation to supervisors."""
    office = rt.next_office_moment
    rows: list[tuple[str, datetime]] = []
    if TicketState(ticket.state) in UNSIGNED_STATES:
        rows.append((Reminder.SIGN_FOR, rt.settings.limits.sign_for.due_after(start, rt.calendar, rt.hours)))
    fractions = rt.settings.scheduler.reminder_fractions
    rows += [(Reminder.REMIND, office(moment)) for moment in reminder_moments(start, ticket.deadline_at, fractions)]
    rows.append((Reminder.OVERDUE, ticket.deadline_at))
    escalate_days = rt.settings.scheduler.escalate_after_days
    rows.append((Reminder.ESCALATE, deadline_after(ticket.deadline_at, escalate_days, rt.calendar, rt.hours)))
    await uow.reminders.add_all(ticket.id or 0, rows)


def _working_day_at(rt: Runtime, after: datetime, working_days: int, at: time) -> datetime:
    day = rt.calendar.add_working_days(rt.local(after).date(), working_days)
    return datetime.combine(day, at, tzinfo=rt.hours.tz)


async def schedule_survey(rt: Runtime, uow: UnitOfWork, ticket: TicketRow, closed_at: datetime) -> None:
    """The survey goes out on the next working day after closure, at the configured time."""
    due = _working_day_at(rt, closed_at, 1, rt.settings.survey.send_at)
    await uow.reminders.add_all(ticket.id or 0, [(Reminder.SURVEY, due)])


async def schedule_survey_follow_ups(rt: Runtime, uow: UnitOfWork, ticket: TicketRow, sent_at: datetime) -> None:
    """One reminder, then 未回访 if the resident never answers."""
    survey = rt.settings.survey
    await uow.reminders.add_all(
        ticket.id or 0,
        [
            (Reminder.SURVEY_REMINDER, _working_day_at(rt, sent_at, survey.reminder_after_days, survey.send_at)),
            (Reminder.SURVEY_EXPIRED, _working_day_at(rt, sent_at, survey.unanswered_after_days, survey.send_at)),
        ],
    )


async def move_deadline(
    rt: Runtime, uow: UnitOfWork, ticket: TicketRow, new_deadline: datetime, *, officer_id: int | None, reason: str
) -> None:
    """Moves the deadline (an approved extension) and replaces the pending reminders.

    The event keeps both deadlines, so the history shows what was promised first.
    """
    old_deadline = ticket.deadline_at
    if not await uow.tickets.move(ticket.id or 0, ticket.state, deadline_at=new_deadline):
        raise ValueError(f"ticket {ticket.number} changed while its deadline was being moved")
    await uow.reminders.finish_all_for(ticket.id or 0, rt.now(), kinds=HANDLING_REMINDERS)
    await schedule_handling(rt, uow, ticket, rt.now())
    await uow.events.append(
        TicketEventRow(
            ticket_id=ticket.id or 0,
            at=rt.now(),
            actor="officer" if officer_id else "system",
            actor_officer_id=officer_id,
            action="extended",
            note=f"{old_deadline.isoformat()} → {new_deadline.isoformat()}: {reason}",
            public=True,
        )
    )
