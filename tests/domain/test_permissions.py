import pytest

from domain.permissions import Actor, Desk, Do, Role, TicketFacts, refusal
from domain.tickets import TicketState

DESK = Desk(triage="triage", discipline="discipline")


def officer(officer_id: int = 1, department: str = "petition", role: Role = Role.OFFICER, active: bool = True) -> Actor:
    return Actor(officer_id, department, role, active)


def ticket(
    state: TicketState = TicketState.DISPATCHED,
    department: str = "petition",
    responsible: int | None = None,
    category: str = "petition",
    named_unit: str | None = None,
) -> TicketFacts:
    return TicketFacts(department, state, responsible, category, named_unit)


def test_any_officer_of_the_department_signs_an_unsigned_ticket() -> None:
    assert refusal(officer(), Do.SIGN, ticket(), DESK) is None


def test_a_signed_ticket_is_taken_for_everyone_else() -> None:
    assert refusal(officer(2), Do.SIGN, ticket(TicketState.SIGNED, responsible=1), DESK) == "task.taken"


def test_an_officer_of_another_department_is_refused() -> None:
    assert refusal(officer(department="business"), Do.SIGN, ticket(), DESK) == "task.not_found"


def test_only_the_responsible_officer_or_the_head_replies_and_closes() -> None:
    signed = ticket(TicketState.SIGNED, responsible=1)
    assert refusal(officer(1), Do.REPLY, signed, DESK) is None
    assert refusal(officer(2), Do.CLOSE, signed, DESK) == "task.not_responsible"
    assert refusal(officer(3, role=Role.HEAD), Do.CLOSE, signed, DESK) is None


def test_nobody_replies_before_someone_signs() -> None:
    assert refusal(officer(), Do.REPLY, ticket(), DESK) == "task.sign_first"


@pytest.mark.parametrize("action", [Do.VOID, Do.DECIDE_EXTENSION])
def test_voiding_and_deciding_extensions_are_for_the_head_only(action: Do) -> None:
    signed = ticket(TicketState.SIGNED, responsible=1)
    assert refusal(officer(1), action, signed, DESK) == "task.head_only"
    assert refusal(officer(9, role=Role.HEAD), action, signed, DESK) is None


def test_the_responsible_officer_asks_for_an_extension() -> None:
    assert refusal(officer(1), Do.EXTEND, ticket(TicketState.SIGNED, responsible=1), DESK) is None


def test_an_unsigned_ticket_can_be_sent_back_or_rerouted_by_the_department() -> None:
    assert refusal(officer(2), Do.SEND_BACK, ticket(), DESK) is None
    assert refusal(officer(2), Do.REROUTE, ticket(), DESK) is None


def test_a_deactivated_officer_can_do_nothing() -> None:
    assert refusal(officer(active=False), Do.VIEW, ticket(), DESK) == "task.not_officer"


def test_a_closed_ticket_takes_no_more_actions() -> None:
    closed = ticket(TicketState.CLOSED, responsible=1)
    assert refusal(officer(1), Do.REPLY, closed, DESK) == "task.already_closed"
    assert refusal(officer(1), Do.VIEW, closed, DESK) is None


def test_supervisors_see_every_ticket_but_act_on_none() -> None:
    supervisor = officer(7, department="leadership", role=Role.SUPERVISOR)
    discipline = ticket(department="discipline", category="discipline")
    assert refusal(supervisor, Do.VIEW, discipline, DESK) is None
    assert refusal(supervisor, Do.SIGN, discipline, DESK) == "task.read_only"


def test_a_discipline_ticket_is_seen_only_by_the_discipline_department() -> None:
    discipline = ticket(department="discipline", category="discipline")
    assert refusal(officer(department="discipline"), Do.VIEW, discipline, DESK) is None
    assert refusal(officer(department="petition"), Do.VIEW, discipline, DESK) == "task.not_found"
    assert refusal(officer(department="petition", role=Role.HEAD), Do.VIEW, discipline, DESK) == "task.not_found"


def test_a_discipline_ticket_is_never_shown_to_the_unit_it_names_not_even_its_supervisor() -> None:
    about_station = ticket(department="discipline", category="discipline", named_unit="station_east")
    assert refusal(officer(department="station_east", role=Role.SUPERVISOR), Do.VIEW, about_station, DESK) == "task.not_found"


def test_triage_routes_tickets_waiting_in_triage_including_uncertain_discipline_ones() -> None:
    waiting = ticket(TicketState.TRIAGE, department="triage", category="discipline")
    assert refusal(officer(department="triage"), Do.ASSIGN, waiting, DESK) is None
    assert refusal(officer(department="petition"), Do.ASSIGN, waiting, DESK) == "task.not_found"
