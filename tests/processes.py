"""Real `python -m bot run --webhook` processes on one database behind tests/workers.py's Balancer.

What tests/workers.py does inside the test process, here with child processes that can be killed
with SIGKILL and started again: the deployment of README.md's "Deployment" section on one machine.
Every process runs on the system clock; every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlmodel import select

from bot.assembly import build_runtime, prepare_storage
from bot.settings import REPO_ROOT
from local_botapi import LocalBotApi
from services.officers import create_invite
from services.runtime import Runtime
from storage.models import OutboxRow
from storage.repositories import PENDING
from tests.conftest import TEST_TOKEN, make_settings
from tests.workers import WEBHOOK_PATH, WEBHOOK_SECRET, Balancer

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
WEB_SIDE = re.compile(r"web side on (http://[\d.]+:\d+)/health")
# Every process looks for the leader lock every 0.2 s; on SQLite a dead leader's lease lapses after
# `lease_seconds` (see `worker_processes`).
PROCESS_SETTINGS = {
    "OPENDOOR_TELEGRAM__WEBHOOK_PATH": WEBHOOK_PATH,
    "OPENDOOR_TELEGRAM__WEBHOOK_SECRET": WEBHOOK_SECRET,
    "OPENDOOR_WEB__PORT": "0",
    "OPENDOOR_WORKERS__LEADER_POLL_SECONDS": "0.2",
    "OPENDOOR_SCHEDULER__DISPATCHER_IDLE_SECONDS": "0.2",
    # A notice a killed leader had in flight goes out again this long after it was marked (30 s in
    # production: longer than any Bot API request against Telegram, far longer than the local server).
    "OPENDOOR_SCHEDULER__DISPATCHER_IN_FLIGHT_SECONDS": "5",
}


@dataclass
class WorkerProcess:
    process: asyncio.subprocess.Process
    url: str = ""
    log: list[str] = field(default_factory=list)
    _reading: asyncio.Task[None] | None = None

    async def health(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/health") as response:
            return await response.json()

    async def kill(self) -> None:
        """SIGKILL: nothing is flushed, no lock is freed, no update is answered."""
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        await self.finish_reading()

    async def terminate(self) -> None:
        """SIGTERM, the clean way out; it must exit with 0."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT) == 0, "\n".join(self.log)

    async def finish_reading(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reading:
            await self._reading


async def start_process(environ: dict[str, str]) -> WorkerProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--webhook",
        cwd=REPO_ROOT, env=environ, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    worker = WorkerProcess(process)
    announced = asyncio.get_running_loop().create_future()
    worker._reading = asyncio.create_task(_read_log(worker, announced))
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            worker.url = await announced
    except TimeoutError:
        process.kill()
        raise AssertionError("the worker did not start:\n" + "\n".join(worker.log)) from None
    return worker


async def _read_log(worker: WorkerProcess, announced: asyncio.Future[str]) -> None:
    """Keeps the pipe drained (a full pipe would block the worker) and notes where it serves."""
    assert worker.process.stderr is not None
    async for raw in worker.process.stderr:
        line = raw.decode(errors="replace").rstrip()
        worker.log.append(line)
        if (found := WEB_SIDE.search(line)) and not announced.done():
            announced.set_result(found.group(1))
    if not announced.done():
        announced.set_exception(AssertionError("the worker exited:\n" + "\n".join(worker.log)))


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    """Asks `condition()` every 0.1 s until it holds; returns how long that took."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            while not await condition():
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"waited {timeout} s for {what}") from None
    return time.monotonic() - started


@dataclass
class Deployment:
    api: LocalBotApi
    balancer: Balancer
    processes: list[WorkerProcess]
    invite: str  # an officer's registration code (business department)
    rt: Runtime  # the test's own view of the shared database
    environ: dict[str, str]  # what every process is started with

    async def start_another(self) -> WorkerProcess:
        """One more worker process (say, the killed one started again), behind the balancer."""
        worker = await start_process(self.environ)
        self.processes.append(worker)
        self.balancer.backends.append(worker.url)
        return worker

    async def leader(self) -> WorkerProcess:
        for worker in self.live():
            if (await worker.health())["worker"]["leader"]:
                return worker
        raise AssertionError("no process leads")

    def live(self) -> list[WorkerProcess]:
        return [worker for worker in self.processes if worker.process.returncode is None]

    def logs(self) -> str:
        return "\n\n".join(f"--- process {n}\n" + "\n".join(w.log[-200:]) for n, w in enumerate(self.processes))


@asynccontextmanager
async def worker_processes(
    tmp_path: Path, count: int = 2, *, lease_seconds: float = 3.0, database_url: str | None = None, **overrides: str
) -> AsyncIterator[Deployment]:
    """`count` worker processes on one (migrated) database; at the end they get SIGTERM, and no
    notice may be left unsent. `database_url` defaults to the test's database (tests/conftest.py)."""
    async with LocalBotApi(token=TEST_TOKEN, bot_username="OpenDoorTestBot", bot_name="开门评") as api:
        balancer = Balancer()
        await balancer.start()
        settings_overrides = {
            **PROCESS_SETTINGS,
            "OPENDOOR_TELEGRAM__BASE_URL": api.base_url,
            "OPENDOOR_TELEGRAM__BASE_FILE_URL": api.base_file_url,
            "OPENDOOR_TELEGRAM__WEBHOOK_URL": balancer.url + WEBHOOK_PATH,
            "OPENDOOR_WORKERS__LEADER_LEASE_SECONDS": str(lease_seconds),
            **overrides,
        }
        if database_url is not None:
            settings_overrides["OPENDOOR_DATABASE__URL"] = database_url
        settings = make_settings(tmp_path, **settings_overrides)
        rt = build_runtime(settings)
        await prepare_storage(rt)
        invite = await create_invite(rt, "business")
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OPENDOOR_")},
            **settings_overrides,
            "OPENDOOR_DATABASE__URL": settings.database.url,
            "OPENDOOR_TELEGRAM__TOKEN": TEST_TOKEN,
        }
        deployment = Deployment(api, balancer, [], invite, rt, environ)
        try:
            # Started together: they migrate one after the other (storage.coordination.startup_lock).
            deployment.processes.extend(await asyncio.gather(*(start_process(environ) for _ in range(count))))
            balancer.backends.extend(worker.url for worker in deployment.processes)
            yield deployment
            for worker in deployment.processes:
                await worker.terminate()
        finally:
            for worker in deployment.processes:
                await worker.finish_reading()
            await balancer.stop()
            async with rt.db.unit_of_work() as uow:
                pending = (await uow.session.exec(select(OutboxRow).where(OutboxRow.status == PENDING))).all()
            await rt.db.dispose()
    assert pending == [], "notices left unsent"
