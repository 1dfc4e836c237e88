"""The supervisors' figures against examples worked out by hand (the arithmetic is in the comments).

November 2026 has no public holiday in China, so its working days are Monday to Friday.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import WorkingCalendar
from domain.statistics import (
    AppraisalRecord,
    PeriodError,
    TicketRecord,
    appraisal_satisfaction,
    figures,
    figures_by,
    is_overdue,
    percentile,
    period_of,
    ranking_score,
    satisfaction_rate,
    unit_ranking,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)  # Monday
CALENDAR = WorkingCalendar()
NOVEMBER = period_of("2026-11", NOW, TZ)


def at(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=TZ)


def ticket(received: datetime, deadline: datetime, closed: datetime | None = None, *, state: str | None = None,
           survey: str | None = None, unit: str = "huzheng", department: str = "business",
           category: str = "business", source: str = "hotline") -> TicketRecord:
    state = state or ("closed" if closed else "signed")
    return TicketRecord(received, deadline, closed, state, department, category, source, unit, survey)


# A  received Mon 2 Nov, due Mon 9 Nov, closed Thu 5 Nov (on time), 满意;      3 working days (3, 4, 5 Nov)
# B  received Fri 6 Nov, due Fri 13 Nov, closed Mon 16 Nov (late), 基本满意;   6 working days (9–13, 16 Nov)
# C  received Tue 10 Nov, due Tue 17 Nov, still open on 23 Nov: due and late
# D  received Thu 12 Nov, due Thu 19 Nov, closed Fri 13 Nov (on time), 不满意; 1 working day (13 Nov)
# E  received Fri 20 Nov, due Fri 27 Nov, open: received, not yet due
# F  received Mon 16 Nov, due Mon 23 Nov 18:00, closed Wed 18 Nov (on time), 未回访; 2 working days (17, 18 Nov)
# G  received Wed 28 Oct, due Wed 4 Nov, closed Tue 3 Nov: not received in November, but due in it, on time
# H  received Tue 3 Nov, voided as spam: counts nowhere
A = ticket(at(2), at(9, 18), at(5, 15), state="surveyed", survey="satisfied")
B = ticket(at(6), at(13, 18), at(16), state="surveyed", survey="basically_satisfied")
C = ticket(at(10), at(17, 18))
D = ticket(at(12), at(19, 18), at(13), state="surveyed", survey="unsatisfied", unit="traffic")
E = ticket(at(20), at(27, 18), unit="traffic")
F = ticket(at(16), at(23, 18), at(18), survey="unanswered", unit="traffic")
G = ticket(at(28, month=10), at(4, 18), at(3))
H = ticket(at(3), at(10, 18), at(3, 11), state="void")
NOVEMBER_TICKETS = [A, B, C, D, E, F, G, H]


def test_november_counts_received_and_closed_as_a_cohort_without_void_tickets() -> None:
    november = figures(NOVEMBER_TICKETS, NOVEMBER, NOW, CALENDAR, TZ)
    assert november.received == 6  # A B C D E F (G was received in October, H is void)
    assert november.closed == 4  # A B D F
    assert november.completion_rate == pytest.approx(4 / 6)  # 办结率 66.7%


def test_on_time_rate_counts_open_overdue_tickets_as_late_and_ignores_deadlines_still_to_come() -> None:
    november = figures(NOVEMBER_TICKETS, NOVEMBER, NOW, CALENDAR, TZ)
    assert november.due == 6  # A B C D F G; E's deadline (27 Nov) has not come and it is open
    assert november.closed_on_time == 4  # A D F G; B closed late, C is open past its deadline
    assert november.late == 2
    assert november.on_time_rate == pytest.approx(4 / 6)  # 按期办结率 66.7%


def test_survey_rate_and_satisfaction_do_not_count_unanswered_surveys_as_ratings() -> None:
    november = figures(NOVEMBER_TICKETS, NOVEMBER, NOW, CALENDAR, TZ)
    assert november.rated == 3  # A 满意, B 基本满意, D 不满意; F 未回访 is no rating
    assert november.survey_rate == pytest.approx(3 / 4)  # 回访率 = 3 rated ÷ 4 closed = 75%
    assert november.satisfied == 2
    assert november.satisfaction == pytest.approx(2 / 3)  # 满意率 = (1 + 1) ÷ 3 = 66.7%
    assert satisfaction_rate({"satisfied": 1, "basically_satisfied": 1, "unsatisfied": 1, "unanswered": 1}) == pytest.approx(2 / 3)


def test_handling_time_is_counted_in_working_days_with_a_nearest_rank_90th_percentile() -> None:
    november = figures(NOVEMBER_TICKETS, NOVEMBER, NOW, CALENDAR, TZ)
    assert sorted(november.handling_days) == [1, 2, 3, 6]  # D F A B
    assert november.average_days == pytest.approx(3.0)  # (1 + 2 + 3 + 6) ÷ 4
    assert november.p90_days == 6  # rank ⌈0.9 × 4⌉ = 4 → the 4th smallest, 6


def test_handling_time_skips_the_national_day_holiday() -> None:
    # Received Wed 30 Sep 2026, closed Fri 9 Oct: 1–7 Oct are holidays, Sat 10 Oct is a make-up working day
    # but lies after the closing; counted: 8 and 9 Oct = 2 working days.
    october = period_of("2026-09", NOW, TZ)
    one = ticket(at(30, month=9), at(14, 18, month=10), at(9, month=10))
    assert figures([one], october, NOW, CALENDAR, TZ).handling_days == (2,)


def test_an_empty_period_has_counts_of_zero_and_no_rates() -> None:
    empty = figures([], NOVEMBER, NOW, CALENDAR, TZ)
    assert (empty.received, empty.closed, empty.due) == (0, 0, 0)
    assert empty.completion_rate is None and empty.on_time_rate is None and empty.satisfaction is None
    assert empty.average_days is None and empty.p90_days is None


def test_a_ticket_received_just_after_local_midnight_belongs_to_the_local_month() -> None:
    # 31 Oct 17:00 UTC is 1 Nov 01:00 in Shanghai.
    early = ticket(datetime(2026, 10, 31, 17, 0, tzinfo=ZoneInfo("UTC")), at(6, 18))
    assert figures([early], NOVEMBER, NOW, CALENDAR, TZ).received == 1
    assert figures([early], period_of("2026-10", NOW, TZ), NOW, CALENDAR, TZ).received == 0


def test_figures_split_by_unit_department_category_and_source() -> None:
    by_unit = figures_by(NOVEMBER_TICKETS, lambda t: t.unit, NOVEMBER, NOW, CALENDAR, TZ)
    assert by_unit["huzheng"].received == 3  # A B C
    assert by_unit["traffic"].received == 3  # D E F
    appraisal_ticket = ticket(at(4), at(11, 18), source="appraisal", category="petition", department="petition")
    by_source = figures_by([A, appraisal_ticket], lambda t: t.source, NOVEMBER, NOW, CALENDAR, TZ)
    assert {name: f.received for name, f in by_source.items()} == {"appraisal": 1, "hotline": 1}
    by_department = figures_by([A, appraisal_ticket], lambda t: t.department, NOVEMBER, NOW, CALENDAR, TZ)
    assert by_department["petition"].closed == 0 and by_department["business"].closed == 1


def test_periods_are_local_today_week_from_monday_month_and_a_named_month() -> None:
    today = period_of("today", NOW, TZ)
    assert (today.start, today.end) == (at(23, 0), at(24, 0))
    week = period_of("week", datetime(2026, 11, 26, 9, tzinfo=TZ), TZ)  # a Thursday
    assert (week.start, week.end) == (at(23, 0), at(30, 0))
    month = period_of("month", NOW, TZ)
    assert (month.label, month.start, month.end) == ("2026-11", at(1, 0), at(1, 0, month=12))
    december = period_of("2026-12", NOW, TZ)
    assert december.end == datetime(2027, 1, 1, tzinfo=TZ)
    for nonsense in ("yesterday", "2026-13", "2026-1"):
        with pytest.raises(PeriodError):
            period_of(nonsense, NOW, TZ)


def test_appraisal_satisfaction_counts_only_the_periods_appraisals() -> None:
    appraisals = [
        AppraisalRecord("xishan_station", "satisfied", at(2)),
        AppraisalRecord("xishan_station", "satisfied", at(3)),
        AppraisalRecord("xishan_station", "unsatisfied", at(4)),
        AppraisalRecord("xishan_station", "unsatisfied", at(30, month=10)),  # October: not counted
    ]
    # (满意 2 + 基本满意 0) ÷ 3 appraisals in November
    assert appraisal_satisfaction(appraisals, NOVEMBER) == {"xishan_station": (pytest.approx(2 / 3), 3)}


def test_units_are_ranked_by_the_weighted_score_leaving_out_what_a_unit_lacks() -> None:
    appraisals = [
        AppraisalRecord("xishan_station", "satisfied", at(2)),
        AppraisalRecord("xishan_station", "satisfied", at(3)),
        AppraisalRecord("xishan_station", "unsatisfied", at(4)),
        AppraisalRecord("traffic", "basically_satisfied", at(5)),
        AppraisalRecord("traffic", "unsatisfied", at(6)),
    ]
    ranking = unit_ranking(NOVEMBER_TICKETS, appraisals, NOVEMBER, NOW, CALENDAR, TZ)
    # huzheng: on time A G of A B C G = 0.5; satisfied A B of 2 rated = 1.0; no appraisal
    #          → (0.4 × 0.5 + 0.4 × 1.0) ÷ 0.8 = 75.0
    # xishan_station: appraisals only, 2 ÷ 3 → 66.7
    # traffic: on time D F of D F = 1.0; satisfied 0 of 1 rated (D) = 0.0; appraisal 1 ÷ 2 = 0.5
    #          → 0.4 × 1.0 + 0.4 × 0.0 + 0.2 × 0.5 = 0.5 → 50.0
    assert [(r.rank, r.unit) for r in ranking] == [(1, "huzheng"), (2, "xishan_station"), (3, "traffic")]
    assert [round(r.score, 1) for r in ranking] == [75.0, 66.7, 50.0]
    assert ranking[2].appraisals == 2 and ranking[2].appraisal_satisfaction == pytest.approx(0.5)


def test_equal_scores_share_a_rank() -> None:
    appraisals = [AppraisalRecord(unit, "satisfied", at(2)) for unit in ("b_unit", "a_unit", "c_unit")]
    appraisals.append(AppraisalRecord("c_unit", "unsatisfied", at(2)))
    ranking = unit_ranking([], appraisals, NOVEMBER, NOW, CALENDAR, TZ)
    assert [(r.rank, r.unit) for r in ranking] == [(1, "a_unit"), (1, "b_unit"), (3, "c_unit")]


def test_a_unit_without_any_figure_gets_no_score() -> None:
    assert ranking_score(None, None, None) is None
    assert ranking_score(1.0, 1.0, 1.0) == pytest.approx(100.0)
    assert ranking_score(0.9, None, 0.6) == pytest.approx((0.4 * 0.9 + 0.2 * 0.6) / 0.6 * 100)  # 80.0


def test_percentile_takes_the_nearest_rank() -> None:
    assert percentile([], 0.9) is None
    assert percentile([5], 0.9) == 5
    assert percentile(range(1, 11), 0.9) == 9  # ⌈0.9 × 10⌉ = 9th of 1 … 10


def test_a_ticket_is_overdue_when_closed_after_its_deadline_or_open_past_it() -> None:
    deadline = at(20, 18)
    assert not is_overdue(deadline, deadline, NOW)
    assert is_overdue(deadline, deadline + timedelta(minutes=1), NOW)
    assert is_overdue(deadline, None, NOW)  # open on 23 Nov, past the 20th
    assert not is_overdue(at(27, 18), None, NOW)
