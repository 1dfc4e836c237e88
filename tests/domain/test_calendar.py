from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import OfficeHours, WorkingCalendar, coverage_warning, deadline_after, next_office_moment

SHANGHAI = ZoneInfo("Asia/Shanghai")
ONE_DAY = timedelta(days=1)


def days_from(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


# --- 2026, covered by the official data (facts taken from chinese_calendar itself) ---

NATIONAL_DAY_2026 = [
    day
    for day in days_from(date(2026, 9, 25), date(2026, 10, 15))
    if chinese_calendar.get_holiday_detail(day) == (True, chinese_calendar.Holiday.national_day.value)
]
MAKE_UP_SATURDAYS_2026 = [
    day for day in days_from(date(2026, 1, 1), date(2026, 12, 31)) if day.weekday() == 5 and chinese_calendar.is_workday(day)
]


def test_the_2026_national_day_holiday_is_known_to_chinese_calendar():
    assert len(NATIONAL_DAY_2026) >= 3
    assert any(day.weekday() < 5 for day in NATIONAL_DAY_2026)


def test_national_day_holiday_days_are_not_working_days():
    calendar = WorkingCalendar()
    assert [day for day in NATIONAL_DAY_2026 if calendar.is_working_day(day)] == []


def test_a_make_up_saturday_is_a_working_day():
    calendar = WorkingCalendar()
    assert MAKE_UP_SATURDAYS_2026
    assert all(calendar.is_working_day(day) for day in MAKE_UP_SATURDAYS_2026)


def test_adding_five_working_days_across_national_day_skips_the_holiday():
    start = NATIONAL_DAY_2026[0] - ONE_DAY
    official_workdays = chinese_calendar.get_workdays(start + ONE_DAY, start + timedelta(days=30))

    landed = WorkingCalendar().add_working_days(start, 5)

    assert landed == official_workdays[4]
    assert landed > NATIONAL_DAY_2026[-1]
    assert WorkingCalendar().working_days_between(start, landed) == 5


def test_covers_a_year_the_official_data_knows():
    assert WorkingCalendar().covers(2026)


def test_configured_dates_override_the_official_data():
    holiday_weekday, make_up_saturday = NATIONAL_DAY_2026[0], MAKE_UP_SATURDAYS_2026[0]
    corrected = WorkingCalendar(extra_workdays=[holiday_weekday], extra_holidays=[make_up_saturday])

    assert corrected.is_working_day(holiday_weekday)
    assert not corrected.is_working_day(make_up_saturday)


def test_without_official_data_only_weekends_and_configured_dates_count():
    calendar = WorkingCalendar(official=False)
    holiday_weekday = next(day for day in NATIONAL_DAY_2026 if day.weekday() < 5)

    assert calendar.is_working_day(holiday_weekday)
    assert not calendar.is_working_day(MAKE_UP_SATURDAYS_2026[0])
    assert not calendar.covers(2026)


# --- 2027, not covered by the official data ---

NEW_YEARS_DAY_2027 = date(2027, 1, 1)  # a Friday, configured as a holiday
MAKE_UP_SATURDAY_2027 = date(2027, 2, 20)  # configured as a working day


@pytest.fixture
def calendar_2027() -> WorkingCalendar:
    return WorkingCalendar(extra_holidays=[NEW_YEARS_DAY_2027], extra_workdays=[MAKE_UP_SATURDAY_2027])


def test_an_uncovered_year_is_not_covered_by_the_official_data(calendar_2027):
    assert not calendar_2027.covers(2027)
    assert calendar_2027.uncovered_years([2027, 2025, 2026, 2027, 2028]) == [2027, 2028]


def test_an_uncovered_year_has_weekends_off_and_weekdays_on(calendar_2027):
    assert [calendar_2027.is_working_day(day) for day in days_from(date(2027, 1, 2), date(2027, 1, 8))] == [
        False, False, True, True, True, True, True,
    ]


def test_a_configured_holiday_in_an_uncovered_year_is_off(calendar_2027):
    assert NEW_YEARS_DAY_2027.weekday() == 4
    assert not calendar_2027.is_working_day(NEW_YEARS_DAY_2027)


def test_a_configured_make_up_saturday_in_an_uncovered_year_is_on(calendar_2027):
    assert MAKE_UP_SATURDAY_2027.weekday() == 5
    assert calendar_2027.is_working_day(MAKE_UP_SATURDAY_2027)


def test_walking_into_an_uncovered_year_does_not_raise(calendar_2027):
    landed = calendar_2027.add_working_days(date(2026, 12, 30), 3)

    assert landed == date(2027, 1, 5)  # Dec 31, (Jan 1 holiday, weekend), Jan 4, Jan 5


def test_coverage_warning_names_the_uncovered_year_in_chinese_and_english(calendar_2027):
    warning = coverage_warning(calendar_2027, [2026, 2027])

    assert warning is not None
    assert warning.startswith("工作日历未包含 2027 年")
    assert "no official data for 2027" in warning
    assert "2026" not in warning


def test_coverage_warning_is_none_when_every_year_is_covered():
    assert coverage_warning(WorkingCalendar(), [2024, 2025, 2026]) is None


# --- argument checking and edge rules ---


def test_a_date_configured_as_both_holiday_and_workday_is_rejected():
    with pytest.raises(ValueError, match="2027-01-01"):
        WorkingCalendar(extra_holidays=[NEW_YEARS_DAY_2027], extra_workdays=[NEW_YEARS_DAY_2027])


def test_a_datetime_is_not_accepted_as_a_day():
    with pytest.raises(TypeError):
        WorkingCalendar().is_working_day(datetime(2026, 3, 2, tzinfo=UTC))


def test_adding_negative_working_days_is_rejected():
    with pytest.raises(ValueError):
        WorkingCalendar().add_working_days(date(2026, 3, 2), -1)


def test_adding_zero_working_days_stays_on_a_working_day_or_moves_to_the_next():
    calendar = WorkingCalendar()
    monday, saturday = date(2026, 3, 2), date(2026, 3, 7)
    assert calendar.is_working_day(monday) and not calendar.is_working_day(saturday)

    assert calendar.add_working_days(monday, 0) == monday
    assert calendar.add_working_days(saturday, 0) == calendar.next_working_day(saturday)


def test_working_days_between_is_zero_when_end_is_not_after_start():
    calendar = WorkingCalendar()
    assert calendar.working_days_between(date(2026, 3, 4), date(2026, 3, 4)) == 0
    assert calendar.working_days_between(date(2026, 3, 4), date(2026, 3, 2)) == 0


# --- deadline_after ---

FRIDAY = date(2026, 3, 6)


def test_the_chosen_week_is_an_ordinary_one():
    assert FRIDAY.weekday() == 4
    assert chinese_calendar.get_workdays(FRIDAY, FRIDAY + timedelta(days=7)) == [
        FRIDAY + timedelta(days=offset) for offset in (0, 3, 4, 5, 6, 7)
    ]


def test_an_item_received_on_friday_evening_counts_from_monday():
    received = shanghai(2026, 3, 6, 20, 30)

    assert deadline_after(received, 1, WorkingCalendar(), OfficeHours()) == shanghai(2026, 3, 9, 18, 0)
    assert deadline_after(received, 5, WorkingCalendar(), OfficeHours()) == shanghai(2026, 3, 13, 18, 0)


def test_the_deadline_is_the_end_of_office_hours_expressed_in_utc():
    deadline = deadline_after(shanghai(2026, 3, 6, 20, 30), 1, WorkingCalendar(), OfficeHours())

    assert deadline.tzinfo is UTC
    assert deadline == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


def test_the_deadline_follows_the_configured_closing_time():
    hours = OfficeHours(start=time(8, 30), end=time(17, 30))

    assert deadline_after(shanghai(2026, 3, 6, 9, 0), 1, WorkingCalendar(), hours) == shanghai(2026, 3, 9, 17, 30)


def test_receipt_just_before_and_just_after_local_midnight_differ_by_a_day():
    before_midnight = shanghai(2026, 3, 10, 23, 59)  # Tuesday, 15:59 UTC
    after_midnight = shanghai(2026, 3, 11, 0, 1)  # Wednesday, 16:01 UTC the same UTC day
    assert before_midnight.astimezone(UTC).date() == after_midnight.astimezone(UTC).date()

    early = deadline_after(before_midnight, 1, WorkingCalendar(), OfficeHours())
    late = deadline_after(after_midnight, 1, WorkingCalendar(), OfficeHours())

    assert late - early == ONE_DAY
    assert early == shanghai(2026, 3, 11, 18, 0)


def test_receipt_time_in_any_zone_is_read_as_local_office_time():
    friday_evening_in_utc = datetime(2026, 3, 6, 12, 30, tzinfo=UTC)  # 20:30 in Shanghai

    assert deadline_after(friday_evening_in_utc, 1, WorkingCalendar(), OfficeHours()) == shanghai(2026, 3, 9, 18, 0)


def test_a_naive_receipt_time_is_rejected():
    with pytest.raises(ValueError, match="naive"):
        deadline_after(datetime(2026, 3, 6, 20, 30), 1, WorkingCalendar(), OfficeHours())


def test_office_hours_must_start_before_they_end():
    with pytest.raises(ValueError):
        OfficeHours(start=time(18, 0), end=time(9, 0))


# --- properties over covered (2024–2026) and uncovered (2027–2028) years ---

FIRST_DAY, LAST_DAY = date(2024, 1, 1), date(2028, 12, 31)
days = st.dates(min_value=FIRST_DAY, max_value=LAST_DAY)
counts = st.integers(min_value=0, max_value=40)
property_settings = settings(max_examples=60, deadline=None)


def days_near(day: date) -> st.SearchStrategy[date]:
    """Days around `day`, so that configured dates actually fall inside the walks under test."""
    return st.integers(min_value=-5, max_value=80).map(lambda offset: day + timedelta(days=offset))


@st.composite
def configured_dates_near(draw: st.DrawFn, day: date) -> tuple[frozenset[date], frozenset[date], bool]:
    extra_holidays = draw(st.frozensets(days_near(day), max_size=25))
    extra_workdays = draw(st.frozensets(days_near(day), max_size=10)) - extra_holidays
    return extra_holidays, extra_workdays, draw(st.booleans())


@st.composite
def calendars_with_a_start_day(draw: st.DrawFn) -> tuple[WorkingCalendar, date]:
    start = draw(days)
    extra_holidays, extra_workdays, official = draw(configured_dates_near(start))
    calendar = WorkingCalendar(extra_holidays=extra_holidays, extra_workdays=extra_workdays, official=official)
    return calendar, start


def naive_add_working_days(calendar: WorkingCalendar, start: date, n: int) -> date:
    day = start if n > 0 or not calendar.is_working_day(start) else start - ONE_DAY
    counted = 0
    while counted < max(n, 1):
        day += ONE_DAY
        counted += calendar.is_working_day(day)
    return day


def reference_is_working_day(day: date, holidays: frozenset[date], workdays: frozenset[date], official: bool) -> bool:
    if day in workdays or day in holidays:
        return day in workdays
    try:
        if official:
            return chinese_calendar.is_workday(day)
    except NotImplementedError:
        pass
    return day.weekday() < 5


@property_settings
@given(data=st.data(), day=days)
def test_is_working_day_follows_configured_dates_then_official_data_then_weekends(data, day):
    holidays, workdays, official = data.draw(configured_dates_near(day - timedelta(days=3)))
    calendar = WorkingCalendar(extra_holidays=holidays, extra_workdays=workdays, official=official)

    assert calendar.is_working_day(day) == reference_is_working_day(day, holidays, workdays, official)


@property_settings
@given(scenario=calendars_with_a_start_day(), n=counts)
def test_add_working_days_never_lands_on_a_non_working_day(scenario, n):
    calendar, start = scenario
    assert calendar.is_working_day(calendar.add_working_days(start, n))


@property_settings
@given(scenario=calendars_with_a_start_day(), n=counts)
def test_add_working_days_agrees_with_a_day_by_day_walk(scenario, n):
    calendar, start = scenario
    assert calendar.add_working_days(start, n) == naive_add_working_days(calendar, start, n)


@property_settings
@given(scenario=calendars_with_a_start_day(), n=counts, more=st.integers(min_value=1, max_value=10))
def test_add_working_days_is_monotonic_in_n(scenario, n, more):
    calendar, start = scenario
    fewer_days, more_days = calendar.add_working_days(start, n), calendar.add_working_days(start, n + more)

    assert fewer_days <= more_days
    if n >= 1:
        assert fewer_days < more_days


@property_settings
@given(scenario=calendars_with_a_start_day(), later_by=st.integers(min_value=0, max_value=60), n=counts)
def test_add_working_days_is_monotonic_in_the_start_day(scenario, later_by, n):
    calendar, start = scenario
    later_start = start + timedelta(days=later_by)

    assert calendar.add_working_days(start, n) <= calendar.add_working_days(later_start, n)


@property_settings
@given(scenario=calendars_with_a_start_day(), n=st.integers(min_value=1, max_value=40))
def test_working_days_between_a_day_and_n_working_days_later_is_n(scenario, n):
    calendar, start = scenario
    assert calendar.working_days_between(start, calendar.add_working_days(start, n)) == n


# --- office moments: reminders wait for the next working morning ---------------------------------


def _shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_a_moment_inside_office_hours_stays_where_it_is() -> None:
    moment = _shanghai(2026, 11, 24, 11, 37)
    assert next_office_moment(moment, WorkingCalendar(), OfficeHours()) == moment


def test_a_moment_at_night_waits_for_the_next_working_morning() -> None:
    assert next_office_moment(_shanghai(2026, 11, 24, 2, 1), WorkingCalendar(), OfficeHours()) == _shanghai(
        2026, 11, 24, 9, 0
    )
    assert next_office_moment(_shanghai(2026, 11, 24, 19, 0), WorkingCalendar(), OfficeHours()) == _shanghai(
        2026, 11, 25, 9, 0
    )


def test_a_moment_on_a_weekend_waits_for_monday_morning() -> None:
    saturday_noon = _shanghai(2026, 11, 28, 12, 0)
    assert next_office_moment(saturday_noon, WorkingCalendar(), OfficeHours()) == _shanghai(2026, 11, 30, 9, 0)
