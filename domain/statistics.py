"""Figures with one definition, used by the digest, the dashboard and the ledger alike."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from domain.calendar import WorkingCalendar
from domain.tickets import SurveyAnswer

SATISFIED_ANSWERS = (SurveyAnswer.SATISFIED, SurveyAnswer.BASICALLY_SATISFIED)
RATED_ANSWERS = (*SATISFIED_ANSWERS, SurveyAnswer.UNSATISFIED)


def satisfaction_rate(survey_results: Mapping[str, int]) -> float | None:
    """满意率 = (满意 + 基本满意) ÷ surveyed; 未回访 is not a rating. None when nobody rated."""
    rated = sum(survey_results.get(answer, 0) for answer in RATED_ANSWERS)
    if rated == 0:
        return None
    return sum(survey_results.get(answer, 0) for answer in SATISFIED_ANSWERS) / rated


# ---------------------------------------------------------------------------------------------
# The supervisors' figures. Everything below is pure: plain records in, plain figures out.
#
# Which tickets a figure counts, for a period [start, end) in the bureau's time zone:
#   受理量 received    tickets received in the period (void tickets — spam — count nowhere);
#   办结量 closed      of those, the ones closed by now (a cohort: 办结率 ≤ 100%, and a ticket received
#                      on the 30th and closed on the 2nd counts as closed for its month of receipt);
#   办结率             closed ÷ received;
#   按期办结率         closed on time ÷ due: "due" are the tickets whose deadline falls in the period and
#                      has passed, or that are closed already; closed at or before the deadline is on
#                      time; closed after it, or still open past it, is late;
#   回访率             closed tickets with a rating (满意 / 基本满意 / 不满意) ÷ closed (未回访 is no rating);
#   满意率             (满意 + 基本满意) ÷ rated, over the same closed cohort (satisfaction_rate above);
#   办理时长           working days from the local day of receipt to the local day of closing, for the
#                      closed cohort: average and 90th percentile (nearest rank).
# ---------------------------------------------------------------------------------------------

VOID = "void"
# 绩效考评 weights; a unit lacking one component is scored on the others, their weights rescaled.
RANKING_WEIGHTS = {"on_time": 0.4, "satisfaction": 0.4, "appraisal": 0.2}
RANKING_RULE = (
    "综合得分 = 按期办结率×40% + 满意率×40% + 群众评议满意率×20%；"
    "某项无数据时不计该项，其余权重按比例放大；三项均无数据的单位不排名。"
)


@dataclass(frozen=True, slots=True)
class TicketRecord:
    """What the figures need to know about one ticket (no resident, no text)."""

    received_at: datetime
    deadline_at: datetime
    closed_at: datetime | None
    state: str
    department: str
    category: str
    source: str
    unit: str | None = None
    survey_result: str | None = None


@dataclass(frozen=True, slots=True)
class AppraisalRecord:
    unit: str
    rating: str
    created_at: datetime


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime
    end: datetime

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


class PeriodError(ValueError):
    """Not today / week / month / YYYY-MM."""


def period_of(spec: str, now: datetime, tz: tzinfo) -> Period:
    """today, week (Monday on), month, or a month YYYY-MM; local midnights in `tz`, end exclusive."""
    spec = (spec or "month").strip().lower()
    today = now.astimezone(tz).date()
    if spec == "today":
        first, last = today, today + timedelta(days=1)
    elif spec == "week":
        first = today - timedelta(days=today.weekday())
        last = first + timedelta(days=7)
    elif spec == "month":
        first, last = today.replace(day=1), _next_month(today.replace(day=1))
        spec = first.strftime("%Y-%m")
    elif re.fullmatch(r"\d{4}-\d{2}", spec) and 1 <= int(spec[5:]) <= 12:
        first = date(int(spec[:4]), int(spec[5:]), 1)
        last = _next_month(first)
    else:
        raise PeriodError(spec)
    if spec == "today":
        label = first.isoformat()
    elif spec == "week":
        label = f"{first.isoformat()}/{(last - timedelta(days=1)).isoformat()}"
    else:
        label = spec
    return Period(label, _midnight(first, tz), _midnight(last, tz))


def days_period(first: date, last: date, tz: tzinfo) -> Period:
    """The local days first … last, both included."""
    return Period(f"{first.isoformat()}/{last.isoformat()}", _midnight(first, tz), _midnight(last + timedelta(days=1), tz))


def _next_month(first: date) -> date:
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


@dataclass(frozen=True)
class Figures:
    received: int = 0
    closed: int = 0
    due: int = 0
    closed_on_time: int = 0
    rated: int = 0
    satisfied: int = 0
    handling_days: tuple[int, ...] = ()

    @property
    def completion_rate(self) -> float | None:
        """办结率."""
        return _ratio(self.closed, self.received)

    @property
    def on_time_rate(self) -> float | None:
        """按期办结率."""
        return _ratio(self.closed_on_time, self.due)

    @property
    def late(self) -> int:
        return self.due - self.closed_on_time

    @property
    def survey_rate(self) -> float | None:
        """回访率."""
        return _ratio(self.rated, self.closed)

    @property
    def satisfaction(self) -> float | None:
        """满意率."""
        return _ratio(self.satisfied, self.rated)

    @property
    def average_days(self) -> float | None:
        return sum(self.handling_days) / len(self.handling_days) if self.handling_days else None

    @property
    def p90_days(self) -> int | None:
        return percentile(self.handling_days, 0.9)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(values: Iterable[int], fraction: float) -> int | None:
    """Nearest-rank percentile: the smallest value with at least `fraction` of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one ticket adds to a period's figures (the definitions above, decided once per ticket)."""

    received: bool = False
    closed: bool = False
    days: int | None = None
    rated: bool = False
    satisfied: bool = False
    due: bool = False
    on_time: bool = False


