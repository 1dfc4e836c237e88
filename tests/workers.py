"""Several webhook workers on one database behind a small load balancer, against the local Bot API server.

The deployment the README describes, in one test process: Telegram (the local Bot API server) posts
each update to the balancer, which forwards it to a worker; every worker is a real PTB application
started with `start_webhook`, serving the webhook and /health on its own port.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.assembly import build_application, build_runtime, start_webhook, stop_webhook
from domain.clock import FakeClock
from local_botapi import LocalBotApi
from scheduler.leader import Leadership
from tests.conftest import TEST_TOKEN, LiveBot, make_settings

WEBHOOK_PATH = "/telegram/webhook"
WEBHOOK_SECRET = "test-webhook-secret_0123456789"
# Leadership is checked every 50 ms of real time; the lease (SQLite) runs on the test's FakeClock,
# so it never lapses unless a test moves the clock on.
WORKER_SETTINGS = {
    "OPENDOOR_TELEGRAM__WEBHOOK_PATH": WEBHOOK_PATH,
    "OPENDOOR_TELEGRAM__WEBHOOK_SECRET": WEBHOOK_SECRET,
    "OPENDOOR_WORKERS__LEADER_POLL_SECONDS": "0.05",
    "OPENDOOR_WORKERS__LEADER_LEASE_SECONDS": "20",
    # A notice queued by a worker that does not lead waits for the leader's dispatcher to look again.
    "OPENDOOR_SCHEDULER__DISPATCHER_IDLE_SECONDS": "0.1",
    "OPENDOOR_SCHEDULER__SWEEP_SECONDS": "86400",
    "OPENDOOR_WEB__PORT": "0",
}


class Balancer:
    """A load balancer in miniature: each request goes to the next worker in turn, or to `target` when
    a test pins one; a worker that refuses connections is skipped, as a health-checking balancer would."""

    def __init__(self) -> None:
        self.backends: list[str] = []
        self.target: str | None = None
        self.forwarded: list[tuple[str, int]] = []  # (backend, status) of every request
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {name: value for name, value in request.headers.items() if name.lower() not in ("host", "content-length")}
        for backend in self._candidates():
            try:
                async with self._session.request(request.method, backend + request.path_qs, data=body, headers=headers) as answer:
                    self.forwarded.append((backend, answer.status))
                    return web.Response(status=answer.status, body=await answer.read())
            except aiohttp.ClientConnectionError:
                continue
        return web.Response(status=502, text="no worker answers")

    def _candidates(self) -> list[str]:
        if self.target is not None:
            return [self.target]
        start = next(self._turn)
        return [self.backends[(start + i) % len(self.backends)] for i in range(len(self.backends))]


@dataclass
class Worker(LiveBot):
    """One worker process's application, runtime and web side."""

    url: str = ""
    stopped: bool = field(default=False)

    @property
    def leadership(self) -> Leadership:
        leadership = self.rt.leadership
        assert leadership is not None
        return leadership

    async def health(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/health") as response:
            return await response.json()

    async def stop(self) -> None:
        """Shuts down in order: stops taking updates, steps down and frees the leader lock."""
        if not self.stopped:
            self.stopped = True
            await stop_webhook(self.application)

    async def crash(self) -> None:
        """Stops as a killed process would: the leader lock is not freed, nothing is said to anyone."""
        self.stopped = True
        runner = self.application.bot_data.pop("web")
        await runner.cleanup()
        leadership = self.application.bot_data.pop("leadership")
        await leadership.abandon()
        await self.application.stop()
        await self.application.shutdown()


@dataclass
class Workers:
    api: LocalBotApi
    balancer: Balancer
    workers: list[Worker]
    clock: FakeClock

    def route_to(self, worker: Worker | None) -> None:
        """Sends the next updates to this worker only (None: round robin again)."""
        self.balancer.target = worker.url if worker else None

    def leaders(self) -> list[Worker]:
        return [worker for worker in self.workers if not worker.stopped and worker.leadership.is_leader]


async def start_worker(tmp_path: Path, api: LocalBotApi, balancer: Balancer, clock: FakeClock, **overrides: str) -> Worker:
    settings = make_settings(
        tmp_path,
        OPENDOOR_TELEGRAM__BASE_URL=api.base_url,
        OPENDOOR_TELEGRAM__BASE_FILE_URL=api.base_file_url,
        OPENDOOR_TELEGRAM__WEBHOOK_URL=balancer.url + WEBHOOK_PATH,
        **{**WORKER_SETTINGS, **overrides},
    )
    rt = build_runtime(settings, clock)
    application = build_application(rt)
    await start_webhook(application)
    host, port = application.bot_data["web"].addresses[0][:2]
    worker = Worker(api, application, rt, clock, url=f"http://{host}:{port}")
    balancer.backends.append(worker.url)
    return worker


@asynccontextmanager
async def running_workers(tmp_path: Path, clock: FakeClock, count: int = 2, **overrides: str) -> AsyncIterator[Workers]:
    """`count` workers started one after the other on one database: the first one leads."""
    async with LocalBotApi(token=TEST_TOKEN, bot_username="OpenDoorTestBot", bot_name="开门评") as api:
        balancer = Balancer()
        await balancer.start()
        workers: list[Worker] = []
        try:
            for _ in range(count):
                workers.append(await start_worker(tmp_path, api, balancer, clock, **overrides))
            yield Workers(api, balancer, workers, clock)
        finally:
            # The leader last, so that no other worker takes over on the way out.
            for worker in sorted(workers, key=lambda w: not w.stopped and w.leadership.is_leader):
                await worker.stop()
            for worker in workers:
                await worker.rt.db.dispose()
            await balancer.stop()
