"""What several bot processes on one database coordinate through.

* `UpdateClaims`: which Telegram updates have been taken on. A worker claims an update (a row keyed
  by update_id) before handling it, confirms the claim while handling, and marks it handled
  afterwards, so a second delivery of the same update, to this worker or another, is skipped. A
  claim left unconfirmed for the configured claim time (its worker died) may be taken over.
* `LeaseLock` and `AdvisoryLock`: which process leads (runs the scheduler and the outbox dispatcher).
  PostgreSQL has session-level advisory locks, held on a connection of their own and freed by the
  server the moment that connection ends, so a killed leader's lock is gone at once. SQLite has
  none: there the leader holds a lease row that it renews, and anyone may take it once it expired.
* `startup_lock`: workers starting together migrate the schema one after another, not at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from domain.clock import Clock
from storage.database import Database
from storage.models import LeaderLeaseRow, ProcessedUpdateRow

log = logging.getLogger(__name__)

# Advisory lock keys (any 64-bit numbers, fixed for this application). They are scoped to the database,
# so two deployments on one PostgreSQL server, each with its own database, do not contend.
LEADER_LOCK_KEY = 0x6F70656E646F6F72  # "opendoor"
STARTUP_LOCK_KEY = LEADER_LOCK_KEY + 1
LEASE_NAME = "leader"


def worker_name() -> str:
    """This process, as other processes and the operator see it: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _insert(dialect: str):  # type: ignore[no-untyped-def]
    """INSERT with ON CONFLICT support for the dialects we run on."""
    return (postgresql if dialect == "postgresql" else sqlite).insert


class Claim(Enum):
    TAKEN = "taken"  # this worker handles the update now
    DONE = "done"  # handled before: acknowledge it and do nothing
    BUSY = "busy"  # another worker is handling it right now


class UpdateClaims:
    """The processed_updates table: one row per update a worker took on."""

    def __init__(self, db: Database, worker: str) -> None:
        self.db = db
        self.worker = worker

    async def claim(self, update_id: int, now: datetime, stale_before: datetime) -> Claim:
        """Takes the update on, unless it was handled already or another worker is handling it.

        A claim last confirmed (`renew`) before `stale_before` and never finished belongs to a worker
        presumed dead; it is taken over, so the update is not lost with that worker.
        """
        async with self.db.unit_of_work() as uow:
            session = uow.session
            insert = _insert(session.get_bind().dialect.name)(ProcessedUpdateRow).values(
                update_id=update_id, worker=self.worker, claimed_at=now
            )
            inserted = await session.exec(  # type: ignore[call-overload]
                insert.on_conflict_do_nothing(index_elements=["update_id"]).returning(col(ProcessedUpdateRow.update_id))
            )
            if inserted.first() is not None:
                await uow.commit()
                return Claim.TAKEN
            taken_over = await session.exec(  # type: ignore[call-overload]
                update(ProcessedUpdateRow)
                .where(
                    col(ProcessedUpdateRow.update_id) == update_id,
                    col(ProcessedUpdateRow.handled_at).is_(None),
                    col(ProcessedUpdateRow.claimed_at) < stale_before,
                )
                .values(worker=self.worker, claimed_at=now)
            )
            if taken_over.rowcount == 1:
                await uow.commit()
                log.warning("update %s: taking over the unfinished claim of a worker presumed dead", update_id)
                return Claim.TAKEN
            row = await session.get(ProcessedUpdateRow, update_id)
        return Claim.DONE if row is not None and row.handled_at is not None else Claim.BUSY

    async def renew(self, update_id: int, now: datetime) -> None:
        """Confirms that this worker is still handling the update, so nobody takes it over."""
        async with self.db.unit_of_work() as uow:
            await uow.session.exec(  # type: ignore[call-overload]
                update(ProcessedUpdateRow)
                .where(
                    col(ProcessedUpdateRow.update_id) == update_id,
                    col(ProcessedUpdateRow.worker) == self.worker,
                    col(ProcessedUpdateRow.handled_at).is_(None),
                )
                .values(claimed_at=now)
            )
            await uow.commit()

    async def finish(self, update_id: int, now: datetime) -> None:
        async with self.db.unit_of_work() as uow:
            await uow.session.exec(  # type: ignore[call-overload]
                update(ProcessedUpdateRow).where(col(ProcessedUpdateRow.update_id) == update_id).values(handled_at=now)
            )
            await uow.commit()

    async def release(self, update_id: int) -> None:
        """Gives an unfinished claim up, so that the next delivery of the update is handled."""
        async with self.db.unit_of_work() as uow:
            await uow.session.exec(  # type: ignore[call-overload]
                delete(ProcessedUpdateRow).where(
                    col(ProcessedUpdateRow.update_id) == update_id, col(ProcessedUpdateRow.handled_at).is_(None)
                )
            )
            await uow.commit()


async def forget_processed_updates(db: Database, before: datetime) -> int:
    """Deletes the claims made before `before` (Telegram stops retrying after a day); returns how many."""
    async with db.unit_of_work() as uow:
        result = await uow.session.exec(  # type: ignore[call-overload]
            delete(ProcessedUpdateRow).where(col(ProcessedUpdateRow.claimed_at) < before)
        )
        await uow.commit()
    return result.rowcount


