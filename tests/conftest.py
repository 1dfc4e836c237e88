"""Shared fixtures: hermetic settings, an injected clock, a migrated database, and a live bot.

Every test runs on SQLite by default; ``--database=postgresql`` (or ``OPENDOOR_TEST_DATABASE=postgresql``)
runs the same tests on a throwaway PostgreSQL cluster instead (see tests/postgres.py), each test on a
fresh database. `database_url` hands out a test's databases on either.
"""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "true")

from collections.abc import AsyncIterator, Iterator
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
from tests.postgres import PostgresNotFound, ThrowawayCluster, find_binaries

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 23 November 2026, 10:00 in Shanghai: an ordinary working morning.
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
TEST_TOKEN = "123456:TEST-TOKEN"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("OPENDOOR_TEST_DATABASE", "sqlite"),
        help="run the tests on SQLite (default) or on a throwaway PostgreSQL cluster (needs its binaries)",
    )


def pytest_configure(config: pytest.Config) -> None:
    global DATABASES
    config.addinivalue_line("markers", "sqlite_only(reason): the test is about SQLite itself; not run on PostgreSQL")
    backend = config.getoption("--database")
    if backend == "postgresql":
        try:
            find_binaries()
        except PostgresNotFound as error:
            if os.environ.get("OPENDOOR_REQUIRE_POSTGRES") == "1":
                raise pytest.UsageError(f"OPENDOOR_REQUIRE_POSTGRES=1: {error}") from error
            pytest.exit(f"{error}. The PostgreSQL run is skipped.", returncode=0)
    DATABASES = TestDatabases(backend)


def pytest_unconfigure(config: pytest.Config) -> None:
    DATABASES.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if DATABASES.backend == "sqlite":
        return
    for item in items:
        if marker := item.get_closest_marker("sqlite_only"):
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {marker.kwargs.get('reason', '')}"))


class TestDatabases:
    """Where tests' databases live: SQLite files in their tmp_path, or databases in one throwaway cluster.

    The cluster starts when a test first asks for a database and stops when the session ends; each
    test's PostgreSQL databases are dropped when the test ends.
    """

    __test__ = False  # not a test class, despite its name

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._cluster: ThrowawayCluster | None = None
        self._names: dict[tuple[Path, str], str] = {}

    def url(self, tmp_path: Path, name: str, *, migrated: bool) -> str:
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / name}.sqlite3"
        if self._cluster is None:
            self._cluster = ThrowawayCluster(find_binaries())
            self._cluster.start()
        key = (tmp_path, name)
        if key not in self._names:
            self._names[key] = self._cluster.create_database(migrated=migrated)
        return self._cluster.url(self._names[key])

    def drop_all(self) -> None:
        while self._names:
            assert self._cluster is not None
            self._cluster.drop_database(self._names.popitem()[1])

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None


DATABASES = TestDatabases("sqlite")


def database_url(tmp_path: Path, name: str = "opendoor", *, migrated: bool = True) -> str:
    """The test's database called `name` (the same one for the same test and name).

    On PostgreSQL a new database is a copy of an already migrated one unless `migrated` is False;
    on SQLite it is always a new, empty file (migrating it takes milliseconds).
    """
    return DATABASES.url(tmp_path, name, migrated=migrated)


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    yield
    DATABASES.drop_all()


def make_settings(tmp_path: Path, **overrides: str) -> Settings:
    environ = {"OPENDOOR_TELEGRAM__TOKEN": TEST_TOKEN, **overrides}
    if "OPENDOOR_DATABASE__URL" not in environ:  # a test on a database of its own starts no other
        environ["OPENDOOR_DATABASE__URL"] = database_url(tmp_path)
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
