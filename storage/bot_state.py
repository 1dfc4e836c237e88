"""The ``bot_state`` table (conversation states and user_data) as the persistence reads and writes it.

Every update reads here before it is handled and writes after it, so this is the hottest SQL of
the bot. Two stores give the persistence the same three operations (the rows of some keys, all
rows of a namespace, one write transaction):

- `CoreStateStore`: SQLAlchemy Core on the engine's pool, for any database (PostgreSQL).
- `SqliteStateStore`: SQLite's own driver in a thread of its own, for a SQLite file. A read is one
  hand-off to that thread and a write, its whole transaction included, another. Through
  SQLAlchemy's async engine the same short statements cost about three times the CPU (the pool,
  the greenlet and the result machinery around each), spent in the one thread that serves every
  resident. It stores rows exactly as SQLAlchemy does (the value as JSON text, the time as naive
  UTC ``YYYY-MM-DD HH:MM:SS.ffffff``), so either side reads what the other wrote.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import bindparam, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.models import BotStateRow

Pair = tuple[str, str]  # (namespace, key)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000  # as the engine's connections wait for another writer (storage/database.py)


class StateRow(NamedTuple):
    namespace: str
    key: str
    value: Any
    updated_at: datetime


class StateStore(Protocol):
    async def rows(self, pairs: Iterable[Pair]) -> Mapping[Pair, StateRow]:
        """The rows of these (namespace, key) pairs that exist, in one query."""

    async def all_in(self, namespace: str) -> Mapping[str, StateRow]:
        """Every row of the namespace, by key."""

    async def write(self, puts: Mapping[Pair, Any], removals: Iterable[Pair], now: datetime) -> None:
        """Upserts `puts` (stamped `now`) and deletes `removals`, in one transaction."""

    async def close(self) -> None:
        """Lets go of connections; the store opens them again when next used."""


class BotStateRepository:
    """The SQL of the ``bot_state`` table on a SQLAlchemy connection, within its transaction.

    SQLAlchemy Core on a plain connection, not an ORM session: the session's unit-of-work machinery
    cost about as much CPU as the SQL itself while buying nothing for rows that are only ever read
    and upserted whole. The statements are built once, with the pairs as an expanding parameter:
    built anew for every update (a tuple IN over a VALUES list), they cost more CPU than running them.
    """

    table = BotStateRow.__table__  # type: ignore[attr-defined]
    _pairs = tuple_(table.c.namespace, table.c.key).in_(bindparam("pairs", expanding=True))
    _rows_of_pairs = select(table).where(_pairs)
    _delete_pairs = delete(table).where(_pairs)
    _upserts: dict[str, Any] = {}

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def all_in(self, namespace: str) -> dict[str, StateRow]:
        rows = await self.connection.execute(select(self.table).where(self.table.c.namespace == namespace))
        return {row.key: StateRow(*row) for row in rows}

    async def rows(self, pairs: Iterable[Pair]) -> dict[Pair, StateRow]:
        wanted = list(pairs)
        if not wanted:
            return {}
        rows = await self.connection.execute(self._rows_of_pairs, {"pairs": wanted})
        return {(row.namespace, row.key): StateRow(*row) for row in rows}

    async def put_all(self, values: Mapping[Pair, Any], now: datetime) -> None:
        """Inserts or replaces the rows in one statement, so two processes cannot both insert one."""
        if not values:
            return
        rows = [
            {"namespace": namespace, "key": key, "value": value, "updated_at": now}
            for (namespace, key), value in values.items()
        ]
        await self.connection.execute(self._upsert(self.connection.dialect.name), rows)

    @classmethod
    def _upsert(cls, dialect_name: str) -> Any:
        if dialect_name not in cls._upserts:
            insert = (sqlite if dialect_name == "sqlite" else postgresql).insert(cls.table)
            cls._upserts[dialect_name] = insert.on_conflict_do_update(
                index_elements=["namespace", "key"],
                set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at},
            )
        return cls._upserts[dialect_name]

    async def remove_all(self, pairs: Iterable[Pair]) -> None:
        wanted = list(pairs)
        if wanted:
            await self.connection.execute(self._delete_pairs, {"pairs": wanted})


class CoreStateStore:
    """bot_state through SQLAlchemy Core on the engine's pool (any database)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def rows(self, pairs: Iterable[Pair]) -> dict[Pair, StateRow]:
        async with self._engine.connect() as connection:
            return await BotStateRepository(connection).rows(pairs)

    async def all_in(self, namespace: str) -> dict[str, StateRow]:
        async with self._engine.connect() as connection:
            return await BotStateRepository(connection).all_in(namespace)

    async def write(self, puts: Mapping[Pair, Any], removals: Iterable[Pair], now: datetime) -> None:
        async with self._engine.begin() as connection:  # commits at the end of the block
            repository = BotStateRepository(connection)
            await repository.put_all(puts, now)
            await repository.remove_all(removals)

    async def close(self) -> None:
        return None  # the engine's pool is the Database's to dispose of


