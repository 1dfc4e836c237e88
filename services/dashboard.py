"""What each dashboard page shows, for one viewer: plain records, already in the viewer's scope.

The web layer only parses requests and renders these; the figures themselves come from
services/figures.py (one definition for Telegram, the ledger and the web).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from domain.classifier import CATEGORIES
from domain.statistics import Period, PeriodError, period_of
from domain.tickets import OPEN_STATES, TicketState
from reports.charts import DayCounts, trend_chart
from services.figures import PeriodFigures, department_name, period_figures, unit_name
from services.runtime import Runtime
from services.web_accounts import Viewer
from storage.models import AppraisalRow, TicketRow
from storage.repositories import TicketFilter, TicketScope

TREND_DAYS = 14
OVERDUE_SHOWN = 20
EXCERPT = 60
T = TypeVar("T")
# Lists count matches up to this many and then say "10000+": an exact count of a million rows is a full scan.
COUNT_UP_TO = 10_000
# The ticket list's state filter: one state, or these groups.
STATE_GROUPS = {"open": tuple(OPEN_STATES), "overdue": tuple(OPEN_STATES)}


class NotVisible(LookupError):
    """No such ticket for this viewer: absent, or outside what they may see (the same answer either way)."""


@dataclass(frozen=True)
class TicketLine:
    number: str
    received_at: datetime
    kind: str
    category: str
    department: str
    state: str
    deadline_at: datetime
    closed_at: datetime | None
    overdue: bool
    excerpt: str


@dataclass(frozen=True)
class TicketQuery:
    """The ticket list's filters as the browser sent them; `problems` names those that were not understood."""

    state: str = ""
    department: str = ""
    category: str = ""
    period: str = ""
    text: str = ""
    page: int = 1
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class TicketPage:
    query: TicketQuery
    lines: list[TicketLine]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class Overview:
    period: Period
    figures: PeriodFigures | None
    open_count: int
    overdue_count: int
    overdue: list[TicketLine]


@dataclass(frozen=True)
class TimelineLine:
    at: datetime
    actor: str
    action: str
    note: str | None


@dataclass(frozen=True)
class TicketDetail:
    line: TicketLine
    text: str
    source: str
    unit: str | None
    confidence: float
    deciding_words: list[str]
    responsible: str | None
    result: str | None
    survey_result: str | None
    reopen_count: int
    anonymous: bool
    timeline: list[TimelineLine] = field(default_factory=list)


@dataclass(frozen=True)
class AppraisalLine:
    at: datetime
    unit: str
    rating: str
    scores: dict[str, int]
    comment: str | None


@dataclass(frozen=True)
class AppraisalPage:
    period: Period
    unit: str
    lines: list[AppraisalLine]
    total: int
    page: int
    pages: int


class FiguresCache:
    """What took counting (a period's figures, the trend chart), per scope, kept `seconds` after counting.

    Counting a month of a big bureau takes about a second; supervisors click between pages far more
    often than the figures change in a way that matters within a minute (config.toml [web]
    figures_cache_seconds; 0 counts afresh every time).
    """

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self._kept: dict[Hashable, tuple[datetime, Any]] = {}

    async def get(self, rt: Runtime, key: Hashable, count: Callable[[], Awaitable[T]]) -> T:
        now = rt.now()
        kept = self._kept.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]  # type: ignore[no-any-return]
        found = await count()
        self._kept = {k: v for k, v in self._kept.items() if v[0] > now}
        self._kept[key] = (now + timedelta(seconds=self.seconds), found)
        return found

    async def figures(self, rt: Runtime, period: Period, scope: TicketScope) -> PeriodFigures:
        return await self.get(rt, ("figures", period.label, period.start, scope), lambda: period_figures(rt, period, scope))


def shown(count: int) -> str:
    """A capped count as a list shows it."""
    return f"{COUNT_UP_TO}+" if count >= COUNT_UP_TO else str(count)


