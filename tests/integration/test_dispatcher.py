"""The outbox dispatcher against the local Bot API server: nothing lost, nothing sent twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telegram import Bot

from domain.clock import FakeClock
from local_botapi import LocalBotApi
from scheduler.dispatcher import OutboxDispatcher
from services.outbox import queue_message
from services.runtime import Runtime
from storage.models import TicketRow
from storage.repositories import FAILED, PENDING, SENT, UNDELIVERABLE
from tests.conftest import TEST_TOKEN


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi(token=TEST_TOKEN) as server:
        yield server


@pytest.fixture
async def dispatcher(api: LocalBotApi, runtime: Runtime) -> AsyncIterator[OutboxDispatcher]:
    async with Bot(TEST_TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
        yield OutboxDispatcher(runtime, bot)


async def queue(rt: Runtime, chat_id: int, text: str, key: str, ticket_id: int | None = None) -> None:
    async with rt.db.unit_of_work() as uow:
        await queue_message(uow, key=key, chat_id=chat_id, text=text, purpose="test", now=rt.now(), ticket_id=ticket_id)
        await uow.commit()


async def row_status(rt: Runtime, key: str) -> tuple[str, int]:
    async with rt.db.unit_of_work() as uow:
        row = next(row for row in await uow.outbox.all() if row.key == key)
        return row.status, row.attempts


async def test_queued_messages_are_sent_once_in_order(api, runtime: Runtime, dispatcher: OutboxDispatcher) -> None:
    resident = api.user("王女士")
    await queue(runtime, resident.id, "第一条", "k1")
    await queue(runtime, resident.id, "第二条", "k2")
    assert await dispatcher.drain() == 2
    assert await dispatcher.drain() == 0
    assert [m.text for m in resident.messages] == ["第一条", "第二条"]
    assert await row_status(runtime, "k1") == (SENT, 1)


async def test_a_message_with_the_same_key_is_queued_only_once(api, runtime: Runtime, dispatcher) -> None:
    resident = api.user("王女士")
    await queue(runtime, resident.id, "只发一次", "same")
    await queue(runtime, resident.id, "只发一次", "same")
    await dispatcher.drain()
    assert [m.text for m in resident.messages] == ["只发一次"]


async def test_a_server_error_is_retried_after_a_backoff(api, runtime: Runtime, clock: FakeClock, dispatcher) -> None:
    resident = api.user("王女士")
    api.inject_fault("sendMessage", status=502)
    await queue(runtime, resident.id, "稍后重试", "k")
    assert await dispatcher.drain() == 0
    assert await row_status(runtime, "k") == (PENDING, 1)
    assert resident.messages == []
    clock.advance(seconds=2)  # the first backoff is between 1 and 2 seconds
    assert await dispatcher.drain() == 1
    assert [m.text for m in resident.messages] == ["稍后重试"]


async def test_flood_control_waits_the_time_telegram_asks_for(api, runtime: Runtime, clock: FakeClock, dispatcher) -> None:
    resident = api.user("王女士")
    api.inject_fault("sendMessage", status=429, retry_after=7)
    await queue(runtime, resident.id, "等一等", "k")
    await dispatcher.drain()
    clock.advance(seconds=6)
    assert await dispatcher.drain() == 0
    clock.advance(seconds=1)
    assert await dispatcher.drain() == 1


async def test_a_blocked_resident_marks_the_notice_undeliverable_on_the_ticket(
    api, runtime: Runtime, dispatcher
) -> None:
    resident = api.user("王女士")
    api.block(resident)
    async with runtime.db.unit_of_work() as uow:
        owner = await uow.residents.upsert(resident.id, resident.id, "zh", runtime.now())
        ticket = await uow.tickets.add(
            TicketRow(
                number="KM-20261123-0001", source="hotline", kind="complaint", text="…", resident_id=owner.id,
                category="business", confidence=0.9, state="dispatched", department_code="business",
                received_at=runtime.now(), deadline_at=runtime.now() + timedelta(days=7),
            )
        )
        await uow.commit()
    await queue(runtime, resident.id, "您的工单已签收", "k", ticket_id=ticket.id)
    assert await dispatcher.drain() == 0
    assert (await row_status(runtime, "k"))[0] == UNDELIVERABLE
    async with runtime.db.unit_of_work() as uow:
        events = await uow.events.timeline(ticket.id)
    assert [(e.action, e.public) for e in events] == [("undeliverable", False)]
    assert await dispatcher.drain() == 0  # never retried


async def test_a_request_telegram_rejects_is_dropped_not_retried(api, runtime: Runtime, dispatcher) -> None:
    await queue(runtime, 999_999, "没有这个聊天", "k")  # Telegram: chat not found
    assert await dispatcher.drain() == 0
    assert (await row_status(runtime, "k"))[0] == FAILED


async def test_retries_stop_after_the_configured_number_of_attempts(api, runtime: Runtime, clock: FakeClock, dispatcher) -> None:
    resident = api.user("王女士")
    attempts = runtime.settings.scheduler.dispatcher_max_attempts
    api.inject_fault("sendMessage", status=500, count=attempts)
    await queue(runtime, resident.id, "总是失败", "k")
    for _ in range(attempts):
        await dispatcher.drain()
        clock.advance(seconds=600)
    assert await row_status(runtime, "k") == (FAILED, attempts)
    assert resident.messages == []