_COLUMNS = "namespace, key, value, updated_at"
_UPSERT = (
    f"INSERT INTO bot_state ({_COLUMNS}) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
_DELETE = "DELETE FROM bot_state WHERE namespace = ? AND key = ?"
_ALL_IN = f"SELECT {_COLUMNS} FROM bot_state WHERE namespace = ?"


def _rows_of(count: int) -> str:
    return f"SELECT {_COLUMNS} FROM bot_state WHERE (namespace, key) IN (VALUES {', '.join(['(?, ?)'] * count)})"


def _stored_moment(moment: datetime) -> str:
    """As SQLAlchemy's DateTime stores a moment in SQLite (the UTCDateTime column: naive UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _state_row(row: tuple[str, str, str | int | float, str]) -> StateRow:
    namespace, key, value, updated_at = row
    # The column's declared type (JSON) gives it numeric affinity: SQLite keeps the JSON of a bare
    # number (a conversation's state, say) as that number.
    loaded = json.loads(value) if isinstance(value, str) else value
    return StateRow(namespace, key, loaded, datetime.fromisoformat(updated_at).replace(tzinfo=UTC))


class _SqliteConnection:
    """One sqlite3 connection and the one thread that uses it."""

    def __init__(self, path: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bot_state")
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            # Autocommit: a write says BEGIN IMMEDIATE itself, so it queues for SQLite's write lock
            # at its start instead of failing to upgrade a read lock halfway.
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._connection = connection
        return self._connection

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, lambda: work(self._open()))

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)


class SqliteStateStore:
    """bot_state in a SQLite file through sqlite3 itself (see the module doc): one hand-off a read,
    one a write. Reads and writes have a connection each, so a commit's fsync never holds up a read."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._reader: _SqliteConnection | None = None
        self._writer: _SqliteConnection | None = None
        self.commits = 0  # write transactions committed: SQLAlchemy's engine events never see them

    def _connections(self) -> tuple[_SqliteConnection, _SqliteConnection]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = _SqliteConnection(self._path), _SqliteConnection(self._path)
        return self._reader, self._writer

    async def rows(self, pairs: Iterable[Pair]) -> dict[Pair, StateRow]:
        wanted = list(pairs)
        if not wanted:
            return {}
        rows = await self._read(_rows_of(len(wanted)), [part for pair in wanted for part in pair])
        return {(row.namespace, row.key): row for row in rows}

    async def all_in(self, namespace: str) -> dict[str, StateRow]:
        return {row.key: row for row in await self._read(_ALL_IN, [namespace])}

    async def _read(self, query: str, parameters: list[str]) -> list[StateRow]:
        reader, _ = self._connections()
        rows = await reader.run(lambda connection: connection.execute(query, parameters).fetchall())
        return [_state_row(row) for row in rows]

    async def write(self, puts: Mapping[Pair, Any], removals: Iterable[Pair], now: datetime) -> None:
        moment = _stored_moment(now)
        upserts = [(namespace, key, json.dumps(value), moment) for (namespace, key), value in puts.items()]
        deletions = list(removals)
        if not upserts and not deletions:
            return

        def transaction(connection: sqlite3.Connection) -> None:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(_UPSERT, upserts)
                connection.executemany(_DELETE, deletions)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

        _, writer = self._connections()
        await writer.run(transaction)
        self.commits += 1

    async def close(self) -> None:
        reader, writer, self._reader, self._writer = self._reader, self._writer, None, None
        for connection in (reader, writer):
            if connection is not None:
                await connection.close()