class Dashboard:
    """The dashboard's questions, answered in `viewer`'s scope and locale."""

    def __init__(self, rt: Runtime, viewer: Viewer, locale: str, cache: FiguresCache | None = None) -> None:
        self.rt = rt
        self.viewer = viewer
        self.locale = locale
        self.cache = cache or FiguresCache(0)

    def period(self, spec: str) -> Period:
        """The period `spec` names, this month when it names none."""
        try:
            return period_of(spec or "month", self.rt.now(), self.rt.hours.tz)
        except PeriodError:
            return period_of("month", self.rt.now(), self.rt.hours.tz)

    async def figures(self, spec: str) -> PeriodFigures:
        return await self.cache.figures(self.rt, self.period(spec), self.viewer.scope)

    async def overview(self, spec: str) -> Overview:
        period = self.period(spec)
        figures = await self.cache.figures(self.rt, period, self.viewer.scope) if self.viewer.sees_figures else None
        overdue = TicketFilter(states=tuple(OPEN_STATES), overdue_at=self.rt.now())
        scope = self.viewer.scope
        async with self.rt.db.unit_of_work() as uow:
            open_count = await uow.tickets.count_matching(TicketFilter(states=tuple(OPEN_STATES)), scope, up_to=COUNT_UP_TO)
            overdue_count = await uow.tickets.count_matching(overdue, scope, up_to=COUNT_UP_TO)
            # Most overdue first: the ones a supervisor must chase today.
            rows = await uow.tickets.search(overdue, scope, offset=0, limit=OVERDUE_SHOWN, most_overdue_first=True)
        return Overview(period, figures, open_count, overdue_count, [self._line(row) for row in rows])

    async def trend_png(self, days: int = TREND_DAYS) -> bytes:
        """The trend as a PNG chart."""

        async def draw() -> bytes:
            return await asyncio.to_thread(trend_chart, await self.trend(days), chinese=self.locale == "zh")

        today = self.rt.now().astimezone(self.rt.hours.tz).date()
        return await self.cache.get(self.rt, ("trend", today, days, self.locale, self.viewer.scope), draw)

    async def trend(self, days: int = TREND_DAYS) -> list[DayCounts]:
        """Tickets received and closed per local day, the last `days` days up to today."""
        tz = self.rt.hours.tz
        today = self.rt.now().astimezone(tz).date()
        start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tzinfo=tz)
        end = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        offset = start.utcoffset() or timedelta(0)
        async with self.rt.db.unit_of_work() as uow:
            received = await uow.tickets.count_per_day("received_at", start, end, offset, self.viewer.scope)
            closed = await uow.tickets.count_per_day("closed_at", start, end, offset, self.viewer.scope)
        counts = []
        for back in range(days - 1, -1, -1):
            day = (today - timedelta(days=back)).isoformat()
            counts.append(DayCounts(date.fromisoformat(day), received.get(day, 0), closed.get(day, 0)))
        return counts

    def parse_tickets(self, params: dict[str, str]) -> TicketQuery:
        """The list's filters from query parameters; a value not understood is dropped and named in `problems`."""
        problems = []
        state = params.get("state", "").strip()
        if state and state not in STATE_GROUPS and state not in set(TicketState):
            problems.append("state")
            state = ""
        department = params.get("department", "").strip()
        if department and department not in self.rt.settings.departments:
            problems.append("department")
            department = ""
        category = params.get("category", "").strip()
        if category and category not in CATEGORIES:
            problems.append("category")
            category = ""
        spec = params.get("period", "").strip()
        if spec:
            try:
                period_of(spec, self.rt.now(), self.rt.hours.tz)
            except PeriodError:
                problems.append("period")
                spec = ""
        try:
            page = max(1, int(params.get("page", "1") or 1))
        except ValueError:
            problems.append("page")
            page = 1
        text = params.get("q", "").strip()[:100]
        return TicketQuery(state, department, category, spec, text, page, tuple(problems))

    async def tickets(self, query: TicketQuery) -> TicketPage:
        size = self.rt.settings.web.page_size
        period = period_of(query.period, self.rt.now(), self.rt.hours.tz) if query.period else None
        found = TicketFilter(
            states=STATE_GROUPS.get(query.state, (query.state,)) if query.state else None,
            department=query.department or None,
            category=query.category or None,
            start=period.start if period else None,
            end=period.end if period else None,
            text=query.text or None,
            overdue_at=self.rt.now() if query.state == "overdue" else None,
        )
        async with self.rt.db.unit_of_work() as uow:
            total = await uow.tickets.count_matching(found, self.viewer.scope, up_to=COUNT_UP_TO)
            pages = max(1, -(-total // size))
            page = min(query.page, pages)
            rows = await uow.tickets.search(
                found, self.viewer.scope, offset=(page - 1) * size, limit=size, most_overdue_first=query.state == "overdue"
            )
        return TicketPage(query, [self._line(row) for row in rows], total, page, pages)

    async def ticket(self, number: str) -> TicketDetail:
        async with self.rt.db.unit_of_work() as uow:
            row = await uow.tickets.in_scope(number.strip(), self.viewer.scope)
            if row is None:
                raise NotVisible(number)
            responsible = await uow.officers.get(row.responsible_officer_id) if row.responsible_officer_id else None
            events = await uow.events.timeline(row.id or 0)
            names = {}
            for event in events:
                if event.actor_officer_id and event.actor_officer_id not in names:
                    officer = await uow.officers.get(event.actor_officer_id)
                    names[event.actor_officer_id] = officer.display_name if officer else None
        timeline = [
            TimelineLine(
                event.at,
                names.get(event.actor_officer_id or 0) or self._label("actor", event.actor),
                self._label("event", event.action),
                event.note,
            )
            for event in events
        ]
        return TicketDetail(
            line=self._line(row),
            text=row.text,
            source=row.source,
            unit=unit_name(self.rt, self.locale, row.unit_code) if row.unit_code else None,
            confidence=row.confidence,
            deciding_words=list(row.deciding_words or []),
            responsible=responsible.display_name if responsible else None,
            result=row.result,
            survey_result=row.survey_result,
            reopen_count=row.reopen_count,
            anonymous=row.contact_mode == "anonymous",
            timeline=timeline,
        )

    async def appraisals(self, spec: str, unit: str, page: int) -> AppraisalPage:
        size = self.rt.settings.web.page_size
        period = self.period(spec)
        unit = unit if unit in self.rt.settings.units else ""
        async with self.rt.db.unit_of_work() as uow:
            total = await uow.appraisals.count_between(period.start, period.end, unit or None)
            pages = max(1, -(-total // size))
            page = min(max(1, page), pages)
            rows = await uow.appraisals.page(period.start, period.end, unit or None, offset=(page - 1) * size, limit=size)
        return AppraisalPage(period, unit, [self._appraisal(row) for row in rows], total, page, pages)

    def _appraisal(self, row: AppraisalRow) -> AppraisalLine:
        return AppraisalLine(
            row.created_at, unit_name(self.rt, self.locale, row.unit_code), self._label("appraisal", row.rating),
            dict(row.scores or {}), row.comment,
        )

    def _line(self, row: TicketRow) -> TicketLine:
        now = self.rt.now()
        open_ = row.state in OPEN_STATES
        return TicketLine(
            number=row.number,
            received_at=row.received_at,
            kind=self._label("kind", row.kind),
            category=self._label("category", row.category),
            department=department_name(self.rt, self.locale, row.department_code),
            state=self._label("state", row.state),
            deadline_at=row.deadline_at,
            closed_at=row.closed_at,
            overdue=(open_ and row.deadline_at < now) or (row.closed_at is not None and row.closed_at > row.deadline_at),
            excerpt=row.text if len(row.text) <= EXCERPT else row.text[:EXCERPT] + "…",
        )

    def _label(self, section: str, key: str) -> str:
        catalogue = self.rt.texts.catalogues.get(self.locale) or self.rt.texts.catalogues["zh"]
        return catalogue.get(f"{section}.{key}", key)
