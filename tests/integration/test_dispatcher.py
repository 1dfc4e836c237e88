"""The outbox dispatcher against the local Bot API server: nothing lost, nothing sent twice, no 429.

Time is the FakeClock throughout: the dispatcher's limiter and the fake server's flood limits read it,
and a pacing wait moves it on at once, so a test that spans minutes of sending runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import base64
import logging
import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from telegram import Bot

from domain.clock import FakeClock
from domain.ratelimit import SendLimiter
from local_botapi import LocalBotApi
from scheduler.dispatcher import SEND_TASK_PREFIX, OutboxDispatcher, record_unrecorded_deliveries_soon
from services.cards import EDIT_OF_ROW
from services.outbox import queue_message
from services.runtime import Runtime
from storage.models import OutboxRow, TicketRow
from storage.repositories import FAILED, PENDING, SENT, UNDELIVERABLE
from tests.conftest import TEST_TOKEN


class SteppedTime:
    """Seconds read from the FakeClock, and a `sleep` that moves the clock on instead of waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def __call__(self) -> float:
        return self.clock.now().timestamp()

    async def sleep(self, seconds: float) -> None:
        # Talking to the fake server takes no time on this clock: the sends in flight get their answers
        # first, as they would long before a real pacing wait was over.
        sends = [task for task in asyncio.all_tasks() if task.get_name().startswith(SEND_TASK_PREFIX)]
        if sends:
            await asyncio.wait(sends)
        # Whole microseconds, rounded up, because the FakeClock keeps no finer time than that.
        self.clock.advance(microseconds=math.ceil(seconds * 1_000_000))


@pytest.fixture
def pacing(clock: FakeClock) -> SteppedTime:
    return SteppedTime(clock)


@pytest.fixture
async def api(pacing: SteppedTime) -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi(token=TEST_TOKEN, clock=pacing) as server:
        yield server


