"""Ticket lifecycle (12345-style): the states, who may move a ticket, and where to.

submitted → dispatched → signed → answered → closed, with triage for items nobody could route.
Closing follows 销号制: not solved, not closed — a written result and a responsible officer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class TicketState(StrEnum):
    SUBMITTED = "submitted"
    TRIAGE = "triage"
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    ANSWERED = "answered"
    CLOSED = "closed"
    REOPENED = "reopened"
    SURVEYED = "surveyed"
    VOID = "void"


class TicketKind(StrEnum):
    COMPLAINT = "complaint"
    REPORT = "report"
    SUGGESTION = "suggestion"
    QUESTION = "question"


class Action(StrEnum):
    SUBMIT = "submitted"
    DISPATCH = "dispatched"
    SEND_TO_TRIAGE = "triaged"
    SIGN = "signed"
    REPLY = "answered"
    CLOSE = "closed"
    SURVEY = "surveyed"
    REOPEN = "reopened"
    SEND_BACK = "returned"
    REROUTE = "rerouted"
    ASSIGN = "assigned"
    VOID = "voided"
    EXTEND = "extended"
    REMIND = "reminded"
    OVERDUE = "overdue"


OPEN_STATES = frozenset(
    {
        TicketState.SUBMITTED,
        TicketState.TRIAGE,
        TicketState.DISPATCHED,
        TicketState.SIGNED,
        TicketState.ANSWERED,
        TicketState.REOPENED,
    }
)
# Waiting to be signed for: nobody is responsible yet.
UNSIGNED_STATES = frozenset({TicketState.TRIAGE, TicketState.DISPATCHED})

_TRANSITIONS: dict[tuple[TicketState, Action], TicketState] = {
    (TicketState.SUBMITTED, Action.DISPATCH): TicketState.DISPATCHED,
    (TicketState.SUBMITTED, Action.SEND_TO_TRIAGE): TicketState.TRIAGE,
    (TicketState.DISPATCHED, Action.SIGN): TicketState.SIGNED,
    (TicketState.TRIAGE, Action.SIGN): TicketState.SIGNED,
    (TicketState.SIGNED, Action.REPLY): TicketState.ANSWERED,
    (TicketState.ANSWERED, Action.REPLY): TicketState.ANSWERED,
    (TicketState.SIGNED, Action.CLOSE): TicketState.CLOSED,
    (TicketState.ANSWERED, Action.CLOSE): TicketState.CLOSED,
    (TicketState.CLOSED, Action.SURVEY): TicketState.SURVEYED,
    (TicketState.CLOSED, Action.REOPEN): TicketState.REOPENED,
    (TicketState.REOPENED, Action.REPLY): TicketState.ANSWERED,
    (TicketState.REOPENED, Action.CLOSE): TicketState.CLOSED,
    (TicketState.TRIAGE, Action.ASSIGN): TicketState.DISPATCHED,
}
# Any open ticket can be sent back to triage, re-routed to another department, or voided as spam.
for _state in (TicketState.DISPATCHED, TicketState.SIGNED, TicketState.ANSWERED, TicketState.REOPENED):
    _TRANSITIONS[(_state, Action.SEND_BACK)] = TicketState.TRIAGE
for _state in (TicketState.TRIAGE, TicketState.DISPATCHED, TicketState.SIGNED, TicketState.ANSWERED, TicketState.REOPENED):
    _TRANSITIONS[(_state, Action.REROUTE)] = TicketState.DISPATCHED
    _TRANSITIONS[(_state, Action.VOID)] = TicketState.VOID


class SurveyAnswer(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    UNSATISFIED = "unsatisfied"


class SurveyOutcome(StrEnum):
    THANKED = "thanked"
    REOPENED = "reopened"
    ESCALATED = "escalated"


def survey_outcome(answer: SurveyAnswer, reopen_count: int) -> SurveyOutcome:
    """不满意 reopens the ticket once for the same department; a second 不满意 goes to the supervisors."""
    if answer != SurveyAnswer.UNSATISFIED:
        return SurveyOutcome.THANKED
    return SurveyOutcome.REOPENED if reopen_count == 0 else SurveyOutcome.ESCALATED


class TicketRuleError(Exception):
    """An action the ticket's rules do not allow; the message is for the log, not the user."""


class InvalidTransition(TicketRuleError):
    def __init__(self, state: TicketState, action: Action) -> None:
        super().__init__(f"cannot {action.value} a ticket that is {state.value}")
        self.state = state
        self.action = action


class ResultRequired(TicketRuleError):
    """销号制: a ticket is closed only with a written result and a responsible officer."""


def next_state(state: TicketState, action: Action) -> TicketState:
    """Returns the state after `action`, or raises InvalidTransition."""
    try:
        return _TRANSITIONS[(state, action)]
    except KeyError:
        raise InvalidTransition(state, action) from None


def check_closable(result: str, responsible_officer_id: int | None) -> str:
    """Returns the cleaned result text, or raises ResultRequired."""
    cleaned = result.strip()
    if not cleaned:
        raise ResultRequired("a written result is required to close a ticket")
    if responsible_officer_id is None:
        raise ResultRequired("a ticket must be signed for before it is closed")
    return cleaned


def format_number(prefix: str, local_day: str, sequence: int) -> str:
    """Formats a ticket number like KM-20261122-0007 (local day as YYYYMMDD)."""
    return f"{prefix}-{local_day}-{sequence:04d}"


@dataclass(frozen=True)
class Routing:
    category: str
    department: str
    needs_triage: bool


def route(category: str, confidence: float, departments: dict[str, str], triage: str, threshold: float) -> Routing:
    """Chooses the department; uncertain or unplaceable items go to people in triage."""
    department = departments.get(category, triage)
    needs_triage = confidence < threshold or department == triage
    return Routing(category, triage if needs_triage else department, needs_triage)


def reminder_moments(start: datetime, deadline: datetime, fractions: list[float]) -> list[datetime]:
    """Moments at the given fractions of the time between dispatch and deadline."""
    span = deadline - start
    if span <= timedelta(0):
        return []
    return [start + span * fraction for fraction in fractions]


def named_department(text: str, names: dict[str, list[str]], *, besides: str) -> str | None:
    """The department a text names (the longest name found wins), other than `besides`.

    Used for discipline reports: the unit whose officer is reported must never see the report.
    """
    found = [
        (len(name), code)
        for code, aliases in names.items()
        if code != besides
        for name in aliases
        if name and name in text
    ]
    return max(found)[1] if found else None
