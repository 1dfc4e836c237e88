"""The engine, migrations and the unit of work that every service function opens."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.bot_state import CoreStateStore, SqliteStateStore, StateStore
from storage.repositories import (
    AppraisalRepository,
    AttachmentRepository,
    CorrectionRepository,
    DepartmentRepository,
    ExtensionRepository,
    GroupRepository,
    EventRepository,
    InviteRepository,
    OfficerRepository,
    OutboxRepository,
    ReminderRepository,
    ResidentRepository,
    TicketRepository,
    WebSessionRepository,
    WebUserRepository,
)
from storage.sqlite_driver import OneTripDBAPI

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _tune_sqlite(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while the bot writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _without_nul(_connection, _cursor, statement, parameters, _context, _executemany):  # type: ignore[no-untyped-def]
    """Drops U+0000 from text parameters: PostgreSQL's text cannot hold it (SQLite's can).

    A resident cannot type it, but an Open311 form field or any client can send it (``%00``), and
    PostgreSQL then refused the whole statement, so the submission failed.
    """
    return statement, _clean(parameters)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, (list, tuple)):
        return type(value)(_clean(item) for item in value)
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    return value


def _async_url(url: str) -> URL:
    """The URL with an asyncio driver: a plain ``postgresql://`` (as libpq and psql write it) means asyncpg."""
    parsed = make_url(url)
    drivers = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
    return parsed.set(drivername=drivers.get(parsed.drivername, parsed.drivername))


def _engine_options(url: URL) -> dict[str, Any]:
    if url.get_driver_name() == "aiosqlite":
        return {"module": OneTripDBAPI()}
    if url.get_backend_name() != "postgresql":
        return {}
    return {
        # Each process keeps a few server connections and borrows up to ten more in a burst; the
        # server's max_connections must cover pool_size + max_overflow for every process.
        "pool_size": 5,
        "max_overflow": 10,
        # A connection is tested before use, so a restarted server costs a reconnect, not a failed update.
        "pool_pre_ping": True,
        "connect_args": {"server_settings": {"application_name": "opendoor"}},
    }


class Database:
    """SQLite (the default, one process) or PostgreSQL (asyncpg; several processes), chosen by the URL."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        if url.startswith("sqlite") and ":memory:" not in url:
            Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        driver_url = _async_url(url)
        self.engine: AsyncEngine = create_async_engine(driver_url, echo=echo, **_engine_options(driver_url))
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _tune_sqlite)
        else:
            event.listen(self.engine.sync_engine, "before_cursor_execute", _without_nul, retval=True)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self.bot_state: StateStore = (
            SqliteStateStore(driver_url.database)
            if driver_url.get_backend_name() == "sqlite" and driver_url.database and ":memory:" not in url
            else CoreStateStore(self.engine)
        )

    async def migrate(self, revision: str = "head") -> None:
        """Brings the schema to `revision` with Alembic."""
        await self._alembic("upgrade", revision)

    async def downgrade(self, revision: str = "base") -> None:
        await self._alembic("downgrade", revision)

    async def _alembic(self, direction: str, revision: str) -> None:
        """Runs the migrations in one transaction (on PostgreSQL the DDL too: all or nothing).

        SQLite alters a table by copying it into a new one and dropping the old, which its foreign
        keys forbid while other tables refer to the rows. So, as SQLite's own recipe says, they are
        switched off around the migration (only possible outside a transaction) and checked before
        the commit instead.
        """
        async with self.engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await connection.commit()
            try:
                async with connection.begin():
                    await connection.run_sync(_run_alembic, direction, revision)
                    if sqlite and (broken := (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()):
                        raise RuntimeError(f"the migration would leave rows pointing nowhere: {broken[:5]}")
            finally:
                if sqlite:
                    await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    await connection.commit()

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._sessions())

    async def dispose(self) -> None:
        await self.bot_state.close()
        await self.engine.dispose()


def _run_alembic(connection: Connection, direction: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    getattr(command, direction)(config, revision)


class UnitOfWork:
    """One transaction: repositories share it; nothing is written unless commit() is called."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.departments = DepartmentRepository(session)
        self.residents = ResidentRepository(session)
        self.officers = OfficerRepository(session)
        self.invites = InviteRepository(session)
        self.tickets = TicketRepository(session)
        self.events = EventRepository(session)
        self.reminders = ReminderRepository(session)
        self.outbox = OutboxRepository(session)
        self.groups = GroupRepository(session)
        self.corrections = CorrectionRepository(session)
        self.extensions = ExtensionRepository(session)
        self.attachments = AttachmentRepository(session)
        self.appraisals = AppraisalRepository(session)
        self.web_users = WebUserRepository(session)
        self.web_sessions = WebSessionRepository(session)

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # close() rolls back anything uncommitted without expiring what was read, so rows stay usable.
        await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()