@pytest.fixture
async def bot(api: LocalBotApi) -> AsyncIterator[Bot]:
    async with Bot(TEST_TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
        yield bot


def paced_dispatcher(rt: Runtime, bot: Bot, pacing: SteppedTime, **options: int) -> OutboxDispatcher:
    return OutboxDispatcher(rt, bot, limiter=SendLimiter(pacing), sleep=pacing.sleep, **options)


@pytest.fixture
def dispatcher(runtime: Runtime, bot: Bot, pacing: SteppedTime) -> OutboxDispatcher:
    return paced_dispatcher(runtime, bot, pacing)


@pytest.fixture
def one_at_a_time(runtime: Runtime, bot: Bot, pacing: SteppedTime) -> OutboxDispatcher:
    """A dispatcher with one send in flight at most, for tests that need to know which send comes first."""
    return paced_dispatcher(runtime, bot, pacing, max_in_flight=1)


async def queue(rt: Runtime, chat_id: int, text: str, key: str, ticket_id: int | None = None) -> None:
    async with rt.db.unit_of_work() as uow:
        await queue_message(uow, key=key, chat_id=chat_id, text=text, purpose="test", now=rt.now(), ticket_id=ticket_id)
        await uow.commit()


async def queue_row(rt: Runtime, key: str, method: str, payload: dict[str, Any]) -> None:
    async with rt.db.unit_of_work() as uow:
        row = OutboxRow(
            key=key, chat_id=payload["chat_id"], method=method, payload=payload, purpose="test", status=PENDING,
            created_at=rt.now(), next_attempt_at=rt.now(),
        )
        await uow.outbox.enqueue(row)
        await uow.commit()


async def row_id(rt: Runtime, key: str) -> int:
    async with rt.db.unit_of_work() as uow:
        return next(row.id for row in await uow.outbox.all() if row.key == key and row.id is not None)


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


async def test_after_a_failed_send_the_dispatcher_knows_when_to_look_again(
    api, runtime: Runtime, clock: FakeClock, dispatcher
) -> None:
    resident = api.user("王女士")
    api.inject_fault("sendMessage", status=429, retry_after=7)
    await queue(runtime, resident.id, "等一等", "k")
    assert dispatcher.next_due is None
    await dispatcher.drain()
    assert dispatcher.next_due == clock.now() + timedelta(seconds=7)
    clock.advance(seconds=7)
    assert await dispatcher.drain() == 1
    assert dispatcher.next_due is None


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


# -- pacing: Telegram's limits, with the fake server answering 429 above them -------------------------


async def test_a_residents_messages_go_out_a_second_apart_in_order_while_others_overtake(
    api, runtime: Runtime, dispatcher
) -> None:
    api.enforce_rate_limits = True
    wang = api.user("王女士")
    others = [api.user(f"居民{n}") for n in range(3)]
    for n, (text, other) in enumerate(zip(["一", "二", "三"], others, strict=True)):
        await queue(runtime, wang.id, text, f"wang-{n}")
        await queue(runtime, other.id, f"给{other.id}", f"other-{n}")
    assert await dispatcher.drain() == 6
    assert api.stats["429"] == 0
    assert [m.text for m in wang.messages] == ["一", "二", "三"]
    sent_at = [m.sent_at for m in wang.messages]
    assert [later - earlier for earlier, later in zip(sent_at, sent_at[1:])] == [1.0, 1.0]
    assert all(other.messages[0].sent_at < sent_at[1] for other in others)  # they did not wait behind 王女士


async def test_a_long_queue_to_many_residents_flows_at_thirty_a_second_without_a_429(
    api, runtime: Runtime, dispatcher, pacing: SteppedTime
) -> None:
    api.enforce_rate_limits = True
    residents = [api.user(f"居民{n}") for n in range(90)]
    for n, resident in enumerate(residents):
        await queue(runtime, resident.id, "您的工单已受理", f"k{n}")
    started = pacing()
    assert await dispatcher.drain() == 90
    assert api.stats["429"] == 0
    assert pacing() - started == 2.0  # thirty at once, thirty a second later, and thirty more
    assert [r.messages[0].sent_at - started for r in residents[::30]] == [0.0, 1.0, 2.0]


async def test_a_group_gets_twenty_messages_a_minute_in_order(api, runtime: Runtime, dispatcher) -> None:
    api.enforce_rate_limits = True
    department = api.group("信访科")
    for n in range(22):
        await queue(runtime, department.id, f"提醒{n}", f"g{n}")
    assert await dispatcher.drain() == 22
    assert api.stats["429"] == 0
    assert [m.text for m in department.messages] == [f"提醒{n}" for n in range(22)]
    first = department.messages[0].sent_at
    assert [m.sent_at - first for m in department.messages[19:]] == [0.0, 60.0, 60.0]


async def test_a_stale_edit_is_logged_and_dropped_not_retried(
    api, runtime: Runtime, bot: Bot, dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    resident = api.user("王女士")
    card = await bot.send_message(resident.id, "已签收")
    await queue_row(runtime, "same", "editMessageText", {"chat_id": resident.id, "message_id": card.message_id, "text": "已签收"})
    await queue_row(runtime, "gone", "editMessageText", {"chat_id": resident.id, "message_id": 4242, "text": "已办结"})
    with caplog.at_level(logging.INFO, logger="scheduler.dispatcher"):
        assert await dispatcher.drain() == 0
    assert await row_status(runtime, "same") == (FAILED, 1)
    assert await row_status(runtime, "gone") == (FAILED, 1)
    stale = [r for r in caplog.records if "already edited or is gone" in r.getMessage()]
    assert [r.levelno for r in stale] == [logging.INFO, logging.INFO]
    assert await dispatcher.drain() == 0
    assert len(api.calls("editMessageText")) == 2


async def test_flood_control_holds_back_everything_sent_after_it(
    api, runtime: Runtime, one_at_a_time, pacing: SteppedTime
) -> None:
    api.enforce_rate_limits = True
    api.inject_fault("sendMessage", status=429, retry_after=3)
    residents = [api.user(f"居民{n}") for n in range(3)]
    for n, resident in enumerate(residents):
        await queue(runtime, resident.id, "您的工单已受理", f"k{n}")
    started = pacing()
    assert await one_at_a_time.drain() == 3  # the held-back wait lets the first row's retry fall due
    assert [r.messages[0].sent_at - started for r in residents] == [3.0, 3.0, 3.0]
    assert await row_status(runtime, "k0") == (SENT, 2)
    assert api.stats["429"] == 1


async def test_flood_control_in_a_group_holds_back_only_that_group(
    api, runtime: Runtime, one_at_a_time, clock: FakeClock
) -> None:
    department = api.group("信访科")
    resident = api.user("王女士")
    api.inject_fault("sendMessage", status=429, retry_after=30)
    await queue(runtime, department.id, "提醒", "group")
    await queue(runtime, resident.id, "您的工单已受理", "resident")
    assert await one_at_a_time.drain() == 1
    assert [m.text for m in resident.messages] == ["您的工单已受理"]
    clock.advance(seconds=29)
    assert await one_at_a_time.drain() == 0
    clock.advance(seconds=1)
    assert await one_at_a_time.drain() == 1
    assert [m.text for m in department.messages] == ["提醒"]


async def test_a_message_to_be_retried_keeps_the_residents_later_messages_behind_it(
    api, runtime: Runtime, one_at_a_time, clock: FakeClock
) -> None:
    wang, li = api.user("王女士"), api.user("李先生")
    api.inject_fault("sendMessage", status=502)  # the first send: 王女士's first message
    await queue(runtime, wang.id, "一", "wang-1")
    await queue(runtime, wang.id, "二", "wang-2")
    await queue(runtime, li.id, "您好", "li")
    await one_at_a_time.drain()
    assert [m.text for m in li.messages] == ["您好"]
    while len(wang.messages) < 2:
        clock.advance(seconds=2)
        await one_at_a_time.drain()
    assert [m.text for m in wang.messages] == ["一", "二"]
    assert await row_status(runtime, "wang-1") == (SENT, 2)
    assert await row_status(runtime, "wang-2") == (SENT, 1)


async def waiting_for_an_advisory_lock(rt: Runtime) -> bool:
    async with rt.db.unit_of_work() as uow:
        connection = await uow.session.connection()
        waiting = await connection.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))
        return waiting.scalar_one() > 0


