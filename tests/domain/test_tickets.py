from datetime import UTC, datetime, timedelta

import pytest

from domain.tickets import (
    Action,
    InvalidTransition,
    ResultRequired,
    SurveyAnswer,
    SurveyOutcome,
    TicketState,
    check_closable,
    format_number,
    next_state,
    reminder_moments,
    named_department,
    route,
    survey_outcome,
)

DEPARTMENTS = {"business": "business", "petition": "petition", "discipline": "discipline", "other": "triage"}


def test_a_dispatched_ticket_is_signed_then_answered_then_closed() -> None:
    state = next_state(TicketState.SUBMITTED, Action.DISPATCH)
    state = next_state(state, Action.SIGN)
    state = next_state(state, Action.REPLY)
    assert next_state(state, Action.CLOSE) == TicketState.CLOSED


def test_an_officer_may_reply_more_than_once() -> None:
    assert next_state(TicketState.ANSWERED, Action.REPLY) == TicketState.ANSWERED


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (TicketState.DISPATCHED, Action.CLOSE),  # nobody signed for it: no responsible officer
        (TicketState.DISPATCHED, Action.REPLY),
        (TicketState.SIGNED, Action.SIGN),  # already taken
        (TicketState.CLOSED, Action.REPLY),
        (TicketState.CLOSED, Action.CLOSE),
    ],
)
def test_actions_out_of_order_are_refused(state: TicketState, action: Action) -> None:
    with pytest.raises(InvalidTransition):
        next_state(state, action)


def test_closing_requires_a_written_result() -> None:
    with pytest.raises(ResultRequired):
        check_closable("   \n", responsible_officer_id=7)


def test_closing_requires_a_responsible_officer() -> None:
    with pytest.raises(ResultRequired):
        check_closable("已处理", responsible_officer_id=None)


def test_the_result_is_kept_without_surrounding_blanks() -> None:
    assert check_closable("  已责令整改。 ", responsible_officer_id=7) == "已责令整改。"


def test_ticket_numbers_have_the_prefix_the_day_and_four_digits() -> None:
    assert format_number("KM", "20261122", 7) == "KM-20261122-0007"


def test_a_confident_category_goes_to_its_department() -> None:
    routing = route("discipline", 0.9, DEPARTMENTS, "triage", threshold=0.45)
    assert (routing.department, routing.needs_triage) == ("discipline", False)


def test_an_uncertain_item_goes_to_triage() -> None:
    routing = route("business", 0.3, DEPARTMENTS, "triage", threshold=0.45)
    assert (routing.department, routing.needs_triage, routing.category) == ("triage", True, "business")


def test_an_item_of_no_category_goes_to_triage_however_sure() -> None:
    assert route("other", 0.99, DEPARTMENTS, "triage", threshold=0.45).needs_triage


def test_reminders_fall_at_the_given_fractions_of_the_limit() -> None:
    start = datetime(2026, 11, 23, 2, tzinfo=UTC)
    moments = reminder_moments(start, start + timedelta(days=10), [0.5, 0.8])
    assert moments == [start + timedelta(days=5), start + timedelta(days=8)]


def test_no_reminders_when_the_deadline_is_already_past() -> None:
    start = datetime(2026, 11, 23, 2, tzinfo=UTC)
    assert reminder_moments(start, start, [0.5]) == []


def test_a_closed_ticket_is_surveyed_or_reopened() -> None:
    assert next_state(TicketState.CLOSED, Action.SURVEY) == TicketState.SURVEYED
    assert next_state(TicketState.CLOSED, Action.REOPEN) == TicketState.REOPENED


def test_a_reopened_ticket_is_answered_and_closed_again_by_its_officer() -> None:
    assert next_state(TicketState.REOPENED, Action.REPLY) == TicketState.ANSWERED
    assert next_state(TicketState.REOPENED, Action.CLOSE) == TicketState.CLOSED


def test_a_surveyed_ticket_cannot_be_reopened() -> None:
    with pytest.raises(InvalidTransition):
        next_state(TicketState.SURVEYED, Action.REOPEN)


@pytest.mark.parametrize("answer", [SurveyAnswer.SATISFIED, SurveyAnswer.BASICALLY_SATISFIED])
def test_a_satisfied_resident_is_thanked(answer: SurveyAnswer) -> None:
    assert survey_outcome(answer, reopen_count=0) == SurveyOutcome.THANKED


def test_the_first_unsatisfied_answer_reopens_and_the_second_escalates() -> None:
    assert survey_outcome(SurveyAnswer.UNSATISFIED, reopen_count=0) == SurveyOutcome.REOPENED
    assert survey_outcome(SurveyAnswer.UNSATISFIED, reopen_count=1) == SurveyOutcome.ESCALATED


NAMES = {"business": ["业务部门", "交警大队", "派出所"], "petition": ["法制大队"], "discipline": ["纪检监察"]}


def test_a_report_naming_a_unit_is_tied_to_that_units_department() -> None:
    assert named_department("交警大队的民警收红包", NAMES, besides="discipline") == "business"


def test_a_report_naming_no_unit_names_none() -> None:
    assert named_department("有民警收红包", NAMES, besides="discipline") is None


def test_the_discipline_department_itself_is_never_the_named_unit() -> None:
    assert named_department("向纪检监察举报法制大队", NAMES, besides="discipline") == "petition"
