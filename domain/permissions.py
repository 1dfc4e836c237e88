"""Who may do what to a ticket. Decided from the database's facts, never from callback data.

The rules, in the bureau's words: the handling department works its tickets; the head does
everything an officer does for the department and alone approves extensions and voids tickets;
the triage department routes what nobody could place; supervisors see everything and act on
nothing; a discipline ticket is never shown to the unit it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.tickets import OPEN_STATES, UNSIGNED_STATES, TicketState


class Role(StrEnum):
    OFFICER = "officer"
    HEAD = "head"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Do(StrEnum):
    VIEW = "view"
    SIGN = "sign"
    REPLY = "reply"
    CLOSE = "close"
    EXTEND = "extend"
    DECIDE_EXTENSION = "decide_extension"
    SEND_BACK = "send_back"
    REROUTE = "reroute"
    VOID = "void"
    ASSIGN = "assign"


@dataclass(frozen=True)
class Actor:
    officer_id: int
    department: str
    role: Role
    active: bool


@dataclass(frozen=True)
class TicketFacts:
    department: str
    state: TicketState
    responsible_officer_id: int | None
    category: str
    named_unit: str | None


@dataclass(frozen=True)
class Desk:
    """The departments with special duties, from config.toml."""

    triage: str
    discipline: str


def refusal(actor: Actor, action: Do, ticket: TicketFacts, desk: Desk) -> str | None:
    """None when `actor` may do `action` to `ticket`; otherwise the reason, as a text key."""
    if not actor.active:
        return "task.not_officer"
    if not _may_see(actor, ticket, desk):
        return "task.not_found"
    if action == Do.VIEW:
        return None
    if actor.role in (Role.SUPERVISOR, Role.ADMIN) and actor.department != ticket.department:
        return "task.read_only"
    if TicketState(ticket.state) not in OPEN_STATES:
        return "task.already_closed"
    if action == Do.ASSIGN:
        return None if actor.department == desk.triage and ticket.state == TicketState.TRIAGE else "task.wrong_state"
    if actor.department != ticket.department:
        return "task.not_yours"
    head = actor.role == Role.HEAD
    if action in (Do.VOID, Do.DECIDE_EXTENSION):
        return None if head else "task.head_only"
    if action == Do.SIGN:
        if ticket.state in UNSIGNED_STATES:
            return None
        return "task.taken" if ticket.responsible_officer_id != actor.officer_id else "task.wrong_state"
    if action in (Do.SEND_BACK, Do.REROUTE) and (ticket.state in UNSIGNED_STATES or head):
        return None
    if ticket.state in UNSIGNED_STATES:
        return "task.sign_first"
    if ticket.responsible_officer_id != actor.officer_id and not head:
        return "task.not_responsible"
    return None


def _may_see(actor: Actor, ticket: TicketFacts, desk: Desk) -> bool:
    if ticket.named_unit is not None and ticket.category == "discipline" and actor.department == ticket.named_unit:
        return False  # never the unit of the officer who is reported, whatever the role
    if actor.role in (Role.SUPERVISOR, Role.ADMIN):
        return True
    routing_it = actor.department == desk.triage and ticket.state == TicketState.TRIAGE
    if ticket.category == "discipline" or ticket.department == desk.discipline:
        return actor.department == desk.discipline or routing_it
    return actor.department == ticket.department or routing_it
