"""Telegram misbehaving: a tenth of all sends and edits fail (5xx, 429, or no answer until the client
times out), while residents file complaints and officers work them. Every notice still arrives exactly once.

The people here behave as people do when a bot hiccups: whoever gets "something went wrong", or no
answer, tries again (a resident from the menu, an officer from the card). Only the outbox's notices
are promised to arrive; the bot's direct answers in a conversation may be lost, and the test counts
on nothing about them. The faults come from a seeded generator, so a run is repeatable as far as the
order of the calls is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import pytest

from domain.clock import FakeClock
from domain.tickets import TicketState
from local_botapi import BotMessage, LocalBotApi, SimChat, SimUser
from services.cards import EDIT_OF_ROW
from services.hotline import Submission, submit_ticket
from services.runtime import Runtime
from storage.models import OutboxRow, TicketRow
from storage.repositories import PENDING, SENT
from tests.conftest import LiveBot, running_bot

FAULT_RATE = 0.1
FAULTS = (500, 502, 503, 429, "timeout")
# A held request outlives the bot's read timeout (PTB's default, 5 s): the client gives up first.
HELD_SECONDS = 10.0
# How long a person waits for the bot before trying again: longer than a timed-out call plus the
# updates queued behind it, so that people seldom act twice on one hiccup.
PATIENCE_SECONDS = 15.0
# An attempt makes about five calls, any of which may fail, and a quick retry may meet the flood
# guard: with eight, some resident ran out of attempts about once in fifty runs.
ATTEMPTS = 12
GENERIC_ERROR = "抱歉，系统出了点问题"
COMPLAINTS = (
    "楼下KTV每天晚上噪音很大，吵到凌晨两点，严重影响休息。",
    "小区门口每天早上乱停车，堵住消防通道，物业管不了，请交警来看看。",
    "出入境大厅排队时间太长，网上预约系统经常打不开，希望改进。",
    "夜市烧烤摊占道经营到深夜，油烟和噪音扰民，希望派出所管一管。",
)


class Served(Protocol):
    """What the people here need of the bot: the server they talk through and its database (a
    LiveBot, or worker processes' tests.processes.Deployment)."""

    api: LocalBotApi
    rt: Runtime


@asynccontextmanager
async def clock_ticking(clock: FakeClock, seconds_per_tick: float = 1.0, tick: float = 0.25) -> AsyncIterator[None]:
    """Moves the bot's clock on while the test runs, so the dispatcher's retries fall due."""

    async def ticking() -> None:
        while True:
            await asyncio.sleep(tick)
            clock.advance(seconds=seconds_per_tick)

    task = asyncio.create_task(ticking())
    try:
        yield
    finally:
        task.cancel()


async def step(
    bot: Served,
    person: SimChat,
    action: Callable[[], Awaitable[object]],
    wanted: Callable[[BotMessage], bool],
    patience: float = PATIENCE_SECONDS,
) -> BotMessage | None:
    """Does `action` and waits for a new message in the person's chat that `wanted` accepts.

    None when the bot says something went wrong, says nothing in time, or the button to press is not
    there (its message was lost): the person then starts that part again.
    """
    seen = len(person.messages)
    try:
        await action()
    except AssertionError:
        return None
    found: list[BotMessage] = []

    def answered() -> bool:
        for message in person.messages[seen:]:
            if wanted(message):
                found.append(message)
                return True
            if (message.text or "").startswith(GENERIC_ERROR):
                return True
        return False

    try:
        await bot.api.wait_for(answered, timeout=patience, what="an answer")
    except AssertionError:
        return None
    return found[0] if found else None


def with_button(label: str) -> Callable[[BotMessage], bool]:
    return lambda message: any(label in row for row in message.buttons)


def starting(prefix: str) -> Callable[[BotMessage], bool]:
    return lambda message: (message.text or "").startswith(prefix)


async def tickets_of(bot: Served, resident: SimUser) -> list[TicketRow]:
    async with bot.rt.db.unit_of_work() as uow:
        row = await uow.residents.by_telegram_id(resident.id)
        return list(await uow.tickets.of_resident(row.id or 0)) if row else []


async def ticket(bot: Served, number: str) -> TicketRow:
    async with bot.rt.db.unit_of_work() as uow:
        found = await uow.tickets.by_number(number)
    assert found is not None
    return found


async def file_complaint(bot: Served, resident: SimUser, text: str) -> str:
    """Goes through 我要反映 until a ticket exists, starting again from the menu after any hiccup."""
    for _ in range(ATTEMPTS):
        if filed := await tickets_of(bot, resident):
            return filed[0].number  # the number may not have reached them, but the ticket exists
        if (
            await step(bot, resident, lambda: resident.send("/start"), with_button("📝 我要反映"))
            and await step(bot, resident, lambda: resident.press("📝 我要反映"), with_button("投诉"))
            and await step(bot, resident, lambda: resident.press("投诉"), starting("请描述"))
            and await step(bot, resident, lambda: resident.send(text), with_button("✅ 确认提交"))
        ):
            await step(bot, resident, lambda: resident.press("✅ 确认提交"), starting("已受理"))
    if filed := await tickets_of(bot, resident):  # the last attempt's
        return filed[0].number
    raise AssertionError(f"{resident.first_name} could not file a complaint in {ATTEMPTS} attempts:\n{resident.transcript()}")


async def card(bot: Served, officer: SimUser, number: str, button: str) -> BotMessage:
    """The officer's card of the ticket, once it shows `button` (its send or edit may be retried)."""

    def showing() -> BotMessage | None:
        return next(
            (m for m in officer.messages if number in (m.text or "") and with_button(button)(m)), None
        )

    await bot.api.wait_for(lambda: showing() is not None, timeout=60, what=f"{number}'s card with {button}")
    found = showing()
    assert found is not None
    return found


async def until_state(bot: Served, number: str, state: TicketState, attempt: Callable[[], Awaitable[object]]) -> None:
    for _ in range(ATTEMPTS):
        if (await ticket(bot, number)).state == state:
            return
        await attempt()
    assert (await ticket(bot, number)).state == state, f"{number} never became {state}"


async def work_ticket(bot: Served, officer: SimUser, number: str) -> None:
    """Signs for the ticket, answers the resident and closes it, each from the card."""

    async def sign() -> None:
        pressed = await officer.press("签收", message=await card(bot, officer, number, "签收"))
        with contextlib.suppress(AssertionError):  # no answer in time: pressed again unless signed by then
            await pressed.answered(timeout=PATIENCE_SECONDS)

    async def typed(button: str, prompt: str, text: str, done: str) -> None:
        pressed = await card(bot, officer, number, button)
        if await step(bot, officer, lambda: officer.press(button, message=pressed), starting(prompt)):
            await step(bot, officer, lambda: officer.send(text), starting(done))

    await until_state(bot, number, TicketState.SIGNED, sign)
    await until_state(
        bot, number, TicketState.ANSWERED,
        lambda: typed("回复", "请输入给群众的答复", f"您反映的问题（{number}）已派民警到现场核查。", "答复已发送"),
    )
    await until_state(
        bot, number, TicketState.CLOSED,
        lambda: typed("办结", "请输入办理结果", f"已对{number}所涉问题现场整改，并加强巡查。", f"工单 {number} 已办结"),
    )


async def outbox(bot: Served) -> list[OutboxRow]:
    async with bot.rt.db.unit_of_work() as uow:
        return list(await uow.outbox.all())


async def until_outbox_is_empty(bot: Served, timeout: float = 90.0) -> None:
    async with asyncio.timeout(timeout):
        while any(row.status == PENDING for row in await outbox(bot)):
            bot.rt.wake_dispatcher()
            await asyncio.sleep(0.2)


def received(chats: list[SimChat]) -> Counter[tuple[int, str | None]]:
    """(chat, text as sent, before any edit) of every message the bot sent with sendMessage."""
    return Counter(
        (chat.id, (message.edits[0] if message.edits else message).raw_text)
        for chat in chats
        for message in chat.messages
        if message.method == "sendMessage"
    )


def check_sent_once(rows: list[OutboxRow], chats: list[SimChat]) -> None:
    """Each notice (sendMessage row) arrived exactly as often as it was queued: once, unless its text
    was queued twice, which these notices never are."""
    queued = Counter((row.chat_id, row.payload["text"]) for row in rows if row.method == "sendMessage")
    got = received(chats)
    wrong = {key: (count, got[key]) for key, count in queued.items() if got[key] != count}
    assert not wrong, f"(chat, notice): (queued, received) {wrong}"
    assert set(queued.values()) == {1}


def check_edited_once(rows: list[OutboxRow], chats: list[SimChat]) -> None:
    """Each card edit was made exactly once, in order: a card's versions are its text as sent and then
    one version per edit queued for it."""
    by_id = {row.id: row for row in rows}
    edits: dict[tuple[int, int], list[str]] = defaultdict(list)
    for row in sorted(rows, key=lambda row: row.id or 0):
        if row.method == "editMessageText":
            target = by_id[row.payload[EDIT_OF_ROW]]
            edits[(target.chat_id, target.telegram_message_id or 0)].append(row.payload["text"])
    messages = {(chat.id, m.message_id): m for chat in chats for m in chat.messages}
    for (chat_id, message_id), texts in edits.items():
        message = messages[(chat_id, message_id)]
        versions = [version.raw_text for version in message.edits] + [message.raw_text]
        assert versions[1:] == texts, f"card {message_id} in chat {chat_id}: {versions} after edits {texts}"


@pytest.mark.timeout(300)
async def test_every_notice_arrives_exactly_once_while_telegram_fails_a_tenth_of_all_sends(
    tmp_path: Path, clock: FakeClock
) -> None:
    overrides = {
        # The test's clock runs four times as fast as real time; the leader's lease must not lapse on it.
        "OPENDOOR_WORKERS__LEADER_LEASE_SECONDS": "86400",
        "OPENDOOR_SCHEDULER__DISPATCHER_IDLE_SECONDS": "0.5",
    }
    async with running_bot(tmp_path, clock, **overrides) as bot, clock_ticking(clock):
        head = await bot.register_officer("王主任", "business", role="head")
        officers = [await bot.register_officer("张警官", "business"), await bot.register_officer("李警官", "business")]
        group = bot.api.group("治安大队工作群")
        await head.send("/bind_group", chat=group)
        await group.next_message()
        residents = [bot.api.user(f"居民{n}") for n in range(len(COMPLAINTS))]

        faults = bot.api.inject_random_faults(
            FAULT_RATE, methods=["sendMessage", "editMessageText"], statuses=FAULTS, seed=8, delay=HELD_SECONDS
        )
        numbers = await asyncio.gather(
            *(file_complaint(bot, resident, text) for resident, text in zip(residents, COMPLAINTS))
        )
        await asyncio.gather(
            *(work_ticket(bot, officers[n % 2], number) for n, number in enumerate(numbers))
        )
        await until_outbox_is_empty(bot)

        rows = await outbox(bot)
        chats: list[SimChat] = [*residents, *officers, head, group]
        assert [(row.key, row.status, row.last_error) for row in rows if row.status != SENT] == []
        check_sent_once(rows, chats)
        check_edited_once(rows, chats)
        for resident in residents:
            purposes = {row.purpose for row in rows if row.chat_id == resident.id}
            assert {"notice.signed", "notice.reply", "notice.closed"} <= purposes, resident.transcript()
        # The faults did happen, of every kind, and also to notices.
        assert set(faults.drawn) == {str(status) for status in FAULTS}
        assert any(row.attempts > 1 for row in rows)


# --- one message lost at the worst moment ------------------------------------------------------

NOISE = COMPLAINTS[0]


async def test_a_resident_whose_ticket_number_is_lost_on_the_way_gets_it_all_the_same(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await resident.send("/start")
    await resident.next_message()
    await resident.press("📝 我要反映")
    await resident.next_message()
    await resident.press("投诉")
    await resident.next_message()
    await resident.send(NOISE)
    await resident.next_message()
    live_bot.api.inject_fault("sendMessage", status=502, chat_id=resident.id)

    await resident.press("✅ 确认提交")

    accepted = await resident.next_message()
    (filed,) = await tickets_of(live_bot, resident)
    assert accepted.text.startswith("已受理") and filed.number in accepted.text, accepted.text
    await resident.send("还有一件事")  # the conversation is over: this is not added to anything
    assert (await resident.next_message()).text == "请点下方菜单开始，或发送 /start。"


async def test_an_officer_whose_confirmation_is_lost_does_not_relay_the_same_reply_twice(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("张警官", "business")
    resident = live_bot.api.user("王女士")
    number = (await submit_ticket(live_bot.rt, Submission(resident.id, resident.id, "zh", "complaint", NOISE))).number
    await (await officer.press("签收", message=await card(live_bot, officer, number, "签收"))).answered()
    await officer.press("回复", message=await card(live_bot, officer, number, "回复"))
    assert (await next_starting(officer, "请输入给群众的答复")).chat_id == officer.id
    live_bot.api.inject_fault("sendMessage", status=502, chat_id=officer.id)

    await officer.send("已派民警到现场核查。")
    await officer.send("已派民警到现场核查。")  # typed again: the first seemed to go nowhere

    def answered(prefix: str) -> bool:
        return any((message.text or "").startswith(prefix) for message in officer.messages)

    # The confirmation comes late, through the outbox; the second text is just a stray message.
    await live_bot.api.wait_for(lambda: answered("答复已发送给群众") and answered("请点下方菜单开始"))
    replies = [row for row in await outbox(live_bot) if row.purpose == "notice.reply"]
    assert len(replies) == 1


async def next_starting(person: SimUser, prefix: str) -> BotMessage:
    while not ((message := await person.next_message()).text or "").startswith(prefix):
        pass
    return message
