"""Chinese official working days and the reply deadlines counted in them."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
_ONE_DAY = timedelta(days=1)


class WorkingCalendar:
    """Chinese official working days: weekends off, public holidays off, make-up working days (调休) on.

    `extra_holidays` (off) and `extra_workdays` (on) override everything for their dates, so
    config.toml can correct or extend the official data; a date may not be in both. A year the
    official data (chinese_calendar) does not cover falls back to Saturday and Sunday off.
    `official=False` uses that fallback for every year.
    """

    def __init__(
        self,
        *,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        official: bool = True,
    ) -> None:
        self._extra_holidays = frozenset(_require_date(day) for day in extra_holidays)
        self._extra_workdays = frozenset(_require_date(day) for day in extra_workdays)
        _reject_contradictions(self._extra_holidays, self._extra_workdays)
        self._official = official
        self._working_day_cache: dict[date, bool] = {}

    def is_working_day(self, day: date) -> bool:
        cached = self._working_day_cache.get(day)
        if cached is None:
            cached = self._working_day_cache[day] = self._decide(_require_date(day))
        return cached

    def covers(self, year: int) -> bool:
        """True when this calendar uses official holiday data (chinese_calendar) for `year`."""
        return self._official and _official_data_covers(year)

    def uncovered_years(self, years: Iterable[int]) -> list[int]:
        return sorted({year for year in years if not self.covers(year)})

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        candidate = day + _ONE_DAY
        while not self.is_working_day(candidate):
            candidate += _ONE_DAY
        return candidate

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day strictly after `day`; for n == 0, `day` itself if it is a working day, else the next one."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return day if self.is_working_day(day) else self.next_working_day(day)
        for _ in range(n):
            day = self.next_working_day(day)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days d with start < d <= end (0 when end <= start)."""
        span = (end - start).days
        return sum(self.is_working_day(start + timedelta(days=offset)) for offset in range(1, span + 1))

    def _decide(self, day: date) -> bool:
        if day in self._extra_workdays:
            return True
        if day in self._extra_holidays:
            return False
        if self.covers(day.year):
            return _official_is_workday(day)
        return day.weekday() < 5


@dataclass(frozen=True)
class OfficeHours:
    """Local office hours; `start` and `end` are naive wall-clock times in `tz`."""

    start: time = time(9, 0)
    end: time = time(18, 0)
    tz: ZoneInfo = SHANGHAI

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("office hours are wall-clock times; give the zone in `tz`, not on the times")
        if self.start >= self.end:
            raise ValueError(f"office hours must start before they end, got {self.start}–{self.end}")


def deadline_after(
    received_at: datetime, working_days: int, calendar: WorkingCalendar, hours: OfficeHours
) -> datetime:
    """End of office hours on the n-th working day after the local day of receipt, aware in UTC.

    The day of receipt does not count (12345 "收到之日起N个工作日内"): an item received on Friday
    evening with a 1-working-day limit is due Monday at the close of office hours.
    """
    received_day = _require_aware(received_at).astimezone(hours.tz).date()
    due_day = calendar.add_working_days(received_day, working_days)
    return datetime.combine(due_day, hours.end, tzinfo=hours.tz).astimezone(UTC)


def next_office_moment(moment: datetime, calendar: WorkingCalendar, hours: OfficeHours) -> datetime:
    """`moment` itself when it falls in office hours of a working day, else the next office opening (UTC).

    Reminders wait for the next working morning rather than waking an officer at night.
    """
    local = _require_aware(moment).astimezone(hours.tz)
    day = local.date()
    if calendar.is_working_day(day) and hours.start <= local.time() <= hours.end:
        return moment.astimezone(UTC)
    if not calendar.is_working_day(day) or local.time() > hours.end:
        day = calendar.next_working_day(day)
    return datetime.combine(day, hours.start, tzinfo=hours.tz).astimezone(UTC)


def add_working_hours(start: datetime, hours: float, calendar: WorkingCalendar, office: OfficeHours) -> datetime:
    """The moment `hours` of office time after `start`, counting only office hours of working days (UTC)."""
    remaining = timedelta(hours=hours)
    if remaining < timedelta(0):
        raise ValueError("working hours must not be negative")
    position = next_office_moment(start, calendar, office).astimezone(office.tz)
    while True:
        closing = datetime.combine(position.date(), office.end, tzinfo=office.tz)
        if remaining <= closing - position:
            return (position + remaining).astimezone(UTC)
        remaining -= closing - position
        opening_day = calendar.next_working_day(position.date())
        position = datetime.combine(opening_day, office.start, tzinfo=office.tz)


def coverage_warning(calendar: WorkingCalendar, years: Iterable[int]) -> str | None:
    """A bilingual sentence naming the years without official holiday data, or None when all are covered."""
    uncovered = calendar.uncovered_years(years)
    if not uncovered:
        return None
    zh_years = "、".join(str(year) for year in uncovered)
    en_years = ", ".join(str(year) for year in uncovered)
    return (
        f"工作日历未包含 {zh_years} 年的法定节假日数据，已按周末加 config.toml 中配置的节假日计算"
        f"（Working-day calendar has no official data for {en_years}; "
        f"using weekends plus configured holidays）。"
    )


@functools.cache
def _official_is_workday(day: date) -> bool:
    """chinese_calendar.is_workday, memoised across calendars: the official data is global and bounded."""
    return chinese_calendar.is_workday(day)


@functools.cache
def _official_data_covers(year: int) -> bool:
    if not MINYEAR <= year <= MAXYEAR:
        return False
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _require_date(day: date) -> date:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}: {day!r}")
    return day


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone; pass an aware datetime")
    return moment


def _reject_contradictions(extra_holidays: frozenset[date], extra_workdays: frozenset[date]) -> None:
    both = sorted(extra_holidays & extra_workdays)
    if both:
        listed = ", ".join(day.isoformat() for day in both)
        raise ValueError(f"dates configured as both extra holiday and extra workday: {listed}")