async def test_a_page_of_the_queue_leaves_out_no_row_numbered_below_the_rows_it_returns(api, runtime: Runtime) -> None:
    """The dispatcher reads on after the highest row it has seen, and a chat's messages go out in that order.
    On PostgreSQL a row's number comes from a sequence when it is inserted, not when it is committed:
    a page read while a lower-numbered row was still uncommitted must wait for it, or that row would be
    passed over and the chat's next messages (a card's next edit) would overtake it."""
    if runtime.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its rows are committed in the order of their numbers")
    wang, li = api.user("王女士"), api.user("李先生")
    async with runtime.db.unit_of_work() as slow:
        await queue_message(slow, key="wang", chat_id=wang.id, text="已签收", purpose="test", now=runtime.now())
        await queue(runtime, li.id, "您好", "li")  # numbered after 王女士's row, committed before it
        async with runtime.db.unit_of_work() as reader:
            reading = asyncio.create_task(reader.outbox.pending_after(0))
            while not reading.done() and not await waiting_for_an_advisory_lock(runtime):
                await asyncio.sleep(0.01)
            await slow.commit()
            page = await reading
    assert [row.key for row in page] == ["wang", "li"]


async def test_while_telegram_cannot_be_reached_it_is_tried_at_growing_intervals(
    api, runtime: Runtime, one_at_a_time, clock: FakeClock
) -> None:
    api.inject_fault("sendMessage", status=502, count=3)
    residents = [api.user(f"居民{n}") for n in range(4)]
    for n, resident in enumerate(residents):
        await queue(runtime, resident.id, "您的工单已受理", f"k{n}")
    while sum(len(r.messages) for r in residents) < 4:
        await one_at_a_time.drain()
        clock.advance(seconds=1)
    tried_at = [call.at for call in api.calls("sendMessage")]
    gaps = [later - earlier for earlier, later in zip(tried_at, tried_at[1:])]
    assert gaps[0] >= 1 and gaps[1] >= 2 and gaps[2] >= 4  # not an attempt of every row at once
    assert [await row_status(runtime, f"k{n}") for n in range(4)] == [(SENT, 2)] * 3 + [(SENT, 1)]


