"""The supervisors' daily digest: yesterday's figures, what is overdue or due soon, and a chart."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from domain.statistics import satisfaction_rate
from domain.tickets import OPEN_STATES, Action
from reports.charts import DayCounts, trend_chart
from services.outbox import queue_call, queue_message
from services.recipients import Recipients
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import OfficerRow, TicketRow

TREND_DAYS = 7
SATISFACTION_WINDOW = timedelta(days=30)
OVERDUE_LISTED = 10


@dataclass(frozen=True)
class DigestFigures:
    day: date
    received: int
    closed: int
    open: int
    overdue: list[TicketRow]
    due_soon: int
    satisfaction: float | None
    rated: int
    trend: list[DayCounts]


async def queue_digest_if_due(rt: Runtime) -> bool:
    """Queues today's digest for every supervisor who has not had it yet, once the hour has come."""
    now = rt.now()
    today = rt.local(now).date()
    settings = rt.settings.digest
    if rt.local(now).time() < settings.send_at:
        return False
    if settings.working_days_only and not rt.calendar.is_working_day(today):
        return False
    async with rt.db.unit_of_work() as uow:
        everyone = await Recipients(uow).supervisors()
        waiting = [s for s in everyone if not await uow.outbox.has_key(_key(today, s.id, "text"))]
        if not waiting:
            return False
        figures = await _figures(rt, uow, today)
        chart = await asyncio.to_thread(trend_chart, figures.trend, chinese=True)
        for supervisor in waiting:
            await _queue_for(rt, uow, supervisor, _visible_to(figures, supervisor.department_code), chart)
        await uow.commit()
    rt.wake_dispatcher()
    return True


def _key(day: date, supervisor_id: int | None, part: str) -> str:
    return f"digest:{day.isoformat()}:{supervisor_id}:{part}"


def _local_day_bounds(rt: Runtime, day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=rt.hours.tz)
    return start, start + timedelta(days=1)


async def _figures(rt: Runtime, uow: UnitOfWork, today: date) -> DigestFigures:
    now = rt.now()
    yesterday = today - timedelta(days=1)
    start, end = _local_day_bounds(rt, yesterday)
    trend = []
    for offset in range(TREND_DAYS, 0, -1):
        day = today - timedelta(days=offset)
        day_start, day_end = _local_day_bounds(rt, day)
        trend.append(
            DayCounts(
                day,
                await uow.tickets.count_received(day_start, day_end),
                await uow.events.count_between(Action.CLOSE, day_start, day_end),
            )
        )
    surveys = await uow.tickets.survey_results_between(now - SATISFACTION_WINDOW, now)
    soon = now + timedelta(hours=rt.settings.digest.due_soon_hours)
    return DigestFigures(
        day=yesterday,
        received=trend[-1].received,
        closed=trend[-1].closed,
        open=await uow.tickets.count_open(OPEN_STATES),
        overdue=list(await uow.tickets.open_due_before(OPEN_STATES, now)),
        due_soon=await uow.tickets.count_open_due_between(OPEN_STATES, now, soon),
        satisfaction=satisfaction_rate(surveys),
        rated=sum(count for result, count in surveys.items() if result != "unanswered"),
        trend=trend,
    )


def digest_text(rt: Runtime, locale: str, figures: DigestFigures) -> str:
    texts = rt.texts
    satisfaction = "—" if figures.satisfaction is None else f"{figures.satisfaction:.0%}"
    lines = [
        texts.get(locale, "digest.title", day=figures.day.strftime(texts.get(locale, "format.day"))),
        texts.get(locale, "digest.yesterday", received=figures.received, closed=figures.closed),
        texts.get(locale, "digest.open", open=figures.open, overdue=len(figures.overdue), due_soon=figures.due_soon),
        texts.get(locale, "digest.satisfaction", rate=satisfaction, rated=figures.rated),
    ]
    if figures.overdue:
        lines.append(texts.get(locale, "digest.overdue_heading"))
        for ticket in figures.overdue[:OVERDUE_LISTED]:
            lines.append(
                texts.get(
                    locale,
                    "digest.overdue_item",
                    number=ticket.number,
                    department=rt.department_name(locale, ticket.department_code),
                    deadline=rt.format_moment(locale, ticket.deadline_at),
                )
            )
        if len(figures.overdue) > OVERDUE_LISTED:
            lines.append(texts.get(locale, "digest.more", count=len(figures.overdue) - OVERDUE_LISTED))
    return "\n".join(lines)


def _visible_to(figures: DigestFigures, department: str) -> DigestFigures:
    """A discipline report is left out of the digest of the unit it names."""
    hidden = [t for t in figures.overdue if t.category == "discipline" and t.named_unit == department]
    if not hidden:
        return figures
    return replace(figures, overdue=[t for t in figures.overdue if t not in hidden])


async def _queue_for(rt: Runtime, uow: UnitOfWork, supervisor: OfficerRow, figures: DigestFigures, chart: bytes) -> None:
    supervisor_id, chat_id, locale = supervisor.id, supervisor.chat_id, supervisor.locale
    now = rt.now()
    today = rt.local(now).date()
    await queue_message(
        uow, key=_key(today, supervisor_id, "text"), chat_id=chat_id, text=digest_text(rt, locale, figures),
        purpose="digest", now=now,
    )
    await queue_call(
        uow,
        key=_key(today, supervisor_id, "chart"),
        method="sendPhoto",
        payload={"chat_id": chat_id, "photo_png_base64": base64.b64encode(chart).decode("ascii")},
        purpose="digest_chart",
        now=now,
    )
