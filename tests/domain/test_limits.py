from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import OfficeHours, WorkingCalendar
from domain.limits import WorkLimit, reopen_limit

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = OfficeHours()
CALENDAR = WorkingCalendar()


def local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def test_limits_are_written_in_working_days_or_hours() -> None:
    assert WorkLimit.parse("5d") == WorkLimit(5, "d")
    assert WorkLimit.parse(" 4H ") == WorkLimit(4, "h")
    assert WorkLimit.parse(3) == WorkLimit(3, "d")


@pytest.mark.parametrize("text", ["", "5", "5 days", "-1d", "0d", "2w"])
def test_an_unreadable_limit_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="5d|at least"):
        WorkLimit.parse(text)


def test_a_day_limit_ends_at_office_closing_on_the_nth_working_day() -> None:
    friday_evening = datetime(2026, 11, 27, 20, 0, tzinfo=SHANGHAI)
    assert local(WorkLimit(1, "d").due_after(friday_evening, CALENDAR, OFFICE)) == "2026-11-30 18:00"


def test_an_hour_limit_counts_only_office_hours() -> None:
    monday_four_pm = datetime(2026, 11, 23, 16, 0, tzinfo=SHANGHAI)
    # 2 hours on Monday (16:00-18:00), then 2 more from Tuesday's opening.
    assert local(WorkLimit(4, "h").due_after(monday_four_pm, CALENDAR, OFFICE)) == "2026-11-24 11:00"


def test_an_hour_limit_started_at_night_starts_counting_at_the_next_opening() -> None:
    saturday_night = datetime(2026, 11, 28, 23, 0, tzinfo=SHANGHAI)
    assert local(WorkLimit(2, "h").due_after(saturday_night, CALENDAR, OFFICE)) == "2026-11-30 11:00"


def test_an_hour_limit_skips_the_national_day_holiday() -> None:
    last_day_before = datetime(2026, 9, 30, 17, 0, tzinfo=SHANGHAI)
    due = WorkLimit(2, "h").due_after(last_day_before, CALENDAR, OFFICE)
    assert CALENDAR.is_working_day(due.astimezone(SHANGHAI).date())
    assert due.astimezone(SHANGHAI).date().month == 10 and due.astimezone(SHANGHAI).hour == 10


def test_a_reopened_ticket_gets_half_the_original_limit() -> None:
    assert reopen_limit(WorkLimit(15, "d"), 0.5, WorkLimit(2, "d"), OFFICE) == WorkLimit(8, "d")


def test_a_reopened_ticket_gets_at_least_the_minimum() -> None:
    assert reopen_limit(WorkLimit(3, "d"), 0.5, WorkLimit(2, "d"), OFFICE) == WorkLimit(2, "d")
    assert reopen_limit(WorkLimit(8, "h"), 0.5, WorkLimit(2, "d"), OFFICE) == WorkLimit(2, "d")