NOTHING = Contribution()


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """A ticket's standing against one period as plain comparisons, before any rule is applied.

    Computed per ticket by `Assessor.facts`, or for many identical tickets at once by the database
    (storage's figure groups), so the rules in `Assessor.contribution` are written once.
    """

    void: bool
    received_in_period: bool
    received_day: date | None  # local day of receipt
    closed_day: date | None  # local day of closing; None while open
    survey_result: str | None
    due_in_period: bool  # the deadline falls in the period
    deadline_passed: bool  # the deadline is at or before now
    closed_on_time: bool  # closed at or before the deadline


class Assessor:
    """Decides each ticket's Contribution to one period's figures."""

    def __init__(self, period: Period, now: datetime, calendar: WorkingCalendar, tz: tzinfo) -> None:
        # In UTC, like the moments the database returns: comparing datetimes of one tzinfo is the fast path.
        self.start, self.end = period.start.astimezone(UTC), period.end.astimezone(UTC)
        self.now, self.calendar, self.tz = now.astimezone(UTC), calendar, tz

    def facts(self, ticket: TicketRecord) -> TicketFacts:
        closed_at = ticket.closed_at
        return TicketFacts(
            void=ticket.state == VOID,
            received_in_period=self.start <= ticket.received_at < self.end,
            received_day=ticket.received_at.astimezone(self.tz).date(),
            closed_day=None if closed_at is None else closed_at.astimezone(self.tz).date(),
            survey_result=ticket.survey_result,
            due_in_period=self.start <= ticket.deadline_at < self.end,
            deadline_passed=ticket.deadline_at <= self.now,
            closed_on_time=closed_at is not None and closed_at <= ticket.deadline_at,
        )

    def assess(self, ticket: TicketRecord) -> Contribution:
        return self.contribution(self.facts(ticket))

    def contribution(self, facts: TicketFacts) -> Contribution:
        """The definitions at the top of this section, applied to one ticket's facts."""
        if facts.void:
            return NOTHING
        closed = facts.closed_day is not None
        received = facts.received_in_period
        days = None
        rated = satisfied = False
        if received and closed:
            days = _working_days(self.calendar, facts.received_day, facts.closed_day)
            rated = facts.survey_result in RATED_ANSWERS
            satisfied = facts.survey_result in SATISFIED_ANSWERS
        due = facts.due_in_period and (closed or facts.deadline_passed)
        if not (received or due):
            return NOTHING
        return Contribution(received, received and closed, days, rated, satisfied, due, due and facts.closed_on_time)


