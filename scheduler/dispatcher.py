"""The one door out: sends outbox rows through the Bot API at the pace Telegram allows, retrying
what can be retried.

A drain reads the queue in id order, a page at a time, into one line per chat, and sends from the
lines round robin: each chat that the limiter (`domain.ratelimit`) lets go now gets its oldest row
sent. A chat that must wait is overtaken by the others but never reordered: it has at most one
message in flight, and once one of its rows must be retried, the rest of its line stays behind that
row until a later pass. Sends to different chats overlap, so a slow round trip does not cap the rate.

A row is marked sent only after Telegram accepted it, so a crash mid-send means it goes out again
(at least once); the unique key on the queue keeps a notice from being queued twice.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import random
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from domain.ratelimit import Send, SendLimiter, is_group_chat
from services.cards import EDIT_OF_ROW
from services.runtime import Runtime
from storage.database import UnitOfWork
from storage.models import OutboxRow, TicketEventRow
from storage.repositories import FAILED, UNDELIVERABLE

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[object]]

MAX_BACKOFF_SECONDS = 300
# Rows read per database round trip; also how many rows a pass keeps in hand before it reads again.
PAGE_SIZE = 200
# When every chat in hand must wait, the pass reads further ahead for chats that need not, up to this.
MAX_BACKLOG = 2000
# Sends awaiting their answer at once. At Telegram's ~0.1-0.3 s round trip, 30/s needs about 3-9.
MAX_IN_FLIGHT = 10
# On stop, sends already under way get this long to finish and be recorded (see _Pass.run).
STOP_GRACE_SECONDS = 10.0
# Sends run as tasks named so (plus the row id), for logs and for tests that let them finish first.
SEND_TASK_PREFIX = "outbox-send-"
# A 400 with these words means the message was already edited or is gone: expected, so only noted.
STALE_EDIT_ERRORS = ("message is not modified", "message to edit not found")
# A payload key holding a file to upload, base64-encoded: `<parameter>_<extension>_base64`.
UPLOAD_KEY = re.compile(r"([a-z]+)_([a-z0-9]+)_base64")


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter, so many failed rows do not retry in lockstep."""
    ceiling = min(MAX_BACKOFF_SECONDS, 2**attempts)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def _snake_case(method: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", method).lower()


def _as_delta(retry_after: int | timedelta) -> timedelta:
    return retry_after if isinstance(retry_after, timedelta) else timedelta(seconds=retry_after)


def is_stale_edit(error: str) -> bool:
    return any(words in error.lower() for words in STALE_EDIT_ERRORS)


def bot_api_arguments(payload: dict[str, Any], bot: Bot) -> dict[str, Any]:
    """A row's payload as arguments for PTB. Rows keep Bot API parameters as plain JSON: a keyboard in
    its JSON form, and a file to upload base64-encoded under `<parameter>_<extension>_base64` (for
    example `photo_png_base64`), since bytes do not fit in JSON."""
    arguments = dict(payload)
    if arguments.get("reply_markup") is not None:
        arguments["reply_markup"] = InlineKeyboardMarkup.de_json(arguments["reply_markup"], bot)
    for key in list(arguments):
        if upload := UPLOAD_KEY.fullmatch(key):
            parameter, extension = upload.groups()
            data = base64.b64decode(arguments.pop(key), validate=True)
            arguments[parameter] = InputFile(data, filename=f"{parameter}.{extension}")
    return arguments


class NothingToEdit(Exception):
    """An edit names an outbox row that never got a message to Telegram."""


@dataclass(frozen=True)
class Delivered:
    message_id: int | None


@dataclass(frozen=True)
class RetryLater:
    delay: timedelta
    error: str


@dataclass(frozen=True)
class AlreadySettled:
    """The row was sent or given up by another leader meanwhile: nothing to do."""


@dataclass(frozen=True)
class GiveUp:
    status: str
    error: str


Outcome = Delivered | RetryLater | GiveUp | AlreadySettled


async def record_unrecorded_deliveries(rt: Runtime) -> None:
    """Records the deliveries the database missed (see Runtime.unrecorded_deliveries); raises while
    it still cannot. The leader's dispatcher calls it before each pass, and every process calls it
    now and then: one that stopped leading when it lost the database still has some to record."""
    unrecorded = rt.unrecorded_deliveries
    if not unrecorded:
        return
    recording = dict(unrecorded)
    async with rt.db.unit_of_work() as uow:
        for row_id, message_id in recording.items():
            await uow.outbox.mark_sent(row_id, rt.now(), message_id)
        await uow.commit()
    for row_id in recording:
        unrecorded.pop(row_id, None)
    log.info("recorded %d outbox rows sent while the database could not take it", len(recording))


async def record_unrecorded_deliveries_soon(rt: Runtime, every_seconds: float) -> None:
    """Tries :func:`record_unrecorded_deliveries` every `every_seconds` until nothing is left: for a
    process that stopped leading (its dispatcher is gone) while some were still unrecorded."""
    while rt.unrecorded_deliveries:
        try:
            await record_unrecorded_deliveries(rt)
        except Exception as error:
            log.warning("%d sent outbox rows still unrecorded: %s", len(rt.unrecorded_deliveries), error)
            await asyncio.sleep(every_seconds)


def outcome_of(error: TelegramError, attempts: int) -> RetryLater | GiveUp:
    """What becomes of a row whose send failed with `error` after `attempts` earlier attempts."""
    if isinstance(error, RetryAfter):  # 429: flood control says exactly how long to wait
        return RetryLater(_as_delta(error.retry_after), str(error))
    if isinstance(error, Forbidden):  # 403: blocked by the person, or removed from the group
        return GiveUp(UNDELIVERABLE, str(error))
    if isinstance(error, BadRequest):  # 400: Telegram will never accept this request as it is
        return GiveUp(FAILED, str(error))
    return RetryLater(backoff(attempts + 1), str(error))  # 5xx, timeouts, no connection


class OutboxDispatcher:
    def __init__(
        self,
        rt: Runtime,
        bot: Bot,
        *,
        limiter: SendLimiter | None = None,
        sleep: Sleep = asyncio.sleep,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        """`limiter` and `sleep` pace the sends in real time (time.monotonic, asyncio.sleep) unless a test
        injects its own; retries are scheduled on the runtime clock, as every other deadline is."""
        self.rt = rt
        self.bot = bot
        self.limiter = limiter or SendLimiter()
        self.sleep = sleep
        self.max_in_flight = max_in_flight
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._draining = asyncio.Lock()  # two drains at once could send a row twice
        self._writing = asyncio.Lock()  # our settlements queue here rather than in SQLite's busy wait
        self._transport_failures = 0  # outage pauses in a row; reset by any answer from Telegram
        self._outage_until = -math.inf  # on the limiter's clock
        self._next_due: datetime | None = None  # the earliest pending retry the last drain saw

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # a database hiccup must not end the door out; try again soon
                log.exception("outbox dispatcher pass failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_seconds())
            except TimeoutError:
                pass

    @property
    def next_due(self) -> datetime | None:
        """When the earliest retry the last drain left behind falls due (None: no retry pending)."""
        return self._next_due

    def _idle_seconds(self) -> float:
        """Until new rows are queued (a wake), the next retry falls due, or the configured idle time."""
        idle = self.rt.settings.scheduler.dispatcher_idle_seconds
        if self._next_due is None:
            return idle
        return max(0.0, min(idle, (self._next_due - self.rt.now()).total_seconds()))

    async def drain(self) -> int:
        """Sends every row that is due now, at the pace Telegram allows; returns how many were delivered.

        Each pass reads the queue from its start, so rows whose retry fell due meanwhile go in the next.
        """
        async with self._draining:
            await record_unrecorded_deliveries(self.rt)  # before anything else is sent; raises until it can
            self._next_due = None
            delivered = 0
            while True:
                one_pass = _Pass(self, self._wake)
                await one_pass.run()
                delivered += one_pass.delivered
                if one_pass.attempted == 0:
                    # This pass read every pending row, so it knows when the next retry falls due.
                    self._next_due = one_pass.next_due
                    return delivered

    async def deliver(self, row: OutboxRow, send: Send) -> Outcome:
        """Sends one row (already counted by the limiter as `send`) and records what became of it."""
        outcome = self._within_attempts(row, await self._attempt(row, send))
        if isinstance(outcome, AlreadySettled):
            return outcome
        try:
            await self._settle(row, outcome)
        except Exception:
            if isinstance(outcome, Delivered) and row.id is not None:
                # Sent, but not recorded: remembered, so it is recorded later and not sent twice.
                self.rt.unrecorded_deliveries[row.id] = outcome.message_id
            raise
        return outcome

    async def _attempt(self, row: OutboxRow, send: Send) -> Outcome:
        """One try; the limiter counts it as in flight until Telegram's answer (or our error) is in."""
        try:
            return await self._send(row)
        finally:
            self.limiter.finish(send)

    async def _send(self, row: OutboxRow) -> Outcome:
        try:
            payload = await self._with_edit_target(row.payload)  # a database error leaves the row pending
        except NothingToEdit as error:
            return GiveUp(FAILED, str(error))
        if not await self._mark_in_flight(row):  # a database error: nothing is sent
            return AlreadySettled()
        try:
            result = await self._call(row.method, payload)
        except TelegramError as error:
            self._slow_down(row.chat_id, error)
            return outcome_of(error, row.attempts)
        except Exception as error:
            # Not Telegram's answer but a row we cannot turn into a request (a bug in whoever queued it).
            # It would fail the same way every time and hold the chat's later messages behind it.
            log.exception("outbox row %s could not be sent", row.key)
            return GiveUp(FAILED, repr(error))
        self._transport_failures = 0
        return Delivered(result.message_id if isinstance(result, Message) else None)

    async def _mark_in_flight(self, row: OutboxRow) -> bool:
        """Marks the row as being sent, committed before its request goes out: a leader taking over
        meanwhile (this one lost the database for a moment, as in a PostgreSQL restart) finds it not
        due and leaves it alone, so it is not sent twice. False when it is no longer pending."""
        until = self.rt.now() + timedelta(seconds=self.rt.settings.scheduler.dispatcher_in_flight_seconds)
        async with self._writing, self.rt.db.unit_of_work() as uow:
            marked = await uow.outbox.mark_in_flight(row.id or 0, until)
            await uow.commit()
        return marked

    async def _with_edit_target(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Turns an edit's target row (`EDIT_OF_ROW`) into the id of the message that row sent.

        A chat's rows go out in order, so the target (queued earlier, to the same chat) has been sent
        by now, or has failed, and then so does the edit.
        """
        if EDIT_OF_ROW not in payload:
            return payload
        payload = dict(payload)
        target_id = payload.pop(EDIT_OF_ROW)
        async with self.rt.db.unit_of_work() as uow:
            target = await uow.outbox.get(target_id)
        if target is None or target.telegram_message_id is None:
            raise NothingToEdit(f"outbox row {target_id} sent no message to edit")
        return {**payload, "message_id": target.telegram_message_id}

    async def _call(self, method: str, payload: dict[str, Any]) -> Message | bool:
        """Calls the Bot API method the row names with the row's parameters."""
        return await getattr(self.bot, _snake_case(method))(**bot_api_arguments(payload, self.bot))

    def _slow_down(self, chat_id: int, error: TelegramError) -> None:
        """Holds back what the error says is sending too fast, or cannot be reached."""
        if isinstance(error, RetryAfter):
            seconds = _as_delta(error.retry_after).total_seconds()
            # Telegram does not say which limit was hit. A group's own 20/min limit brings long waits that
            # must not stall everybody else; behind a private chat's 429 is most likely the overall limit
            # (someone else sending with our token), and a wrong guess costs one more 429, which holds all.
            if is_group_chat(chat_id):
                self.limiter.hold_chat(chat_id, seconds)
            else:
                self.limiter.hold_all(seconds)
        elif isinstance(error, (Forbidden, BadRequest)):
            self._transport_failures = 0
        else:
            self._pause_for_outage()

    def _pause_for_outage(self) -> None:
        """While Telegram cannot be reached, probes it at growing intervals instead of spending an
        attempt of every queued row on the outage."""
        now = self.limiter.clock()
        if now < self._outage_until:
            return  # nothing starts during the pause: this send was in flight before it, the same outage
        self._transport_failures += 1
        pause = backoff(self._transport_failures).total_seconds()
        self._outage_until = now + pause
        self.limiter.hold_all(pause)

    def _within_attempts(self, row: OutboxRow, outcome: Outcome) -> Outcome:
        """A retry past the configured number of attempts becomes a failure."""
        attempts = row.attempts + 1
        if isinstance(outcome, RetryLater) and attempts >= self.rt.settings.scheduler.dispatcher_max_attempts:
            log.error("outbox row %s failed after %d attempts: %s", row.key, attempts, outcome.error)
            return GiveUp(FAILED, outcome.error)
        return outcome

    async def _settle(self, row: OutboxRow, outcome: Outcome) -> None:
        async with self._writing, self.rt.db.unit_of_work() as uow:
            match outcome:
                case Delivered(message_id):
                    await uow.outbox.mark_sent(row.id or 0, self.rt.now(), message_id)
                case RetryLater(delay, error):
                    await uow.outbox.retry_later(row.id or 0, self.rt.now() + delay, error)
                case GiveUp():
                    await self._give_up(uow, row, outcome)
            await uow.commit()

    async def _give_up(self, uow: UnitOfWork, row: OutboxRow, outcome: GiveUp) -> None:
        if outcome.status == UNDELIVERABLE:
            log.info("outbox row %s undeliverable: %s", row.key, outcome.error)
        elif is_stale_edit(outcome.error):
            log.info("outbox row %s dropped, the message was already edited or is gone: %s", row.key, outcome.error)
        else:
            log.warning("outbox row %s dropped: %s", row.key, outcome.error)
        await uow.outbox.give_up(row.id or 0, outcome.status, outcome.error)
        if outcome.status == UNDELIVERABLE and row.ticket_id is not None:
            # The officer sees on the ticket that the resident did not get this notice.
            await uow.events.append(
                TicketEventRow(
                    ticket_id=row.ticket_id, at=self.rt.now(), actor="system", action="undeliverable",
                    note=f"{row.purpose}: {outcome.error}", public=False,
                )
            )


class _ChatLines:
    """Rows read but not yet sent: one first-in-first-out line per chat, served round robin."""

    def __init__(self) -> None:
        self._lines: dict[int, deque[OutboxRow]] = {}  # in the order the chats were last served
        self._busy: set[int] = set()  # a message to this chat is in flight
        self._closed: set[int] = set()  # this chat's further rows wait for the next pass
        self.size = 0

    def add(self, row: OutboxRow) -> None:
        if row.chat_id in self._closed:
            return
        self._lines.setdefault(row.chat_id, deque()).append(row)
        self.size += 1

    def close(self, chat_id: int) -> None:
        """Takes no more rows of this chat in this pass (what is already in its line may go)."""
        self._closed.add(chat_id)

    def drop(self, chat_id: int) -> None:
        """Closes the chat and leaves its line in the database, behind the row that is to be retried."""
        self.close(chat_id)
        self.size -= len(self._lines.pop(chat_id, ()))

    def idle_chats(self) -> Iterator[int]:
        """Chats with rows and nothing in flight, the longest unserved first."""
        return (chat_id for chat_id in self._lines if chat_id not in self._busy)

    def take(self, chat_id: int) -> OutboxRow:
        """The chat's oldest row; the chat is busy until `release` and goes to the back of the round."""
        line = self._lines.pop(chat_id)
        row = line.popleft()
        if line:
            self._lines[chat_id] = line
        self._busy.add(chat_id)
        self.size -= 1
        return row

    def release(self, chat_id: int) -> None:
        self._busy.discard(chat_id)


class _Pass:
    """One pass through the queue, from its oldest row to its newest."""

    def __init__(self, dispatcher: OutboxDispatcher, wake: asyncio.Event) -> None:
        self.d = dispatcher
        self.wake = wake  # set when rows are queued
        self.lines = _ChatLines()
        self.sending: dict[asyncio.Task[Outcome], tuple[OutboxRow, Send]] = {}
        self.cursor = 0  # the highest row id read so far
        self.read_all = False  # the last page came back short: nothing more is queued (for now)
        self.attempted = 0
        self.delivered = 0
        self.next_due: datetime | None = None  # the earliest retry seen, on the runtime clock

    async def run(self) -> None:
        try:
            while True:
                self._collect_answers()
                self._look_again_if_woken()
                if self.read_all and not self.lines.size and not self.sending:
                    return
                await self._step()
        except asyncio.CancelledError:
            await self._let_sends_finish()
            raise
        finally:
            await self._wind_down()

    async def _let_sends_finish(self) -> None:
        """On stop, lets the sends under way finish and be recorded, for a while. One cut off after
        Telegram took the message but before the row is marked sent would go out again from the next
        leader; only what is still unanswered after the grace period is cancelled."""
        if not self.sending:
            return
        _, unfinished = await asyncio.wait(self.sending, timeout=STOP_GRACE_SECONDS)
        for task in unfinished:
            task.cancel()

    async def _step(self) -> None:
        """Does the one thing that moves the pass on: read, start a send, or wait."""
        if not self.read_all and self.lines.size < PAGE_SIZE:
            await self._read_page()
            return
        chat_id, chat_wait = self._next_chat()
        if chat_id is None:
            if not self.read_all and self.lines.size < MAX_BACKLOG:
                await self._read_page()  # every chat in hand must wait: look further ahead for one that need not
            else:
                await self._wait(chat_wait)
            return
        overall_wait = self.d.limiter.overall_wait()
        if overall_wait > 0:
            await self._wait(overall_wait)
        elif len(self.sending) >= self.d.max_in_flight:
            await self._wait(math.inf)  # only an answer frees a place
        else:
            self._start(chat_id)

    def _next_chat(self) -> tuple[int | None, float]:
        """A chat that may be sent to now, else how long until one may (infinite: only an answer helps)."""
        soonest = math.inf
        for chat_id in self.lines.idle_chats():
            wait = self.d.limiter.chat_wait(chat_id)
            if wait == 0:
                return chat_id, 0.0
            soonest = min(soonest, wait)
        return None, soonest

    async def _read_page(self) -> None:
        now = self.d.rt.now()
        async with self.d.rt.db.unit_of_work() as uow:
            rows = await uow.outbox.pending_after(self.cursor, PAGE_SIZE)
        for row in rows:
            if row.id in self.d.rt.unrecorded_deliveries:
                continue  # sent already; recorded before the next pass
            if row.next_attempt_at > now:
                self.lines.close(row.chat_id)  # not due: the chat's later rows must stay behind it
                self._expect(row.next_attempt_at)
            else:
                self.lines.add(row)
        if rows:
            self.cursor = rows[-1].id or self.cursor
        self.read_all = len(rows) < PAGE_SIZE

    def _look_again_if_woken(self) -> None:
        """New rows were queued after we had read everything: read on from where we stopped."""
        if self.read_all and self.wake.is_set():
            self.wake.clear()
            self.read_all = False

    def _start(self, chat_id: int) -> None:
        row = self.lines.take(chat_id)
        # Counted before the task even starts, so the next decision already sees this send in flight.
        send = self.d.limiter.start(chat_id)
        task = asyncio.create_task(self.d.deliver(row, send), name=f"{SEND_TASK_PREFIX}{row.id}")
        self.sending[task] = (row, send)
        self.attempted += 1

    async def _wait(self, seconds: float) -> None:
        """Until `seconds` pass, a send is answered, or (with everything read) new rows are queued."""
        timers: set[asyncio.Future[Any]] = set()
        if seconds < math.inf:
            timers.add(asyncio.ensure_future(self.d.sleep(seconds)))
        if self.read_all:
            timers.add(asyncio.ensure_future(self.wake.wait()))
        if not timers and not self.sending:
            raise RuntimeError("outbox pass would wait for nothing")  # a bug: better loud than hung
        try:
            await asyncio.wait({*timers, *self.sending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for timer in timers:
                timer.cancel()

    def _collect_answers(self) -> None:
        for task in [task for task in self.sending if task.done()]:
            row, _ = self.sending.pop(task)
            outcome = task.result()  # an error settling the row ends the pass; the next one retries
            if isinstance(outcome, Delivered):
                self.delivered += 1
            elif isinstance(outcome, RetryLater):
                self.lines.drop(row.chat_id)
                self._expect(self.d.rt.now() + outcome.delay)
            self.lines.release(row.chat_id)

    def _expect(self, moment: datetime) -> None:
        self.next_due = moment if self.next_due is None else min(self.next_due, moment)

    async def _wind_down(self) -> None:
        """Lets the sends still in flight finish (or finish cancelling) so none is left half counted."""
        await asyncio.gather(*self.sending, return_exceptions=True)
        for _, send in self.sending.values():
            self.d.limiter.finish(send)