async def test_failures_of_sends_already_in_flight_count_as_one_outage(
    api, runtime: Runtime, dispatcher, clock: FakeClock, pacing: SteppedTime
) -> None:
    api.inject_fault("sendMessage", status=502, count=5)
    residents = [api.user(f"居民{n}") for n in range(5)]
    for n, resident in enumerate(residents):
        await queue(runtime, resident.id, "您的工单已受理", f"k{n}")
    assert await dispatcher.drain() == 0  # five at once, all failed: one pause of 1-2 s, not a 5th backoff
    clock.advance(seconds=2)
    before = pacing()
    assert await dispatcher.drain() == 5
    assert pacing() == before  # no pause left to sit out


# -- what a row may hold ----------------------------------------------------------------------------


async def test_a_file_to_upload_is_kept_in_the_row_as_base64_and_sent_as_a_photo(
    api, runtime: Runtime, dispatcher
) -> None:
    supervisor = api.user("赵局长")
    chart = b"\x89PNG\r\n\x1a\n" + bytes(64)
    payload = {"chat_id": supervisor.id, "photo_png_base64": base64.b64encode(chart).decode("ascii")}
    await queue_row(runtime, "chart", "sendPhoto", payload)
    assert await dispatcher.drain() == 1
    [photo] = supervisor.messages
    assert photo.photo
    assert [stored.data for stored in api.state.files_by_path.values()] == [chart]


async def test_an_edit_naming_an_outbox_row_edits_the_message_that_row_sent(api, runtime: Runtime, dispatcher) -> None:
    officer = api.user("李警官")
    await queue(runtime, officer.id, "📋 工单 状态：待签收", "card")
    card = await row_id(runtime, "card")
    await queue_row(runtime, "edit", "editMessageText", {"chat_id": officer.id, "text": "📋 工单 状态：已签收", EDIT_OF_ROW: card})
    assert await dispatcher.drain() == 2  # in one drain: the card goes first, so its message id is known
    assert [m.text for m in officer.messages] == ["📋 工单 状态：已签收"]


async def test_an_edit_of_a_row_that_never_reached_telegram_is_dropped(api, runtime: Runtime, dispatcher) -> None:
    officer = api.user("李警官")
    api.block(officer)
    await queue(runtime, officer.id, "📋 工单 状态：待签收", "card")
    card = await row_id(runtime, "card")
    await queue_row(runtime, "edit", "editMessageText", {"chat_id": officer.id, "text": "📋 工单 状态：已签收", EDIT_OF_ROW: card})
    assert await dispatcher.drain() == 0
    assert await row_status(runtime, "card") == (UNDELIVERABLE, 1)
    assert await row_status(runtime, "edit") == (FAILED, 1)
    assert api.calls("editMessageText") == []


async def test_a_row_that_cannot_become_a_request_fails_at_once_and_holds_nothing_back(
    api, runtime: Runtime, dispatcher
) -> None:
    resident = api.user("王女士")
    await queue_row(runtime, "broken", "sendMessage", {"chat_id": resident.id, "text": "坏", "no_such_parameter": 1})
    await queue(runtime, resident.id, "您的工单已受理", "fine")
    assert await dispatcher.drain() == 1
    assert await row_status(runtime, "broken") == (FAILED, 1)
    assert [m.text for m in resident.messages] == ["您的工单已受理"]


# -- the running dispatcher -------------------------------------------------------------------------


async def test_the_running_dispatcher_sends_what_is_queued_as_soon_as_it_is_woken(
    api, runtime: Runtime, dispatcher
) -> None:
    resident = api.user("王女士")
    dispatcher.start()
    try:
        await queue(runtime, resident.id, "您的工单已受理", "k1")
        await queue(runtime, resident.id, "您的工单已签收", "k2")
        dispatcher.wake()
        await api.wait_for(lambda: len(resident.messages) == 2, timeout=2, what="both notices")
    finally:
        await dispatcher.stop()
    assert [m.text for m in resident.messages] == ["您的工单已受理", "您的工单已签收"]