class LeaderLock(Protocol):
    async def acquire(self) -> bool:
        """Takes the lock or confirms it is still held; True while this process holds it."""
        ...

    async def release(self) -> None:
        """Lets another process take the lock at once."""
        ...

    async def abandon(self) -> None:
        """Stops holding the lock without telling anyone, as a process that dies would."""
        ...


class LeaseLock:
    """Leadership as a lease row: holder and expiry, renewed by every `acquire`.

    On a database error the lease is still counted as held if it will not have expired by the next
    renewal (`renew_within` from now); after that the holder must assume another process took over.
    """

    def __init__(self, db: Database, holder: str, *, clock: Clock, lease: timedelta, renew_within: timedelta) -> None:
        self.db = db
        self.holder = holder
        self.clock = clock
        self.lease = lease
        self.renew_within = renew_within
        self._valid_until: datetime | None = None

    async def acquire(self) -> bool:
        now = self.clock.now()
        try:
            held = await self._take_or_renew(now)
        except Exception:
            log.exception("leader lease could not be renewed")
            return self._valid_until is not None and now + self.renew_within < self._valid_until
        self._valid_until = now + self.lease if held else None
        return held

    async def _take_or_renew(self, now: datetime) -> bool:
        expires_at = now + self.lease
        async with self.db.unit_of_work() as uow:
            session = uow.session
            renewed = await session.exec(  # type: ignore[call-overload]
                update(LeaderLeaseRow)
                .where(
                    col(LeaderLeaseRow.name) == LEASE_NAME,
                    (col(LeaderLeaseRow.holder) == self.holder) | (col(LeaderLeaseRow.expires_at) < now),
                )
                .values(holder=self.holder, expires_at=expires_at)
            )
            if renewed.rowcount == 1:
                await uow.commit()
                return True
            insert = _insert(session.get_bind().dialect.name)(LeaderLeaseRow).values(
                name=LEASE_NAME, holder=self.holder, expires_at=expires_at
            )
            created = await session.exec(  # type: ignore[call-overload]
                insert.on_conflict_do_nothing(index_elements=["name"]).returning(col(LeaderLeaseRow.name))
            )
            held = created.first() is not None
            await uow.commit()
            return held

    async def release(self) -> None:
        self._valid_until = None
        async with self.db.unit_of_work() as uow:
            await uow.session.exec(  # type: ignore[call-overload]
                delete(LeaderLeaseRow).where(col(LeaderLeaseRow.name) == LEASE_NAME, col(LeaderLeaseRow.holder) == self.holder)
            )
            await uow.commit()

    async def abandon(self) -> None:
        self._valid_until = None


class AdvisoryLock:
    """PostgreSQL's session-level advisory lock, held on a connection of its own.

    While held, every `acquire` checks that the connection still answers: if it does not (the server
    restarted, the network broke), the server has freed the lock or soon will, so leadership is given
    up and sought again at the next check.
    """

    def __init__(self, db: Database, key: int = LEADER_LOCK_KEY) -> None:
        self.db = db
        self.key = key
        self._connection: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                await self._connection.commit()
                return True
            except Exception:
                log.exception("the connection holding the leader lock failed; the lock is lost")
                await self.abandon()
                return False
        try:
            connection = await self.db.engine.connect()
        except Exception:
            log.exception("no database connection to seek the leader lock with")
            return False
        try:
            got = (await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})).scalar()
            # The lock belongs to the session, not the transaction: end the transaction so that the
            # connection does not sit "idle in transaction" for as long as this process leads.
            await connection.commit()
        except Exception:
            log.exception("the leader lock could not be sought")
            await connection.invalidate()
            await connection.close()
            return False
        if got:
            self._connection = connection
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            await connection.commit()
            await connection.close()
        except Exception:
            log.exception("the leader lock could not be released; closing its connection frees it")
            await connection.invalidate()
            await connection.close()

    async def abandon(self) -> None:
        """Drops the connection without unlocking: the server frees the lock when the session ends."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()


def leader_lock(db: Database, holder: str, *, clock: Clock, lease: timedelta, renew_within: timedelta) -> LeaderLock:
    """The advisory lock on PostgreSQL, the lease elsewhere."""
    if db.engine.dialect.name == "postgresql":
        return AdvisoryLock(db)
    return LeaseLock(db, holder, clock=clock, lease=lease, renew_within=renew_within)


@contextlib.asynccontextmanager
async def startup_lock(db: Database) -> AsyncIterator[None]:
    """Holds back other processes' start-up (migration, department sync) until this one is done.

    PostgreSQL: an advisory lock on a connection of its own. SQLite: an exclusive lock on a file next
    to the database (SQLite lives on one machine, so a file lock reaches every process using it).
    """
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK_KEY})
            await connection.commit()
            try:
                yield
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK_KEY})
                await connection.commit()
        return
    path = _sqlite_file(db)
    if path is None:
        yield
        return
    with open(f"{path}.startup-lock", "a+b") as lock_file:
        await asyncio.to_thread(fcntl.flock, lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def _sqlite_file(db: Database) -> Path | None:
    database = db.engine.url.database
    if db.engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)
