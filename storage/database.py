"""The engine, migrations and the unit of work that every service function opens."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

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

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _tune_sqlite(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while the bot writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        if url.startswith("sqlite") and ":memory:" not in url:
            Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, echo=echo)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _tune_sqlite)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    async def migrate(self, revision: str = "head") -> None:
        """Brings the schema to `revision` with Alembic."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_alembic, "upgrade", revision)

    async def downgrade(self, revision: str = "base") -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(_alembic, "downgrade", revision)

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._sessions())

    async def dispose(self) -> None:
        await self.engine.dispose()


def _alembic(connection: Connection, direction: str, revision: str) -> None:
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
