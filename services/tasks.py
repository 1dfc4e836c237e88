"""What officers do with a task: sign for it, reply, close, send back, re-route, extend, void, assign.

Every action is authorised here against the database (never against callback data) by the rules
in domain/permissions.py, moves the ticket with a compare-and-set so a race has one winner, writes
an event, and brings every copy of the task card up to date.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from domain.calendar import deadline_after
from domain.permissions import Do, refusal
from domain.tickets import Action, InvalidTransition, ResultRequired, TicketState, check_closable, next_state
from services.cards import actor_of, desk_of, facts_of, queue_task_cards, readers_of_department, refresh_cards
from services.deadlines import HANDLING_REMINDERS, move_deadline, schedule_handling, schedule_survey
from services.outbox import notify_resident, queue_message
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import CorrectionRow, ExtensionRequestRow, OfficerRow, TicketEventRow, TicketRow

HEAD_ROLE = "head"
log = logging.getLogger(__name__)


class TaskRefused(Exception):
    """The action is not allowed; `reason` is a text key the handler shows to the officer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TaskOutcome:
    ticket: TicketRow
    officer: OfficerRow


def _required(text: str, reason: str) -> str:
    """The text without surrounding blanks; refuses with `reason` when nothing is left."""
    cleaned = text.strip()
    if not cleaned:
        raise TaskRefused(reason)
    return cleaned


async def _load(uow: UnitOfWork, rt: Runtime, ticket_id: int, telegram_user_id: int, action: Do) -> tuple[TicketRow, OfficerRow]:
    officer = await uow.officers.by_telegram_id(telegram_user_id)
    if officer is None:
        log.warning("refused %s on ticket id %s by a non-officer (Telegram user %s)", action.value, ticket_id, telegram_user_id)
        raise TaskRefused("task.not_officer")
    ticket = await uow.tickets.get(ticket_id)
    if ticket is None:
        raise TaskRefused("task.not_found")
    reason = refusal(actor_of(officer), action, facts_of(ticket), desk_of(rt))
    if reason is not None:
        # Refusals are worth a look: a forged or replayed button shows up here.
        log.warning("refused %s on %s by officer %s: %s", action.value, ticket.number, officer.id, reason)
        raise TaskRefused(reason)
    return ticket, officer


async def _move(uow: UnitOfWork, ticket: TicketRow, action: Action, **values: object) -> None:
    try:
        target = next_state(TicketState(ticket.state), action)
    except InvalidTransition:
        raise TaskRefused("task.wrong_state") from None
    if not await uow.tickets.move(ticket.id or 0, ticket.state, state=target, **values):
        raise TaskRefused("task.changed")  # someone else acted first; the card is refreshed for them


async def _record(uow: UnitOfWork, rt: Runtime, ticket: TicketRow, officer: OfficerRow, action: str, note: str | None, *, public: bool = True) -> int:
    event = TicketEventRow(
        ticket_id=ticket.id or 0, at=rt.now(), actor="officer", actor_officer_id=officer.id, action=action, note=note, public=public
    )
    await uow.events.append(event)
    return event.id or 0


async def _finish(rt: Runtime, uow: UnitOfWork, ticket: TicketRow, occasion: str) -> None:
    """Updates every card of the ticket, commits, and lets the dispatcher send at once."""
    await refresh_cards(rt, uow, ticket, occasion)
    await uow.commit()
    rt.wake_dispatcher()


async def check_allowed(rt: Runtime, ticket_id: int, telegram_user_id: int, action: Do) -> TaskOutcome:
    """Refuses early, before the officer types text for an action that could not be done."""
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _load(uow, rt, ticket_id, telegram_user_id, action)
        return TaskOutcome(ticket, officer)


async def sign_for(rt: Runtime, ticket_id: int, telegram_user_id: int) -> TaskOutcome:
    """Makes the officer responsible for the ticket; the first to sign wins."""
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _load(uow, rt, ticket_id, telegram_user_id, Do.SIGN)
        try:
            await _move(uow, ticket, Action.SIGN, responsible_officer_id=officer.id)
        except TaskRefused:
            raise TaskRefused("task.taken") from None
        await uow.reminders.finish_all_for(ticket.id or 0, rt.now(), kinds=["sign_for"])
        event_id = await _record(uow, rt, ticket, officer, Action.SIGN, None)
        await notify_resident(uow, rt, ticket, f"signed:{ticket.id}:{ticket.reopen_count}", "notice.signed")
        await _finish(rt, uow, ticket, f"e{event_id}")
    return TaskOutcome(ticket, officer)


async def reply_to_resident(rt: Runtime, ticket_id: int, telegram_user_id: int, text: str) -> TaskOutcome:
    """Relays the officer's reply to the resident (the bot sends it; the officer stays unseen)."""
    reply = _required(text, "task.empty_reply")
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _load(uow, rt, ticket_id, telegram_user_id, Do.REPLY)
        await _move(uow, ticket, Action.REPLY)
        event_id = await _record(uow, rt, ticket, officer, Action.REPLY, reply)
        await notify_resident(uow, rt, ticket, f"reply:{ticket.id}:{event_id}", "notice.reply", reply=reply)
        await _finish(rt, uow, ticket, f"e{event_id}")
    return TaskOutcome(ticket, officer)


