"""Supervisors' figures: who may see which tickets' figures, and the figures themselves.

The arithmetic lives in domain/statistics.py (one definition); this module only loads the records
for a period and a reader's scope.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from domain.permissions import Role
from domain.statistics import (
    AppraisalRecord,
    Assessor,
    Figures,
    GroupedTally,
    Period,
    PeriodError,
    RankedUnit,
    Tally,
    TicketFacts,
    appraisal_satisfaction,
    period_of,
    rank_units,
)
from reports.charts import GroupCounts, figures_chart
from services.runtime import Runtime
from services.tasks import TaskRefused
from storage.models import OfficerRow
from storage.repositories import TicketScope

# 督办 and 管理员 see every department; a head sees their own; an officer sees no figures.
ALL_DEPARTMENTS = (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True)
class Reader:
    officer: OfficerRow
    scope: TicketScope

    @property
    def locale(self) -> str:
        return self.officer.locale


@dataclass(frozen=True)
class PeriodFigures:
    period: Period
    total: Figures
    by_department: dict[str, Figures]
    by_category: dict[str, Figures]
    by_source: dict[str, Figures]
    by_unit: dict[str, Figures]
    ranking: list[RankedUnit]


def admin_scope(rt: Runtime) -> TicketScope:
    """The command line is the administrator: everything, discipline included."""
    return TicketScope(discipline_department=rt.settings.routing.departments.get("discipline", "discipline"))


def scope_of(rt: Runtime, officer: OfficerRow) -> TicketScope:
    return scope_for(rt, officer.role, officer.department_code)


def scope_for(rt: Runtime, role: str, department_code: str) -> TicketScope:
    """The tickets someone of `role` in `department_code` may count and read, in Telegram and on the web alike."""
    discipline = rt.settings.routing.departments.get("discipline", "discipline")
    if role in ALL_DEPARTMENTS:
        return TicketScope(discipline_department=discipline, hidden_from=department_code)
    return TicketScope(
        departments=(department_code,),
        include_discipline=department_code == discipline,
        discipline_department=discipline,
        hidden_from=department_code,
    )


def sees_figures(role: str) -> bool:
    """Figures, ranking and ledger are for supervisors, administrators and heads; officers work tickets."""
    return role in (*ALL_DEPARTMENTS, Role.HEAD)


async def supervising_reader(rt: Runtime, telegram_user_id: int) -> Reader:
    """The officer asking for figures, if a supervisor, admin or head; else TaskRefused."""
    async with rt.db.unit_of_work() as uow:
        officer = await uow.officers.by_telegram_id(telegram_user_id)
    if officer is None or not officer.active:
        raise TaskRefused("task.not_officer")
    if not sees_figures(officer.role):
        raise TaskRefused("stats.refused")
    return Reader(officer, scope_of(rt, officer))


# The groupings of the figures, in the order storage's figure groups name them.
GROUPINGS = ("department", "category", "source", "unit")


def _day(value: date | str | None) -> date | None:
    """A day as the database gives it back (SQLite: ISO text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


async def period_figures(rt: Runtime, period: Period, scope: TicketScope) -> PeriodFigures:
    """Every figure of the period for the tickets in `scope`, counted chunk by chunk (memory stays flat)."""
    now, calendar, tz = rt.now(), rt.calendar, rt.hours.tz
    total = Tally(period, now, calendar, tz)
    groups = {name: GroupedTally(lambda _: None, period, now, calendar, tz) for name in GROUPINGS}
    assessor = Assessor(period, now, calendar, tz)
    offset = period.start.utcoffset() or timedelta(0)
    async with rt.db.unit_of_work() as uow:
        async for row in uow.tickets.figure_groups(period.start, period.end, now, offset, scope):
            *names, void, received_in, received_day, closed_day, survey, due_in, passed, on_time, tickets = row
            facts = TicketFacts(
                void=bool(void), received_in_period=bool(received_in), received_day=_day(received_day),
                closed_day=_day(closed_day), survey_result=survey, due_in_period=bool(due_in),
                deadline_passed=bool(passed), closed_on_time=bool(on_time),
            )
            part = assessor.contribution(facts)
            total.count(part, tickets)
            for name, tally in zip(names, groups.values()):
                tally.count_in(name, part, tickets)
        ratings = await uow.appraisals.ratings_between(period.start, period.end)
    appraisals = [AppraisalRecord(unit, rating, at) for unit, rating, at in ratings]
    by_unit = groups["unit"].result()
    if scope.departments is not None:  # a head ranks only the units their department's tickets went to
        appraisals = [a for a in appraisals if a.unit in by_unit]
    return PeriodFigures(
        period=period,
        total=total.result(),
        by_department=groups["department"].result(),
        by_category=groups["category"].result(),
        by_source=groups["source"].result(),
        by_unit=by_unit,
        ranking=rank_units(by_unit, appraisal_satisfaction(appraisals, period)),
    )


def unit_name(rt: Runtime, locale: str, code: str) -> str:
    """An appraised unit (config.toml [units]) or a business unit (data/business_units.toml), else the code."""
    unit = rt.settings.units.get(code)
    if unit is not None:
        return unit.name_en if locale == "en" else unit.name
    return _business_unit_names(rt.settings.classifier.business_units_path).get(code, code)


@cache
def _business_unit_names(path: Path) -> dict[str, str]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {code: str(table.get("name", code)) for code, table in data.get("units", {}).items()}


def department_name(rt: Runtime, locale: str, code: str) -> str:
    return rt.department_name(locale, code) if code in rt.settings.departments else code


def percent(rate: float | None, none: str = "—") -> str:
    return none if rate is None else f"{rate:.1%}"


def period_for(rt: Runtime, spec: str | None, usage_key: str = "stats.usage") -> Period:
    """The period a command names (default: this month); TaskRefused(usage_key) when it names none."""
    try:
        return period_of(spec or "month", rt.now(), rt.hours.tz)
    except PeriodError:
        raise TaskRefused(usage_key) from None


@dataclass(frozen=True)
class StatsAnswer:
    text: str
    chart: bytes


async def stats_answer(rt: Runtime, telegram_user_id: int, spec: str | None) -> StatsAnswer:
    """/stats: the period's figures as text, and a chart of received and closed per department."""
    reader = await supervising_reader(rt, telegram_user_id)
    period = period_for(rt, spec)
    found = await period_figures(rt, period, reader.scope)
    locale = reader.locale
    texts = rt.texts
    scope = (
        texts.get(locale, "stats.scope_all") if reader.scope.departments is None
        else department_name(rt, locale, reader.officer.department_code)
    )
    total = found.total
    lines = [
        texts.get(locale, "stats.title", period=period.label, scope=scope),
        texts.get(locale, "stats.totals", received=total.received, closed=total.closed, completion=percent(total.completion_rate)),
        texts.get(locale, "stats.on_time", on_time=percent(total.on_time_rate), due=total.due, late=total.late),
        texts.get(locale, "stats.survey", survey=percent(total.survey_rate), satisfaction=percent(total.satisfaction), rated=total.rated),
        texts.get(
            locale, "stats.handling",
            average="—" if total.average_days is None else f"{total.average_days:.1f}",
            p90="—" if total.p90_days is None else total.p90_days,
        ),
    ]
    if found.by_department:
        lines.append(texts.get(locale, "stats.departments"))
        for code, f in found.by_department.items():
            lines.append(
                texts.get(
                    locale, "stats.department_line", name=department_name(rt, locale, code), received=f.received,
                    closed=f.closed, on_time=percent(f.on_time_rate), satisfaction=percent(f.satisfaction),
                )
            )
    groups = [
        GroupCounts(department_name(rt, "zh", code), department_name(rt, "en", code), f.received, f.closed, f.on_time_rate)
        for code, f in found.by_department.items()
    ]
    chart = await asyncio.to_thread(figures_chart, groups, period.label, chinese=locale == "zh")
    return StatsAnswer("\n".join(lines), chart)


async def ranking_answer(rt: Runtime, telegram_user_id: int, spec: str | None) -> str:
    """/ranking: the 绩效考评 table of units for the period."""
    reader = await supervising_reader(rt, telegram_user_id)
    period = period_for(rt, spec)
    found = await period_figures(rt, period, reader.scope)
    locale, texts = reader.locale, rt.texts
    lines = [texts.get(locale, "stats.ranking_title", period=period.label)]
    if not found.ranking:
        lines.append(texts.get(locale, "stats.ranking_empty"))
    for ranked in found.ranking:
        lines.append(
            texts.get(
                locale, "stats.ranking_line", rank=ranked.rank, unit=unit_name(rt, locale, ranked.unit),
                score=f"{ranked.score:.1f}", on_time=percent(ranked.on_time_rate),
                satisfaction=percent(ranked.satisfaction), appraisal=percent(ranked.appraisal_satisfaction),
            )
        )
    lines.append(texts.get(locale, "stats.ranking_rule"))
    return "\n".join(lines)
