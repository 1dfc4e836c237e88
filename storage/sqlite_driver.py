"""aiosqlite as SQLAlchemy drives it, with one trip to aiosqlite's thread per statement.

aiosqlite runs each SQLite call in its own thread and hands the result back to the event loop.
SQLAlchemy's adapter makes four such trips for one statement (open a cursor, execute, fetch the
rows, close the cursor), and each trip costs the event loop about as much CPU as a simple statement
costs SQLite. Here a statement is one trip: the thread opens the cursor, executes, fetches every
row and closes the cursor, and the adapter keeps what it needs (rows, description, row count, last
row id). The result is the same as before, because the adapter fetched every row up front anyway.

Only the plain (buffered) cursor changes, and a rollback is not sent when SQLite has no transaction
open. Server-side cursors, commit, and everything else are SQLAlchemy's own.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement, rows and cursor's close are one trip to aiosqlite's thread."""

    __slots__ = ("_arraysize", "_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # Deliberately not the parent's __init__: it opens the driver's cursor, a trip of its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}
        self._rows = collections.deque()
        self._arraysize = 1
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int | None:  # type: ignore[override]
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            await_(self._connection._execute(self._run, sqlite3.Cursor.execute, operation, parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        return self

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            await_(self._connection._execute(self._run, sqlite3.Cursor.executemany, operation, seq_of_parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        return self

    def _run(self, method: Any, operation: Any, parameters: Any) -> None:
        """In aiosqlite's thread: the whole statement, from opening a cursor to closing it."""
        cursor = self._connection._conn.cursor()
        try:
            if parameters is None:
                method(cursor, operation)
            else:
                method(cursor, operation, parameters)
            self._description = cursor.description
            self._rows = collections.deque(cursor.fetchall() if cursor.description else ())
            self._rowcount = cursor.rowcount
            self._lastrowid = cursor.lastrowid
        finally:
            cursor.close()

    async def _async_soft_close(self) -> None:
        """Nothing to do: the driver's cursor was closed in the trip that ran the statement."""

    def close(self) -> None:
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor

    def rollback(self) -> None:
        """Sends a ROLLBACK to aiosqlite's thread only when SQLite has a transaction open.

        SQLAlchemy rolls back each connection it gives back to the pool: after every read, and again
        after every commit. Python's sqlite3 itself does nothing on a rollback outside a transaction
        (it checks sqlite3_get_autocommit first); asking the same question here, before the request
        crosses threads, saves two or three of those crossings per update and changes nothing else:
        a transaction that is open is rolled back exactly as before.
        """
        try:
            open_transaction = self._connection.in_transaction
        except Exception:  # a connection already closed or broken: let the rollback say so
            open_transaction = True
        if open_transaction:
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy's aiosqlite dialect is given (``create_engine(module=...)``)."""

    def __init__(self) -> None:
        import aiosqlite

        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)
