"""The one door out: sends outbox rows through the Bot API, retrying what can be retried."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from services.runtime import Runtime
from storage.models import OutboxRow, TicketEventRow
from storage.repositories import FAILED, UNDELIVERABLE

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 300


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter, so many failed rows do not retry in lockstep."""
    ceiling = min(MAX_BACKOFF_SECONDS, 2**attempts)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def _snake_case(method: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", method).lower()


def _as_delta(retry_after: int | timedelta) -> timedelta:
    return retry_after if isinstance(retry_after, timedelta) else timedelta(seconds=retry_after)


class OutboxDispatcher:
    def __init__(self, rt: Runtime, bot: Bot) -> None:
        self.rt = rt
        self.bot = bot
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

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
        idle = self.rt.settings.scheduler.dispatcher_idle_seconds
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # a database hiccup must not end the door out; try again soon
                log.exception("outbox dispatcher pass failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=idle)
            except TimeoutError:
                pass

    async def drain(self) -> int:
        """Sends every row that is due now; returns how many were delivered."""
        delivered = 0
        while True:
            async with self.rt.db.unit_of_work() as uow:
                rows = await uow.outbox.due(self.rt.now())
            if not rows:
                return delivered
            for row in rows:
                delivered += await self._deliver(row)

    async def _deliver(self, row: OutboxRow) -> int:
        try:
            message = await self._call(row.method, row.payload)
        except RetryAfter as error:
            await self._retry(row, _as_delta(error.retry_after), str(error))
        except Forbidden as error:
            await self._give_up(row, UNDELIVERABLE, str(error))
        except BadRequest as error:
            log.warning("outbox row %s dropped: %s", row.key, error)
            await self._give_up(row, FAILED, str(error))
        except (NetworkError, TelegramError) as error:
            await self._retry(row, backoff(row.attempts + 1), str(error))
        else:
            message_id = message.message_id if isinstance(message, Message) else None
            async with self.rt.db.unit_of_work() as uow:
                await uow.outbox.mark_sent(row.id or 0, self.rt.now(), message_id)
                await uow.commit()
            return 1
        return 0

    async def _call(self, method: str, payload: dict[str, Any]) -> Message | bool:
        """Calls the Bot API method the row names; rows keep Bot API parameters as plain JSON."""
        kwargs = dict(payload)
        if kwargs.get("reply_markup") is not None:
            kwargs["reply_markup"] = InlineKeyboardMarkup.de_json(kwargs["reply_markup"], self.bot)
        return await getattr(self.bot, _snake_case(method))(**kwargs)

    async def _retry(self, row: OutboxRow, delay: timedelta, error: str) -> None:
        if row.attempts + 1 >= self.rt.settings.scheduler.dispatcher_max_attempts:
            log.error("outbox row %s failed after %d attempts: %s", row.key, row.attempts + 1, error)
            await self._give_up(row, FAILED, error)
            return
        async with self.rt.db.unit_of_work() as uow:
            await uow.outbox.retry_later(row.id or 0, self.rt.now() + delay, error)
            await uow.commit()

    async def _give_up(self, row: OutboxRow, status: str, error: str) -> None:
        async with self.rt.db.unit_of_work() as uow:
            await uow.outbox.give_up(row.id or 0, status, error)
            if status == UNDELIVERABLE and row.ticket_id is not None:
                # The officer sees on the ticket that the resident did not get this notice.
                await uow.events.append(
                    TicketEventRow(
                        ticket_id=row.ticket_id, at=self.rt.now(), actor="system", action="undeliverable",
                        note=f"{row.purpose}: {error}", public=False,
                    )
                )
            await uow.commit()