class Tally:
    """Counts tickets one at a time, so a year of them never has to be in memory at once."""

    def __init__(self, period: Period, now: datetime, calendar: WorkingCalendar, tz: tzinfo) -> None:
        self.assessor = Assessor(period, now, calendar, tz)
        self.received = self.closed = self.due = self.on_time = self.rated = self.satisfied = 0
        self.days: list[int] = []

    def add(self, ticket: TicketRecord) -> None:
        self.count(self.assessor.assess(ticket))

    def count(self, part: Contribution, tickets: int = 1) -> None:
        """Adds `tickets` tickets already assessed alike (assessed once, however many groupings count them)."""
        if part is NOTHING:
            return
        self.received += part.received * tickets
        self.closed += part.closed * tickets
        if part.days is not None:
            self.days.extend([part.days] * tickets)
        self.rated += part.rated * tickets
        self.satisfied += part.satisfied * tickets
        self.due += part.due * tickets
        self.on_time += part.on_time * tickets

    def result(self) -> Figures:
        return Figures(self.received, self.closed, self.due, self.on_time, self.rated, self.satisfied, tuple(self.days))


class GroupedTally:
    """A Tally per group (department, unit, category, source …); tickets whose key is None are left out."""

    def __init__(
        self, key: Callable[[TicketRecord], str | None], period: Period, now: datetime, calendar: WorkingCalendar, tz: tzinfo
    ) -> None:
        self.key, self.period, self.now, self.calendar, self.tz = key, period, now, calendar, tz
        self.assessor = Assessor(period, now, calendar, tz)
        self.groups: dict[str, Tally] = {}

    def add(self, ticket: TicketRecord) -> None:
        self.count(ticket, self.assessor.assess(ticket))

    def count(self, ticket: TicketRecord, part: Contribution, tickets: int = 1) -> None:
        if part is NOTHING:
            return
        self.count_in(self.key(ticket), part, tickets)

    def count_in(self, name: str | None, part: Contribution, tickets: int = 1) -> None:
        if part is NOTHING or name is None:
            return
        if name not in self.groups:
            self.groups[name] = Tally(self.period, self.now, self.calendar, self.tz)
        self.groups[name].count(part, tickets)

    def result(self) -> dict[str, Figures]:
        return {name: tally.result() for name, tally in sorted(self.groups.items())}


def figures(tickets: Iterable[TicketRecord], period: Period, now: datetime, calendar: WorkingCalendar, tz: tzinfo) -> Figures:
    """The period's figures over `tickets` (see the definitions at the top of this section)."""
    tally = Tally(period, now, calendar, tz)
    for ticket in tickets:
        tally.add(ticket)
    return tally.result()


@lru_cache(maxsize=65536)
def _working_days(calendar: WorkingCalendar, start: date, end: date) -> int:
    # The same pairs of days come up again for every grouping of the same tickets.
    return calendar.working_days_between(start, end)


def figures_by(
    tickets: Iterable[TicketRecord],
    key: Callable[[TicketRecord], str | None],
    period: Period,
    now: datetime,
    calendar: WorkingCalendar,
    tz: tzinfo,
) -> dict[str, Figures]:
    """Figures per group (department, unit, category, source …); tickets whose key is None are left out."""
    tally = GroupedTally(key, period, now, calendar, tz)
    for ticket in tickets:
        tally.add(ticket)
    return tally.result()


