"""Exactly one process leads: it runs the scheduler and the outbox dispatcher, the others only serve.

Every process runs a `Leadership`. It seeks the leader lock (storage/coordination.py) at start-up and
then every `poll_seconds`: a process that gets the lock starts leading, a leader that finds it lost
stops at once. When the leader dies its lock is freed (PostgreSQL: with its connection; SQLite: when
its lease runs out), and another process takes over at its next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from storage.coordination import LeaderLock

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None]]


class Leadership:
    def __init__(self, lock: LeaderLock, *, worker_id: str, poll_seconds: float, lead: Step, step_down: Step) -> None:
        self.lock = lock
        self.worker_id = worker_id
        self.poll_seconds = poll_seconds
        self._lead = lead
        self._step_down = step_down
        self.is_leader = False
        self._changed = asyncio.Event()
        self._checking = asyncio.Lock()  # one check at a time, or two could both start leading
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Seeks the lock once now (so a lone process leads from its first moment), then periodically."""
        await self.check()
        self._task = asyncio.create_task(self._keep_checking(), name="leadership")

    async def stop(self) -> None:
        """Stops leading and frees the lock for another process at once."""
        await self._stop_checking()
        async with self._checking:
            await self._become(False)
            try:
                await self.lock.release()
            except Exception:  # a lease then lapses, an advisory lock goes with its connection
                log.exception("the leader lock could not be freed")

    async def abandon(self) -> None:
        """Stops without freeing the lock, as a killed process would (tests use it to play one)."""
        await self._stop_checking()
        async with self._checking:
            await self._become(False)
            await self.lock.abandon()

    async def check(self) -> None:
        """Seeks or confirms the lock now, and starts or stops leading accordingly."""
        async with self._checking:
            try:
                holding = await self.lock.acquire()
            except Exception:  # the lock's own errors are handled inside; anything else: not leading
                log.exception("leader lock check failed")
                holding = False
            await self._become(holding)

    async def wait_until_leader(self, leader: bool = True, timeout: float = 10.0) -> None:
        """Waits until this process leads (or, with leader=False, does not); TimeoutError after `timeout`."""
        async with asyncio.timeout(timeout):
            while self.is_leader != leader:
                await self._changed.wait()

    def describe(self) -> dict[str, object]:
        return {"id": self.worker_id, "leader": self.is_leader}

    async def _keep_checking(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.poll_seconds)
            if self._stopping.is_set():
                return
            await self.check()

    async def _stop_checking(self) -> None:
        """Ends the periodic checks, letting one under way finish: cut off inside a query, the lock's
        connection would be left unusable."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _become(self, leader: bool) -> None:
        if leader == self.is_leader:
            return
        if leader:
            log.info("worker %s leads: starting the scheduler and the outbox dispatcher", self.worker_id)
            await self._lead()
        else:
            log.warning("worker %s no longer leads: stopping the scheduler and the outbox dispatcher", self.worker_id)
            try:
                await self._step_down()
            except Exception:
                log.exception("stepping down failed")
        self.is_leader = leader
        self._changed.set()
        self._changed = asyncio.Event()