async def close_ticket(rt: Runtime, ticket_id: int, telegram_user_id: int, result: str) -> TaskOutcome:
    """Closes with a written result (销号制); the resident is told the result."""
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _load(uow, rt, ticket_id, telegram_user_id, Do.CLOSE)
        try:
            cleaned = check_closable(result, ticket.responsible_officer_id)
        except ResultRequired:
            raise TaskRefused("task.result_required") from None
        now = rt.now()
        await _move(uow, ticket, Action.CLOSE, closed_at=now, result=cleaned)
        event_id = await _record(uow, rt, ticket, officer, Action.CLOSE, cleaned)
        await uow.reminders.finish_all_for(ticket.id or 0, now)
        await schedule_survey(rt, uow, ticket, now)
        await notify_resident(
            uow, rt, ticket, f"closed:{ticket.id}:{ticket.reopen_count}", "notice.closed", result=cleaned
        )
        await _finish(rt, uow, ticket, f"e{event_id}")
    return TaskOutcome(ticket, officer)


async def _correct(
    uow: UnitOfWork, rt: Runtime, ticket: TicketRow, officer: OfficerRow, to_department: str, source: str
) -> str:
    """Stores what the classifier got wrong; returns the category the new department stands for."""
    # A department stands for the category routed to it; any other (a business unit) does business.
    categories = {department: category for category, department in rt.settings.routing.departments.items()}
    corrected = categories.get(to_department, "business")
    await uow.corrections.add(
        CorrectionRow(
            ticket_id=ticket.id or 0, text=ticket.text, predicted_category=ticket.category,
            corrected_category=corrected, from_department=ticket.department_code, to_department=to_department,
            source=source, officer_id=officer.id, at=rt.now(),
        )
    )
    return corrected


async def _dispatch_to(
    rt: Runtime, uow: UnitOfWork, ticket: TicketRow, officer: OfficerRow, department: str, action: Action, source: str
) -> int:
    # Only what the department keyboard offers: a department that receives tickets, not this one, and not
    # triage (sending back there is 退单, with a reason). Its buttons' data could be forged.
    target = rt.settings.departments.get(department)
    if target is None or not target.receives_tickets or department in (ticket.department_code, rt.settings.routing.triage_department):
        raise TaskRefused("task.bad_department")
    if ticket.category == "discipline" and department == ticket.named_unit:
        raise TaskRefused("task.bad_department")  # never to the unit the report is about
    corrected = await _correct(uow, rt, ticket, officer, department, source)
    await _move(uow, ticket, action, department_code=department, responsible_officer_id=None, category=corrected)
    event_id = await _record(uow, rt, ticket, officer, action, department)
    await uow.reminders.finish_all_for(ticket.id or 0, rt.now(), kinds=HANDLING_REMINDERS)
    await schedule_handling(rt, uow, ticket, rt.now())
    await queue_task_cards(rt, uow, ticket, await readers_of_department(rt, uow, department))
    return event_id


async def reroute(rt: Runtime, ticket_id: int, telegram_user_id: int, department: str) -> TaskOutcome:
    """转派: the ticket goes to the department it belongs to, and the classifier learns from it."""
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _load(uow, rt, ticket_id, telegram_user_id, Do.REROUTE)
        event_id = await _dispatch_to(rt, uow, ticket, officer, department, Action.REROUTE, "reroute")
        await _finish(rt, uow, ticket, f"e{event_id}")
    return TaskOutcome(ticket, officer)


async def assign_from_triage(rt: Runtime, ticket_id: int, telegram_user_id: int, department: str) -> TaskOutcome:
    """A triage duty officer routes an uncertain ticket by hand; that choice teaches the classifier too."""
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _load(uow, rt, ticket_id, telegram_user_id, Do.ASSIGN)
        event_id = await _dispatch_to(rt, uow, ticket, officer, department, Action.ASSIGN, "triage")
        await _finish(rt, uow, ticket, f"e{event_id}")
    return TaskOutcome(ticket, officer)


async def send_back(rt: Runtime, ticket_id: int, telegram_user_id: int, reason: str) -> TaskOutcome:
    """退单: not ours — back to the triage queue with the reason."""
    cleaned = _required(reason, "task.reason_required")
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _load(uow, rt, ticket_id, telegram_user_id, Do.SEND_BACK)
        triage = rt.settings.routing.triage_department
        await _move(uow, ticket, Action.SEND_BACK, department_code=triage, responsible_officer_id=None)
        event_id = await _record(uow, rt, ticket, officer, Action.SEND_BACK, cleaned, public=False)
        await queue_task_cards(rt, uow, ticket, await readers_of_department(rt, uow, triage))
        await _finish(rt, uow, ticket, f"e{event_id}")
    return TaskOutcome(ticket, officer)