def appraisal_satisfaction(appraisals: Iterable[AppraisalRecord], period: Period) -> dict[str, tuple[float | None, int]]:
    """群众评议满意率 per unit over the period's appraisals: (rate, number of appraisals)."""
    by_unit: dict[str, Counter[str]] = {}
    for appraisal in appraisals:
        if period.holds(appraisal.created_at):
            by_unit.setdefault(appraisal.unit, Counter())[appraisal.rating] += 1
    return {unit: (satisfaction_rate(counts), sum(counts.values())) for unit, counts in sorted(by_unit.items())}


@dataclass(frozen=True)
class RankedUnit:
    rank: int
    unit: str
    score: float
    on_time_rate: float | None
    satisfaction: float | None
    appraisal_satisfaction: float | None
    figures: Figures = field(default_factory=Figures)
    appraisals: int = 0


def ranking_score(on_time_rate: float | None, satisfaction: float | None, appraisal: float | None) -> float | None:
    """绩效考评 score in 0 … 100; None when the unit has no figure at all.

    score = 100 × (0.4 × 按期办结率 + 0.4 × 满意率 + 0.2 × 群众评议满意率). Timeliness and the residents'
    rating of the handling weigh equally; the walk-in appraisal of the unit counts half as much,
    since any visitor may give it. A part without data (no ticket due, nobody rated, no appraisal)
    is left out and the other weights are rescaled, so a unit is neither punished nor rewarded for
    what it was not asked to do. The same rule is written into the ledger's figures sheet.
    """
    parts = {"on_time": on_time_rate, "satisfaction": satisfaction, "appraisal": appraisal}
    present = {name: value for name, value in parts.items() if value is not None}
    if not present:
        return None
    weight = sum(RANKING_WEIGHTS[name] for name in present)
    return 100 * sum(RANKING_WEIGHTS[name] * value for name, value in present.items()) / weight


def unit_ranking(
    tickets: Sequence[TicketRecord],
    appraisals: Iterable[AppraisalRecord],
    period: Period,
    now: datetime,
    calendar: WorkingCalendar,
    tz: tzinfo,
) -> list[RankedUnit]:
    """Units by score, best first (see rank_units)."""
    per_unit = figures_by(tickets, lambda t: t.unit, period, now, calendar, tz)
    return rank_units(per_unit, appraisal_satisfaction(appraisals, period))


def rank_units(per_unit: Mapping[str, Figures], appraised: Mapping[str, tuple[float | None, int]]) -> list[RankedUnit]:
    """Units by ranking_score, best first; equal scores share a rank (1, 1, 3) and are listed by unit code."""
    scored = []
    for unit in sorted(set(per_unit) | set(appraised)):
        unit_figures = per_unit.get(unit, Figures())
        appraisal_rate, count = appraised.get(unit, (None, 0))
        score = ranking_score(unit_figures.on_time_rate, unit_figures.satisfaction, appraisal_rate)
        if score is not None:
            scored.append((score, unit, unit_figures, appraisal_rate, count))
    scored.sort(key=lambda item: (-round(item[0], 9), item[1]))
    ranked: list[RankedUnit] = []
    for position, (score, unit, unit_figures, appraisal_rate, count) in enumerate(scored, 1):
        tied = ranked and round(ranked[-1].score, 9) == round(score, 9)
        rank = ranked[-1].rank if tied else position
        ranked.append(
            RankedUnit(
                rank, unit, score, unit_figures.on_time_rate, unit_figures.satisfaction, appraisal_rate, unit_figures, count
            )
        )
    return ranked


def is_overdue(deadline_at: datetime, closed_at: datetime | None, now: datetime) -> bool:
    """是否超期 for one ticket: closed after its deadline, or still open past it."""
    return (closed_at if closed_at is not None else now) > deadline_at
