"""The real thing: two `python -m bot run --webhook` processes on one database behind a load balancer.
The leader is killed with SIGKILL in the middle of a resident's conversation; the other process takes
over the scheduler and the dispatcher within seconds, the conversation goes on, and every notice goes
out exactly once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from bot.assembly import build_runtime, prepare_storage
from bot.cli import main
from bot.settings import REPO_ROOT
from local_botapi import LocalBotApi, SimUser
from services.officers import create_invite
from services.runtime import Runtime
from storage.models import OutboxRow
from storage.repositories import PENDING
from tests.conftest import TEST_TOKEN, make_settings
from tests.e2e.test_resident_hotline import NOISE, confirm, start_item
from tests.workers import WEBHOOK_PATH, WEBHOOK_SECRET, Balancer

# Real time here: the processes run on the system clock. The lease (SQLite) lapses 3 s after the
# killed leader last renewed it; every process looks every 0.2 s.
LEASE_SECONDS = 3.0
STARTUP_TIMEOUT = 60.0
TAKEOVER_TIMEOUT = 15.0
WEB_SIDE = re.compile(r"web side on (http://[\d.]+:\d+)/health")


@dataclass
class WorkerProcess:
    process: asyncio.subprocess.Process
    url: str = ""
    log: list[str] = field(default_factory=list)
    _reading: asyncio.Task[None] | None = None

    async def health(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/health") as response:
            return await response.json()


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


async def wait_until(condition, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Asks `condition()` (async) every 0.1 s until it holds; returns how long that took."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.1)
    return time.monotonic() - started


@dataclass
class Deployment:
    api: LocalBotApi
    balancer: Balancer
    processes: list[WorkerProcess]
    invite: str  # an officer's registration code
    rt: Runtime  # the test's own view of the shared database


@asynccontextmanager
async def two_worker_processes(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with LocalBotApi(token=TEST_TOKEN, bot_username="OpenDoorTestBot", bot_name="开门评") as api:
        balancer = Balancer()
        await balancer.start()
        overrides = {
            "OPENDOOR_TELEGRAM__BASE_URL": api.base_url,
            "OPENDOOR_TELEGRAM__BASE_FILE_URL": api.base_file_url,
            "OPENDOOR_TELEGRAM__WEBHOOK_URL": balancer.url + WEBHOOK_PATH,
            "OPENDOOR_TELEGRAM__WEBHOOK_PATH": WEBHOOK_PATH,
            "OPENDOOR_TELEGRAM__WEBHOOK_SECRET": WEBHOOK_SECRET,
            "OPENDOOR_WEB__PORT": "0",
            "OPENDOOR_WORKERS__LEADER_POLL_SECONDS": "0.2",
            "OPENDOOR_WORKERS__LEADER_LEASE_SECONDS": str(LEASE_SECONDS),
            "OPENDOOR_SCHEDULER__DISPATCHER_IDLE_SECONDS": "0.2",
        }
        settings = make_settings(tmp_path, **overrides)
        rt = build_runtime(settings)
        await prepare_storage(rt)
        invite = await create_invite(rt, "business")
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OPENDOOR_")},
            **overrides,
            "OPENDOOR_DATABASE__URL": settings.database.url,
            "OPENDOOR_TELEGRAM__TOKEN": TEST_TOKEN,
        }
        processes: list[WorkerProcess] = []
        try:
            # Started together: they migrate one after the other (storage.coordination.startup_lock).
            processes = list(await asyncio.gather(start_process(environ), start_process(environ)))
            balancer.backends.extend(worker.url for worker in processes)
            yield Deployment(api, balancer, processes, invite, rt)
            for worker in processes:
                if worker.process.returncode is None:
                    worker.process.send_signal(signal.SIGTERM)
                    assert await asyncio.wait_for(worker.process.wait(), 30) == 0, "\n".join(worker.log)
        finally:
            for worker in processes:
                if worker.process.returncode is None:
                    worker.process.kill()
                    await worker.process.wait()
                if worker._reading:
                    await worker._reading
            await balancer.stop()
            async with rt.db.unit_of_work() as uow:
                pending = (await uow.session.exec(select(OutboxRow).where(OutboxRow.status == PENDING))).all()
            await rt.db.dispose()
    assert pending == [], "notices left unsent"


def card_count(officer: SimUser, number: str) -> int:
    return sum(1 for message in officer.messages if (message.text or "").startswith(f"📋 新工单 {number}"))


async def test_a_killed_leader_is_replaced_within_seconds_and_every_notice_goes_out_once(tmp_path: Path) -> None:
    async with two_worker_processes(tmp_path) as deployment:
        api, balancer, processes, rt = deployment.api, deployment.balancer, deployment.processes, deployment.rt
        reports = [await worker.health() for worker in processes]
        assert sorted(r["worker"]["leader"] for r in reports) == [False, True]
        leader, other = processes if reports[0]["worker"]["leader"] else processes[::-1]

        officer = api.user("张警官")
        await officer.send(f"/register {deployment.invite}")
        assert "登记成功" in (await officer.next_message()).text
        resident = api.user("王女士")
        await start_item(resident)
        await resident.send(NOISE)
        await resident.next_message()
        first = await confirm(resident)
        await api.wait_for(lambda: card_count(officer, first) == 1, timeout=10, what="the first card")
        await start_item(resident)  # a second item, half written when the leader dies
        await resident.send("小区门口的路灯坏了一个多月，晚上很黑。")
        await resident.next_message()
        # Killed between updates: every update so far was answered, every notice so far recorded as
        # sent. (Killed in the middle of one, the update is handled again by the other worker, and
        # what the dead one had already sent may go out twice: at least once, never lost.)
        await api.wait_for(lambda: api.state.updates.pending_count == 0, what="every update answered")
        await wait_until(lambda: _no_notice_pending(rt), 10, "every notice recorded as sent")

        leader.process.send_signal(signal.SIGKILL)
        await leader.process.wait()
        takeover = await wait_until(
            lambda: _leads(other), TAKEOVER_TIMEOUT, "the other worker to lead"
        )
        second = await confirm(resident)  # the conversation goes on in the surviving worker
        await api.wait_for(lambda: card_count(officer, second) == 1, timeout=10, what="the second card")

        assert leader.process.returncode == -signal.SIGKILL
        assert takeover < LEASE_SECONDS + 3
        assert (card_count(officer, first), card_count(officer, second)) == (1, 1)
        assert any(backend == other.url for backend, _ in balancer.forwarded[-3:])
        print(f"take-over after SIGKILL: {takeover:.2f} s (lease {LEASE_SECONDS} s on SQLite; at once on PostgreSQL)")


async def _no_notice_pending(rt: Runtime) -> bool:
    async with rt.db.unit_of_work() as uow:
        return (await uow.outbox.backlog()).get(PENDING, 0) == 0


async def _leads(worker: WorkerProcess) -> bool:
    return (await worker.health())["worker"]["leader"]


def test_run_webhook_without_a_url_and_secret_says_what_to_set(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("OPENDOOR_TELEGRAM__TOKEN", TEST_TOKEN)
    monkeypatch.delenv("OPENDOOR_TELEGRAM__WEBHOOK_URL", raising=False)
    monkeypatch.delenv("OPENDOOR_TELEGRAM__WEBHOOK_SECRET", raising=False)

    assert main(["run", "--webhook"]) == 2

    error = capsys.readouterr().err
    assert "OPENDOOR_TELEGRAM__WEBHOOK_URL" in error and "OPENDOOR_TELEGRAM__WEBHOOK_SECRET" in error