async def void_ticket(rt: Runtime, ticket_id: int, telegram_user_id: int, reason: str) -> TaskOutcome:
    """无效: spam or nonsense, by the department head, with a reason; never surveyed."""
    cleaned = _required(reason, "task.reason_required")
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _load(uow, rt, ticket_id, telegram_user_id, Do.VOID)
        await _move(uow, ticket, Action.VOID, closed_at=rt.now(), result=cleaned)
        event_id = await _record(uow, rt, ticket, officer, Action.VOID, cleaned)
        await uow.reminders.finish_all_for(ticket.id or 0, rt.now())
        await notify_resident(uow, rt, ticket, f"void:{ticket.id}", "notice.void", reason=cleaned)
        await _finish(rt, uow, ticket, f"e{event_id}")
    return TaskOutcome(ticket, officer)


@dataclass(frozen=True)
class ExtensionAsked:
    request: ExtensionRequestRow
    ticket: TicketRow
    heads: list[OfficerRow]


async def request_extension(rt: Runtime, ticket_id: int, telegram_user_id: int, working_days: int, reason: str) -> ExtensionAsked:
    """申请延期: before the deadline, with a reason; the department head decides."""
    cleaned = _required(reason, "task.reason_required")
    if not 1 <= working_days <= rt.settings.limits.max_extension_days:
        raise TaskRefused("task.bad_extension")
    async with rt.db.unit_of_work() as uow:
        ticket, officer = await _load(uow, rt, ticket_id, telegram_user_id, Do.EXTEND)
        if rt.now() >= ticket.deadline_at:
            raise TaskRefused("task.extension_too_late")
        if await uow.extensions.pending_for(ticket_id) is not None:
            raise TaskRefused("task.extension_pending")
        request = await uow.extensions.add(
            ExtensionRequestRow(
                ticket_id=ticket_id, officer_id=officer.id or 0, working_days=working_days, reason=cleaned,
                requested_at=rt.now(), status="pending",
            )
        )
        await _record(uow, rt, ticket, officer, "extension_requested", f"{working_days}: {cleaned}", public=False)
        heads = [o for o in await uow.officers.active_in(ticket.department_code) if o.role == HEAD_ROLE]
        for head in heads:
            await queue_message(
                uow,
                key=f"extension:{request.id}:{head.id}",
                chat_id=head.chat_id,
                text=rt.texts.get(
                    head.locale, "extension.ask_head", number=ticket.number, officer=officer.display_name,
                    days=working_days, reason=cleaned, deadline=rt.format_moment(head.locale, ticket.deadline_at),
                ),
                reply_markup=extension_keyboard(rt, head.locale, request.id or 0),
                purpose="extension_request",
                ticket_id=ticket.id,
                now=rt.now(),
            )
        await uow.commit()
    rt.wake_dispatcher()
    return ExtensionAsked(request, ticket, heads)


def extension_keyboard(rt: Runtime, locale: str, request_id: int) -> dict:
    return {
        "inline_keyboard": [
            [
                {"text": rt.texts.get(locale, "extension.approve"), "callback_data": f"ext:{request_id}:approve"},
                {"text": rt.texts.get(locale, "extension.reject"), "callback_data": f"ext:{request_id}:reject"},
            ]
        ]
    }


@dataclass(frozen=True)
class ExtensionDecided:
    approved: bool
    ticket: TicketRow
    new_deadline: datetime | None


async def decide_extension(rt: Runtime, request_id: int, telegram_user_id: int, approve: bool) -> ExtensionDecided:
    """The head approves (the deadline moves; the resident is told) or rejects (the officer is told)."""
    async with rt.db.unit_of_work() as uow:
        request = await uow.extensions.get(request_id)
        if request is None:
            raise TaskRefused("task.not_found")
        ticket, head = await _load(uow, rt, request.ticket_id, telegram_user_id, Do.DECIDE_EXTENSION)
        if not await uow.extensions.decide(request_id, "approved" if approve else "rejected", head.id or 0, rt.now()):
            raise TaskRefused("extension.already_decided")
        requester = await uow.officers.get(request.officer_id)
        new_deadline = None
        if approve:
            new_deadline = deadline_after(ticket.deadline_at, request.working_days, rt.calendar, rt.hours)
            await move_deadline(rt, uow, ticket, new_deadline, officer_id=head.id, reason=request.reason)
            await notify_resident(
                uow, rt, ticket, f"extended:{request_id}", "notice.extended",
                reason=request.reason, deadline=new_deadline,
            )
        else:
            await _record(uow, rt, ticket, head, "extension_rejected", request.reason, public=False)
        if requester is not None:
            await queue_message(
                uow,
                key=f"extension_decided:{request_id}",
                chat_id=requester.chat_id,
                text=rt.texts.get(
                    requester.locale,
                    "extension.approved" if approve else "extension.rejected",
                    number=ticket.number,
                    deadline=rt.format_moment(requester.locale, new_deadline or ticket.deadline_at),
                ),
                purpose="extension_decided",
                ticket_id=ticket.id,
                now=rt.now(),
            )
        await _finish(rt, uow, ticket, f"x{request_id}")
    return ExtensionDecided(approve, ticket, new_deadline)

