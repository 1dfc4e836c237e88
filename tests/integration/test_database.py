"""What must hold on SQLite and PostgreSQL alike: work done at the same moment, big numbers, long texts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from domain.clock import FakeClock
from services.desk import my_tasks
from services.hotline import Attachment, Submission, open_tickets_of, submit_ticket
from services.officers import create_invite, register_officer
from services.runtime import Runtime
from services.tasks import sign_for
from storage.database import Database
from storage.models import OutboxRow
from storage.repositories import PENDING, TicketFilter, TicketScope
from tests.conftest import MONDAY_MORNING

TEXT = "报案三个月了派出所一直有案不立，也没有给我报警回执。"


def submission(user: int = 1001, **fields: object) -> Submission:
    fields.setdefault("text", TEXT)
    return Submission(telegram_user_id=user, chat_id=user, locale="zh", kind="complaint", **fields)  # type: ignore[arg-type]


def notice(key: str) -> OutboxRow:
    return OutboxRow(
        key=key, chat_id=7, method="sendMessage", payload={"chat_id": 7, "text": "提醒"}, purpose="test",
        status=PENDING, created_at=MONDAY_MORNING, next_attempt_at=MONDAY_MORNING,
    )


async def test_tickets_submitted_at_the_same_moment_of_a_new_day_get_consecutive_numbers(
    runtime: Runtime, clock: FakeClock
) -> None:
    await submit_ticket(runtime, submission())  # the resident exists; today's counter too
    clock.advance(days=1)
    numbers = [accepted.number for accepted in await asyncio.gather(*(submit_ticket(runtime, submission()) for _ in range(3)))]
    assert sorted(numbers) == ["KM-20261124-0001", "KM-20261124-0002", "KM-20261124-0003"]


async def test_two_items_from_a_new_resident_at_the_same_moment_make_one_resident(runtime: Runtime) -> None:
    # Open311 files every request under one resident; its first two requests may well arrive together.
    accepted = await asyncio.gather(submit_ticket(runtime, submission(user=0)), submit_ticket(runtime, submission(user=0)))
    async with runtime.db.unit_of_work() as uow:
        tickets = [await uow.tickets.by_number(item.number) for item in accepted]
    assert len({ticket.resident_id for ticket in tickets if ticket}) == 1


async def test_a_new_ticket_is_stored_with_its_history_and_its_reminders(runtime: Runtime) -> None:
    accepted = await submit_ticket(runtime, submission())
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
        assert ticket is not None
        history = [(event.actor, event.action) for event in await uow.events.timeline(ticket.id or 0)]
        reminders = await uow.reminders.due(ticket.deadline_at + timedelta(days=30))
    assert history[0] == ("resident", "submitted") and ("system", "classified") in history
    assert history[-1] in {("system", "dispatched"), ("system", "triaged")}
    assert {reminder.ticket_id for reminder in reminders} == {ticket.id}
    assert sorted(reminder.kind for reminder in reminders) == sorted(
        ["sign_for", "remind", "remind", "overdue", "escalate"]
    )


async def test_a_resident_who_writes_again_from_another_chat_and_language_is_the_same_resident_brought_up_to_date(
    runtime: Runtime,
) -> None:
    async with runtime.db.unit_of_work() as uow:
        first = await uow.residents.upsert(1001, 1001, "zh", MONDAY_MORNING)
        again = await uow.residents.upsert(1001, 2002, "en", MONDAY_MORNING + timedelta(days=1))
        await uow.commit()
    assert (again.id, again.chat_id, again.locale, again.created_at) == (first.id, 2002, "en", MONDAY_MORNING)
    async with runtime.db.unit_of_work() as uow:
        stored = await uow.residents.by_telegram_id(1001)
    assert stored is not None and (stored.id, stored.chat_id, stored.locale) == (first.id, 2002, "en")


async def test_a_residents_open_tickets_are_theirs_only_newest_first(runtime: Runtime) -> None:
    older = await submit_ticket(runtime, submission(user=1001))
    newer = await submit_ticket(runtime, submission(user=1001, text="小区门口每天早上乱停车，堵住消防通道。"))
    await submit_ticket(runtime, submission(user=1002))
    tickets = await open_tickets_of(runtime, 1001)
    assert [ticket.number for ticket in tickets] == [newer.number, older.number]
    assert await open_tickets_of(runtime, 1003) == []


async def test_work_left_uncommitted_is_undone_and_keeps_nobody_waiting(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as uow:
        await uow.outbox.enqueue(notice("left:1"))  # never committed
    async with runtime.db.unit_of_work() as uow:
        # On SQLite, a write transaction left open on a pooled connection would either be committed
        # with this one or make it wait for the lock: neither may happen.
        assert await uow.outbox.enqueue(notice("after:1"))
        await uow.commit()
    async with runtime.db.unit_of_work() as uow:
        assert [row.key for row in await uow.outbox.all()] == ["after:1"]


async def test_a_notice_two_workers_queue_at_the_same_moment_is_queued_once(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as first, runtime.db.unit_of_work() as second:
        assert await first.outbox.enqueue(notice("reminder:1:1"))
        # The second inserts before the first commits: it waits for the first's row, then must do nothing.
        late = asyncio.create_task(second.outbox.enqueue(notice("reminder:1:1")))
        await asyncio.sleep(0.3)
        await first.commit()
        assert await late is False
        await second.commit()
    async with runtime.db.unit_of_work() as uow:
        assert [row.key for row in await uow.outbox.all()] == ["reminder:1:1"]


async def test_a_document_larger_than_two_gibibytes_is_recorded_with_its_size(runtime: Runtime) -> None:
    # Telegram: "file_size ... can be bigger than 2^31"; premium users send files up to 4 GB.
    huge = Attachment(kind="document", source_message_id=10, file_id="F", file_name="监控录像.mp4", file_size=3 * 2**30)
    await submit_ticket(runtime, submission(attachments=(huge,)))
    async with runtime.db.unit_of_work() as uow:
        assert await uow.attachments.count_for(1) == 1


async def test_what_a_resident_or_their_client_writes_is_stored_whole_however_long(runtime: Runtime) -> None:
    phone = "0871-6312 3456 转 8021（工作日 9:00-17:00，找李科长；其他时间请打 138 0000 0000）"
    mime_type = "application/vnd.openxmlformats-officedocument.presentationml.slideshow.macroEnabled.12+zip; charset=binary"
    document = Attachment(kind="document", source_message_id=10, file_id="F", mime_type=mime_type)
    accepted = await submit_ticket(runtime, submission(contact_name="李某", contact_phone=phone, attachments=(document,)))
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    assert ticket is not None and ticket.contact_phone == phone


async def test_a_search_finds_a_ticket_by_its_number_typed_in_any_case(runtime: Runtime) -> None:
    accepted = await submit_ticket(runtime, submission())
    async with runtime.db.unit_of_work() as uow:
        found = await uow.tickets.search(TicketFilter(text=accepted.number.lower()), TicketScope(), offset=0, limit=10)
    assert [ticket.number for ticket in found] == [accepted.number]


async def test_tasks_due_at_the_same_moment_are_listed_in_the_order_they_came_in(runtime: Runtime) -> None:
    # Deadlines fall at the end of a working day, so many tickets share one. PostgreSQL returns equal
    # rows in no promised order (an updated row moves to the end of its table), SQLite in insertion order.
    code = await create_invite(runtime, "petition")
    await register_officer(runtime, code, telegram_user_id=501, chat_id=501, display_name="李警官", locale="zh")
    numbers = [(await submit_ticket(runtime, submission(user=1000 + n))).number for n in range(3)]
    async with runtime.db.unit_of_work() as uow:
        first = await uow.tickets.by_number(numbers[0])
    await sign_for(runtime, first.id, 501)
    assert [ticket.number for ticket in await my_tasks(runtime, 501)] == numbers


async def test_a_text_with_a_nul_character_is_stored_without_it(runtime: Runtime) -> None:
    # Nobody types U+0000, but an Open311 form (%00) or any client can send it; PostgreSQL's text cannot hold it.
    accepted = await submit_ticket(runtime, submission(text="派出所\x00一直不立案", contact_name="王\x00女士"))
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    assert ticket is not None
    assert (ticket.text.replace("\x00", ""), ticket.contact_name.replace("\x00", "")) == ("派出所一直不立案", "王女士")


def test_a_postgresql_url_as_psql_writes_it_is_served_by_asyncpg() -> None:
    assert Database("postgresql://opendoor@db.bureau.example/opendoor").engine.dialect.driver == "asyncpg"
