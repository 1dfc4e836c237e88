"""Shared fixtures: hermetic settings, an injected clock, a migrated database, and a live bot."""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "true")

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from telegram.ext import Application

from bot.assembly import build_application, build_runtime, prepare_storage, start_polling, stop_polling
from bot.settings import Settings, load_settings
from domain.clock import FakeClock
from local_botapi import LocalBotApi, SimUser
from scheduler.sweep import sweep
from services.officers import create_invite
from services.runtime import Runtime

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 23 November 2026, 10:00 in Shanghai: an ordinary working morning.
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
TEST_TOKEN = "123456:TEST-TOKEN"


def make_settings(tmp_path: Path, **overrides: str) -> Settings:
    environ = {
        "OPENDOOR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'opendoor.sqlite3'}",
        "OPENDOOR_TELEGRAM__TOKEN": TEST_TOKEN,
        **overrides,
    }
    return load_settings(environ=environ)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_MORNING)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def runtime(settings: Settings, clock: FakeClock) -> AsyncIterator[Runtime]:
    rt = build_runtime(settings, clock)
    await prepare_storage(rt)
    yield rt
    await rt.db.dispose()


@dataclass
class LiveBot:
    """The real PTB application polling a local Bot API server, with time under the test's control."""

    api: LocalBotApi
    application: Application
    rt: Runtime
    clock: FakeClock

    async def sweep(self) -> int:
        return await sweep(self.rt)

    async def register_officer(self, name: str, department: str, role: str = "officer") -> SimUser:
        officer = self.api.user(name, language_code="zh-hans")
        code = await create_invite(self.rt, department, role)
        await officer.send(f"/register {code}")
        welcome = await officer.next_message()
        assert "登记成功" in welcome.text, welcome.text
        return officer


@asynccontextmanager
async def running_bot(tmp_path: Path, clock: FakeClock, **overrides: str) -> AsyncIterator[LiveBot]:
    """The real application polling a fresh local Bot API server; `overrides` change settings."""
    async with LocalBotApi(token=TEST_TOKEN, bot_username="OpenDoorTestBot", bot_name="开门评") as api:
        settings = make_settings(
            tmp_path,
            OPENDOOR_TELEGRAM__BASE_URL=api.base_url,
            OPENDOOR_TELEGRAM__BASE_FILE_URL=api.base_file_url,
            OPENDOOR_TELEGRAM__POLL_TIMEOUT_SECONDS="10",
            # Tests sweep explicitly after moving the clock; the periodic sweep only runs at start-up.
            OPENDOOR_SCHEDULER__SWEEP_SECONDS="86400",
            # Each test's web side on a free port, so tests never collide.
            OPENDOOR_WEB__PORT="0",
            **overrides,
        )
        rt = build_runtime(settings, clock)
        application = build_application(rt)
        await start_polling(application)
        try:
            yield LiveBot(api, application, rt, clock)
        finally:
            await stop_polling(application)
            await rt.db.dispose()


@pytest.fixture
async def live_bot(tmp_path: Path, clock: FakeClock) -> AsyncIterator[LiveBot]:
    async with running_bot(tmp_path, clock) as bot:
        yield bot