class StalledBot(Bot):
    """A bot whose sends never come back, like a process that dies while Telegram has the request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stalled = asyncio.Event()

    async def send_message(self, *args: Any, **kwargs: Any) -> Any:
        self._stalled.set()
        await asyncio.Event().wait()


async def test_a_send_cut_off_by_the_process_dying_goes_out_once_its_in_flight_mark_lapses(
    api, runtime: Runtime, bot: Bot, pacing: SteppedTime, clock: FakeClock
) -> None:
    resident = api.user("王女士")
    await queue(runtime, resident.id, "您的工单已受理", "k")
    async with StalledBot(TEST_TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as stalled:
        dying = asyncio.create_task(paced_dispatcher(runtime, stalled, pacing).drain())
        await asyncio.wait_for(stalled._stalled.wait(), timeout=2)
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying
    assert await row_status(runtime, "k") == (PENDING, 0)  # not marked sent: Telegram never said yes
    # The next leader leaves it alone while its sender may still be at it ...
    assert await paced_dispatcher(runtime, bot, pacing).drain() == 0
    clock.advance(seconds=runtime.settings.scheduler.dispatcher_in_flight_seconds)
    # ... and sends it once the mark has lapsed: at least once, when the sender is gone for good.
    assert await paced_dispatcher(runtime, bot, pacing).drain() == 1
    assert [m.text for m in resident.messages] == ["您的工单已受理"]


class DatabaseGoingDown:
    """The runtime's database, until `down` is set: then every unit of work fails to connect."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.down = False

    def unit_of_work(self) -> Any:
        if self.down:
            raise ConnectionRefusedError("the database server is restarting")
        return self._db.unit_of_work()


class BotThatLosesTheDatabase(Bot):
    """Telegram takes the message, and at that very moment the database goes away."""

    def __init__(self, database: DatabaseGoingDown, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._database = database  # PTB objects are frozen except for private attributes

    async def send_message(self, *args: Any, **kwargs: Any) -> Any:
        message = await super().send_message(*args, **kwargs)
        self._database.down = True
        return message


async def test_a_notice_sent_while_the_database_went_down_is_recorded_later_and_not_sent_again(
    api, runtime: Runtime, pacing: SteppedTime
) -> None:
    resident = api.user("王女士")
    await queue(runtime, resident.id, "您的工单已受理", "k")
    database = DatabaseGoingDown(runtime.db)
    rt = dataclasses.replace(runtime, db=database)
    async with BotThatLosesTheDatabase(database, TEST_TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
        with pytest.raises(ConnectionRefusedError):
            await paced_dispatcher(rt, bot, pacing).drain()
        with pytest.raises(ConnectionRefusedError):  # still down: nothing is sent, nothing forgotten
            await paced_dispatcher(rt, bot, pacing).drain()
        database.down = False
        # A new dispatcher, as a leader that stepped down and leads again builds one.
        assert await paced_dispatcher(rt, bot, pacing).drain() == 0

    assert [m.text for m in resident.messages] == ["您的工单已受理"]
    assert await row_status(runtime, "k") == (SENT, 1)
    assert rt.unrecorded_deliveries == {}


async def test_a_leader_taking_over_leaves_alone_what_the_old_one_sent_but_could_not_record(
    api, runtime: Runtime, pacing: SteppedTime, clock: FakeClock
) -> None:
    """As in a PostgreSQL restart: the leader's send went through, recording it failed, and another
    process took the lead; the old leader records it when the database is back."""
    resident = api.user("王女士")
    await queue(runtime, resident.id, "您的工单已受理", "k")
    database = DatabaseGoingDown(runtime.db)
    old_leader = dataclasses.replace(runtime, db=database, unrecorded_deliveries={})
    new_leader = dataclasses.replace(runtime, unrecorded_deliveries={})  # another process: its own memory
    async with BotThatLosesTheDatabase(database, TEST_TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
        with pytest.raises(ConnectionRefusedError):
            await paced_dispatcher(old_leader, bot, pacing).drain()
        database.down = False

        assert await paced_dispatcher(new_leader, bot, pacing).drain() == 0
        await record_unrecorded_deliveries_soon(old_leader, every_seconds=0.01)
        clock.advance(seconds=runtime.settings.scheduler.dispatcher_in_flight_seconds)
        assert await paced_dispatcher(new_leader, bot, pacing).drain() == 0

    assert [m.text for m in resident.messages] == ["您的工单已受理"]
    assert await row_status(runtime, "k") == (SENT, 1)
