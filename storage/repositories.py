"""Repositories: the only place that writes SQL. Each wraps the unit of work's session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
import heapq
import itertools
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Date, Row, bindparam, case, cast, delete, func, insert, literal, null, or_, text, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    AppraisalRow,
    AttachmentRow,
    CorrectionRow,
    DepartmentGroupRow,
    DepartmentRow,
    ExtensionRequestRow,
    InviteRow,
    OfficerRow,
    OutboxRow,
    ReminderRow,
    ResidentRow,
    TicketCounterRow,
    TicketEventRow,
    TicketRow,
    WebSessionRow,
    WebUserRow,
)

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
UNDELIVERABLE = "undeliverable"


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


async def _insert_values(session: AsyncSession, table: Any, values: list[dict[str, Any]]) -> None:
    """Inserts rows given as column values (each dict with the same columns) in one executemany on
    the session's connection, within its transaction.

    SQLAlchemy Core, not the ORM: the ORM inserts such rows one statement each (it reads back every
    id, and SQLite cannot return the ids of a many-row INSERT in a promised order), and building ORM
    rows only to read them back into values cost more than the INSERT. The rows get no id in Python;
    use this only for rows nobody needs the id of.
    """
    if values:
        connection = await session.connection()
        await connection.execute(insert(table), values)


def _insert_for(session: AsyncSession) -> Any:
    """The INSERT of the session's database, which has ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    return {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[session.get_bind().dialect.name]


# Statements that a resident's ticket runs, built once with parameters: building a statement (and
# its ON CONFLICT clause) for every ticket cost about as much CPU as running it. The two upserts are
# Core statements on the table, run on the session's connection: through the ORM, an INSERT goes
# through its bulk-insert machinery, which cost more than the statement itself.
_BUILT: dict[tuple[str, str], Any] = {}


def _built_for(session: AsyncSession, name: str, build: Any) -> Any:
    """The statement `build(insert)` for the session's database, built the first time it is asked for."""
    dialect = session.get_bind().dialect.name
    if (name, dialect) not in _BUILT:
        _BUILT[(name, dialect)] = build(_insert_for(session))
    return _BUILT[(name, dialect)]


def _resident_upsert(insert: Any) -> Any:
    statement = insert(ResidentRow.__table__).values(
        telegram_user_id=bindparam("telegram_user_id"),
        chat_id=bindparam("chat_id"),
        locale=bindparam("locale"),
        created_at=bindparam("created_at"),
    )
    return statement.on_conflict_do_update(
        index_elements=[ResidentRow.telegram_user_id],
        set_={"chat_id": statement.excluded.chat_id, "locale": statement.excluded.locale},
    ).returning(*ResidentRow.__table__.c)


def _counter_step(insert: Any) -> Any:
    table = TicketCounterRow.__table__
    statement = insert(table).values(day=bindparam("day"), last=1)
    return statement.on_conflict_do_update(
        index_elements=[table.c.day], set_={"last": table.c.last + 1}
    ).returning(table.c.last)


def _ticket_once(insert: Any) -> Any:
    table = TicketRow.__table__
    columns = [column for column in table.c if column.name != "id"]
    statement = insert(table).values({column.name: bindparam(column.name) for column in columns})
    return statement.on_conflict_do_nothing(index_elements=[table.c.submission_key]).returning(table.c.id)


class DepartmentRepository(_Repository):
    async def sync(self, departments: dict[str, tuple[str, str]]) -> None:
        """Makes the table match the configured departments (code → (name, name_en))."""
        existing = {row.code: row for row in (await self.session.exec(select(DepartmentRow))).all()}
        for code, (name, name_en) in departments.items():
            row = existing.get(code) or DepartmentRow(code=code, name=name, name_en=name_en)
            row.name, row.name_en = name, name_en
            self.session.add(row)

    async def get(self, code: str) -> DepartmentRow | None:
        return await self.session.get(DepartmentRow, code)


class ResidentRepository(_Repository):
    async def by_telegram_id(self, telegram_user_id: int) -> ResidentRow | None:
        query = select(ResidentRow).where(ResidentRow.telegram_user_id == telegram_user_id)
        return (await self.session.exec(query)).first()

    async def get(self, resident_id: int) -> ResidentRow | None:
        return await self.session.get(ResidentRow, resident_id)

    async def upsert(self, telegram_user_id: int, chat_id: int, locale: str, now: datetime) -> ResidentRow:
        """The resident, created or brought up to date in one statement (two first items cannot both create it)."""
        statement = _built_for(self.session, "resident_upsert", _resident_upsert)
        connection = await self.session.connection()
        params = {"telegram_user_id": telegram_user_id, "chat_id": chat_id, "locale": locale, "created_at": now}
        # RETURNING the whole row gives the resident back from the same statement, not from a second
        # SELECT. The row is not in the session: changing it changes nothing stored.
        row = (await connection.execute(statement, params)).one()
        return ResidentRow(**row._mapping)


class CardReaderRow(NamedTuple):
    officer_id: int | None  # None: a department's group
    chat_id: int
    role: str | None
    locale: str | None


class OfficerRepository(_Repository):
    async def by_telegram_id(self, telegram_user_id: int) -> OfficerRow | None:
        query = select(OfficerRow).where(OfficerRow.telegram_user_id == telegram_user_id)
        return (await self.session.exec(query)).first()

    async def get(self, officer_id: int) -> OfficerRow | None:
        return await self.session.get(OfficerRow, officer_id)

    _active_in = (
        select(OfficerRow)
        .where(OfficerRow.department_code == bindparam("department_code"), col(OfficerRow.active).is_(True))
        .order_by(col(OfficerRow.id))
    )

    async def active_in(self, department_code: str) -> Sequence[OfficerRow]:
        return (await self.session.exec(self._active_in, params={"department_code": department_code})).all()

    _officers, _groups = OfficerRow.__table__, DepartmentGroupRow.__table__  # type: ignore[attr-defined]
    _card_readers_in = union_all(
        select(  # type: ignore[call-overload]
            literal(0).label("rank"), _officers.c.id.label("officer_id"), _officers.c.chat_id,
            _officers.c.role, _officers.c.locale, null().label("bound_at"),
        ).where(_officers.c.department_code == bindparam("department_code"), _officers.c.active.is_(True)),
        select(  # type: ignore[call-overload]
            literal(1), null(), _groups.c.chat_id, null(), null(), _groups.c.bound_at,
        ).where(_groups.c.department_code == bindparam("department_code")),
    ).order_by("rank", "officer_id", "bound_at", "chat_id")

    async def card_readers_in(self, department_code: str) -> list[CardReaderRow]:
        """Who gets the department's task cards, in one query: its active officers (by id), then its
        groups (in the order they were bound); a group's row has no officer, role or locale."""
        connection = await self.session.connection()
        rows = await connection.execute(self._card_readers_in, {"department_code": department_code})
        return [CardReaderRow(officer_id, chat_id, role, locale) for _, officer_id, chat_id, role, locale, _ in rows]

    async def by_chat_id(self, chat_id: int) -> OfficerRow | None:
        return (await self.session.exec(select(OfficerRow).where(OfficerRow.chat_id == chat_id))).first()

    async def all(self) -> Sequence[OfficerRow]:
        return (await self.session.exec(select(OfficerRow).order_by(col(OfficerRow.id)))).all()

    async def active_with_role(self, role: str) -> Sequence[OfficerRow]:
        query = (
            select(OfficerRow)
            .where(OfficerRow.role == role, col(OfficerRow.active).is_(True))
            .order_by(col(OfficerRow.id))
        )
        return (await self.session.exec(query)).all()

    async def add(self, officer: OfficerRow) -> OfficerRow:
        self.session.add(officer)
        await self.session.flush()
        return officer


class InviteRepository(_Repository):
    async def add(self, invite: InviteRow) -> None:
        self.session.add(invite)
        await self.session.flush()

    async def by_hash(self, code_hash: str) -> InviteRow | None:
        return (await self.session.exec(select(InviteRow).where(InviteRow.code_hash == code_hash))).first()

    async def consume(self, invite_id: int, officer_id: int, now: datetime) -> bool:
        """Marks the invite used, unless another registration got there first."""
        result = await self.session.exec(
            update(InviteRow)
            .where(col(InviteRow.id) == invite_id, col(InviteRow.used_at).is_(None))
            .values(used_at=now, used_by_officer_id=officer_id)
        )
        return result.rowcount == 1


class TicketRepository(_Repository):
    async def next_sequence(self, local_day: str) -> int:
        """Hands out the day's next sequence number inside the current transaction.

        One statement creates the day's counter or counts it up. Reading it first and inserting it
        when missing let two tickets submitted at the same moment of a new day both insert it, and
        one of them failed; now the second waits for the first's commit and takes the next number.
        """
        connection = await self.session.connection()
        statement = _built_for(self.session, "counter_step", _counter_step)
        return (await connection.execute(statement, {"day": local_day})).scalar_one()

    async def add(self, ticket: TicketRow) -> TicketRow:
        self.session.add(ticket)
        await self.session.flush()
        return ticket

    async def add_once(self, ticket: TicketRow) -> TicketRow | None:
        """Inserts a new ticket and gives it its id; None, inserting nothing, when a ticket with the
        same submission key exists (the same draft was submitted before).

        One Core statement: the unique key decides, in the database, even between two workers
        submitting at the same moment. The ticket is not added to the session; changing it
        afterwards changes nothing stored.
        """
        statement = _built_for(self.session, "ticket_once", _ticket_once)
        connection = await self.session.connection()
        ticket_id = (await connection.execute(statement, ticket.model_dump(exclude={"id"}))).scalar_one_or_none()
        if ticket_id is None:
            return None
        ticket.id = ticket_id
        return ticket

    async def get(self, ticket_id: int) -> TicketRow | None:
        return await self.session.get(TicketRow, ticket_id)

    async def get_many(self, ticket_ids: Iterable[int]) -> dict[int, TicketRow]:
        query = select(TicketRow).where(col(TicketRow.id).in_(list(set(ticket_ids))))
        return {ticket.id or 0: ticket for ticket in (await self.session.exec(query)).all()}

    async def by_number(self, number: str) -> TicketRow | None:
        return (await self.session.exec(select(TicketRow).where(TicketRow.number == number))).first()

    _by_submission_key = select(TicketRow).where(TicketRow.submission_key == bindparam("key"))

    async def by_submission_key(self, key: str) -> TicketRow | None:
        return (await self.session.exec(self._by_submission_key, params={"key": key})).first()

    async def move(self, ticket_id: int, expected_state: str, **values: Any) -> bool:
        """Changes the ticket only if it is still in `expected_state` (so a race has one winner)."""
        result = await self.session.exec(
            update(TicketRow)
            .where(col(TicketRow.id) == ticket_id, col(TicketRow.state) == expected_state)
            .values(**values)
        )
        if result.rowcount != 1:
            return False
        ticket = await self.session.get(TicketRow, ticket_id)
        if ticket is not None:
            await self.session.refresh(ticket)
        return True

    async def count(self) -> int:
        return (await self.session.exec(select(func.count()).select_from(TicketRow))).one()

    async def open_in_department(self, states: Iterable[str], department_code: str, limit: int = 50) -> Sequence[TicketRow]:
        query = (
            select(TicketRow)
            .where(col(TicketRow.state).in_(list(states)), TicketRow.department_code == department_code)
            # Many tickets share a deadline (the end of a working day); the id keeps them in arrival order.
            .order_by(col(TicketRow.deadline_at), col(TicketRow.id))
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def of_resident(self, resident_id: int, *, states: Iterable[str] | None = None, limit: int = 50) -> Sequence[TicketRow]:
        """A resident's tickets (optionally only in `states`), newest first."""
        query = select(TicketRow).where(TicketRow.resident_id == resident_id)
        if states is not None:
            query = query.where(col(TicketRow.state).in_(list(states)))
        return (await self.session.exec(query.order_by(col(TicketRow.id).desc()).limit(limit))).all()

    # Only what the duplicate check reads, as plain rows through Core: it runs before every new
    # ticket, and loading whole tickets through the ORM cost several times the query.
    _tickets = TicketRow.__table__.c  # type: ignore[attr-defined]
    _residents = ResidentRow.__table__.c  # type: ignore[attr-defined]
    _texts_of_telegram_user = (
        select(_tickets.number, _tickets.text, _tickets.submission_key)
        .join_from(TicketRow.__table__, ResidentRow.__table__, _residents.id == _tickets.resident_id)  # type: ignore[attr-defined]
        .where(
            _residents.telegram_user_id == bindparam("telegram_user_id"),
            _tickets.state.in_(bindparam("states", expanding=True)),
        )
        .order_by(_tickets.id.desc())
        .limit(bindparam("limit"))
    )

    async def texts_of_telegram_user(self, telegram_user_id: int, *, states: Iterable[str], limit: int = 50) -> Sequence[Row[Any]]:
        """Number, text and submission key of the tickets in `states` of the resident with this
        Telegram id, newest first (one query, no look-up of the resident first)."""
        params = {"telegram_user_id": telegram_user_id, "states": list(states), "limit": limit}
        connection = await self.session.connection()
        return (await connection.execute(self._texts_of_telegram_user, params)).all()

    async def count_received(self, start: datetime, end: datetime) -> int:
        query = select(func.count()).where(col(TicketRow.received_at) >= start, col(TicketRow.received_at) < end)
        return (await self.session.exec(query)).one()

    async def open_due_before(self, states: Iterable[str], moment: datetime, limit: int = 50) -> Sequence[TicketRow]:
        """Open tickets whose deadline is before `moment`, most overdue first."""
        query = (
            select(TicketRow)
            .where(col(TicketRow.state).in_(list(states)), col(TicketRow.deadline_at) < moment)
            .order_by(col(TicketRow.deadline_at), col(TicketRow.id))
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def count_open_due_between(self, states: Iterable[str], start: datetime, end: datetime) -> int:
        query = select(func.count()).where(
            col(TicketRow.state).in_(list(states)), col(TicketRow.deadline_at) >= start, col(TicketRow.deadline_at) < end
        )
        return (await self.session.exec(query)).one()

    async def count_open(self, states: Iterable[str]) -> int:
        query = select(func.count()).where(col(TicketRow.state).in_(list(states)))
        return (await self.session.exec(query)).one()

    async def by_numbers(self, numbers: Iterable[str]) -> Sequence[TicketRow]:
        query = select(TicketRow).where(col(TicketRow.number).in_(list(set(numbers))))
        return (await self.session.exec(query.order_by(col(TicketRow.id)))).all()

    async def received_between(
        self,
        start: datetime,
        end: datetime,
        *,
        kinds: Iterable[str] | None = None,
        states: Iterable[str] | None = None,
        excluding_categories: Iterable[str] = (),
        excluding_departments: Iterable[str] = (),
        limit: int = 1000,
    ) -> Sequence[TicketRow]:
        """Tickets received in [start, end], newest first, optionally narrowed by kind and state."""
        query = select(TicketRow).where(col(TicketRow.received_at) >= start, col(TicketRow.received_at) <= end)
        if kinds is not None:
            query = query.where(col(TicketRow.kind).in_(list(kinds)))
        if states is not None:
            query = query.where(col(TicketRow.state).in_(list(states)))
        if excluded := list(excluding_categories):
            query = query.where(col(TicketRow.category).not_in(excluded))
        if excluded := list(excluding_departments):
            query = query.where(col(TicketRow.department_code).not_in(excluded))
        query = query.order_by(col(TicketRow.received_at).desc(), col(TicketRow.id).desc()).limit(limit)
        return (await self.session.exec(query)).all()

    async def survey_results_between(self, start: datetime, end: datetime) -> dict[str, int]:
        query = (
            select(TicketRow.survey_result, func.count())
            .where(col(TicketRow.surveyed_at) >= start, col(TicketRow.surveyed_at) < end)
            .group_by(TicketRow.survey_result)
        )
        return {result: count for result, count in (await self.session.exec(query)).all() if result}


    async def figure_groups(
        self, start: datetime, end: datetime, now: datetime, utc_offset: timedelta, scope: TicketScope
    ) -> AsyncIterator[Any]:
        """Tickets received or due in [start, end), grouped by everything the figures look at, with a count.

        Each row: department, category, source, unit, void, received in the period, local day of receipt,
        local day of closing, survey result, due in the period, deadline passed by `now`, closed on time,
        tickets. Only comparisons happen here; what counts is decided by domain/statistics.py. Two range
        scans (over the received_at and deadline_at indexes) keep a million tickets fast.
        """
        received, deadline, closed = col(TicketRow.received_at), col(TicketRow.deadline_at), col(TicketRow.closed_at)

        def flag(condition: Any) -> Any:
            return case((condition, 1), else_=0)

        keys = (
            TicketRow.department_code, TicketRow.category, TicketRow.source, TicketRow.unit_code,
            flag(TicketRow.state == "void"), flag((received >= start) & (received < end)),
            self._local_day(received, utc_offset), self._local_day(closed, utc_offset), TicketRow.survey_result,
            flag((deadline >= start) & (deadline < end)), flag(deadline <= now), flag(closed <= deadline),
        )
        for where in (
            ((received >= start) & (received < end)),
            ((deadline >= start) & (deadline < end) & or_(received < start, received >= end)),
        ):
            query = scope.narrow(select(*keys, func.count()).where(where)).group_by(*keys)
            for row in (await self.session.exec(query)).all():
                yield row

    def _local_day(self, moment: Any, utc_offset: timedelta) -> Any:
        """The local calendar day of a stored UTC moment, in SQL (a fixed offset: China keeps no summer time)."""
        if self.session.get_bind().dialect.name == "sqlite":
            return func.date(moment, f"{int(utc_offset.total_seconds() // 60):+d} minutes")
        return cast(moment + utc_offset, Date)

    async def count_ledger(self, start: datetime | None, end: datetime | None, scope: TicketScope) -> int:
        query = scope.narrow(_received_between(select(func.count()).select_from(TicketRow), start, end))
        return (await self.session.exec(query.where(TicketRow.state != "void"))).one()

    async def ledger_chunks(
        self, start: datetime | None, end: datetime | None, scope: TicketScope, chunk: int = 2000
    ) -> AsyncIterator[Sequence[Any]]:
        """Ledger lines in ticket order, `chunk` at a time (keyset pagination: memory stays flat).

        Each line: id, number, received_at, source, category, department_code, the responsible
        officer's name, text, result, deadline_at, closed_at, state, survey_result. No resident data.
        """
        after = 0
        while True:
            query = (
                select(
                    TicketRow.id, TicketRow.number, TicketRow.received_at, TicketRow.source, TicketRow.category,
                    TicketRow.department_code, OfficerRow.display_name, TicketRow.text, TicketRow.result,
                    TicketRow.deadline_at, TicketRow.closed_at, TicketRow.state, TicketRow.survey_result,
                )
                .outerjoin(OfficerRow, col(OfficerRow.id) == col(TicketRow.responsible_officer_id))
                .where(col(TicketRow.id) > after, TicketRow.state != "void")
                .order_by(col(TicketRow.id))
                .limit(chunk)
            )
            rows = (await self.session.exec(scope.narrow(_received_between(query, start, end)))).all()
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    async def search(
        self, found: TicketFilter, scope: TicketScope, *, offset: int, limit: int, most_overdue_first: bool = False
    ) -> Sequence[TicketRow]:
        """A page of the tickets matching `found` in `scope`: newest first, or earliest deadline first."""
        if most_overdue_first and found.states is not None:
            # One ordered walk of the (state, deadline) index per state, merged: no sort of every open ticket.
            walks = []
            for state in found.states:
                query = scope.narrow(replace(found, states=(state,)).narrow(select(TicketRow)))
                query = query.order_by(col(TicketRow.deadline_at), col(TicketRow.id)).limit(offset + limit)
                walks.append((await self.session.exec(query)).all())
            merged = heapq.merge(*walks, key=lambda row: (row.deadline_at, row.id))
            return list(itertools.islice(merged, offset, offset + limit))
        query = scope.narrow(found.narrow(select(TicketRow)))
        order = (col(TicketRow.received_at).desc(), col(TicketRow.id).desc())
        return (await self.session.exec(query.order_by(*order).offset(offset).limit(limit))).all()

    async def count_matching(self, found: TicketFilter, scope: TicketScope, *, up_to: int | None = None) -> int:
        """How many tickets match; with `up_to`, counting stops there (a list says "10,000+", not a full scan)."""
        if up_to is None:
            return (await self.session.exec(scope.narrow(found.narrow(select(func.count()).select_from(TicketRow))))).one()
        matching = scope.narrow(found.narrow(select(TicketRow.id))).limit(up_to).subquery()
        return (await self.session.exec(select(func.count()).select_from(matching))).one()

    async def in_scope(self, number: str, scope: TicketScope) -> TicketRow | None:
        """The ticket numbered `number` if `scope` may see it."""
        return (await self.session.exec(scope.narrow(select(TicketRow).where(TicketRow.number == number)))).first()

    async def count_per_day(
        self, column: str, start: datetime, end: datetime, utc_offset: timedelta, scope: TicketScope
    ) -> dict[str, int]:
        """Tickets in `scope` whose `column` (received_at or closed_at) falls in [start, end), per local day (ISO)."""
        moment = col(getattr(TicketRow, column))
        day = self._local_day(moment, utc_offset)
        query = select(day, func.count()).where(moment >= start, moment < end).group_by(day)
        return {str(found): count for found, count in (await self.session.exec(scope.narrow(query))).all()}


# What a ticket number looks like as someone types it: "KM-2026", "km-20261102-0001".
NUMBER_PREFIX = re.compile(r"[A-Za-z]{1,4}-[0-9-]*")


@dataclass(frozen=True)
class TicketFilter:
    """What the dashboard's ticket list is narrowed to; None means any."""

    states: tuple[str, ...] | None = None
    department: str | None = None
    category: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    # Matches the ticket number or a part of the text.
    text: str | None = None
    # Open tickets whose deadline passed before this moment.
    overdue_at: datetime | None = None

    def narrow(self, query: Any) -> Any:
        if self.states is not None:
            query = query.where(col(TicketRow.state).in_(list(self.states)))
        if self.department is not None:
            query = query.where(TicketRow.department_code == self.department)
        if self.category is not None:
            query = query.where(TicketRow.category == self.category)
        if self.overdue_at is not None:
            query = query.where(col(TicketRow.deadline_at) < self.overdue_at)
        if self.text and NUMBER_PREFIX.fullmatch(self.text):
            # A ticket number, or its beginning: a range over the numbers' unique index.
            prefix = self.text.upper()
            query = query.where(col(TicketRow.number) >= prefix, col(TicketRow.number) < prefix + "\uffff")
        elif self.text:
            pattern = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            # ILIKE: SQLite's LIKE ignores the case of Latin letters, PostgreSQL's does not ("App", "QQ").
            query = query.where(
                or_(col(TicketRow.number).ilike(pattern, escape="\\"), col(TicketRow.text).ilike(pattern, escape="\\"))
            )
        return _received_between(query, self.start, self.end)


@dataclass(frozen=True)
class TicketScope:
    """Which tickets a reader's figures and ledger include: all, or some departments; discipline or not."""

    departments: tuple[str, ...] | None = None
    include_discipline: bool = True
    discipline_department: str = "discipline"
    # A discipline report naming this unit is never shown to it.
    hidden_from: str | None = None

    def narrow(self, query: Any) -> Any:
        if self.departments is not None:
            query = query.where(col(TicketRow.department_code).in_(list(self.departments)))
        if not self.include_discipline:
            query = query.where(TicketRow.category != "discipline", TicketRow.department_code != self.discipline_department)
        if self.hidden_from is not None:
            query = query.where(
                or_(TicketRow.category != "discipline", col(TicketRow.named_unit).is_(None), TicketRow.named_unit != self.hidden_from)
            )
        return query


def _received_between(query: Any, start: datetime | None, end: datetime | None) -> Any:
    if start is not None:
        query = query.where(col(TicketRow.received_at) >= start)
    if end is not None:
        query = query.where(col(TicketRow.received_at) < end)
    return query


class NewEvent(NamedTuple):
    """A system's or resident's event for `EventRepository.append_all`."""

    actor: str
    action: str
    note: str | None
    public: bool


class EventRepository(_Repository):
    """Append-only: events are never changed or deleted."""

    async def count_between(self, action: str, start: datetime, end: datetime) -> int:
        query = select(func.count()).where(
            TicketEventRow.action == action, col(TicketEventRow.at) >= start, col(TicketEventRow.at) < end
        )
        return (await self.session.exec(query)).one()

    async def append(self, event: TicketEventRow, *, flush: bool = True) -> None:
        """Adds the event; flush=False leaves the INSERT to the commit when nobody needs its id."""
        self.session.add(event)
        if flush:
            await self.session.flush()

    async def append_all(self, ticket_id: int, at: datetime, events: Iterable[NewEvent]) -> None:
        """Adds the ticket's events of one moment in one statement, for events whose ids nobody needs
        (a new ticket's three events cost one round trip instead of the ORM's three)."""
        values = [
            {"ticket_id": ticket_id, "at": at, "actor_officer_id": None, **event._asdict()} for event in events
        ]
        await _insert_values(self.session, TicketEventRow.__table__, values)  # type: ignore[attr-defined]

    async def last_times(self, ticket_ids: Iterable[int]) -> dict[int, datetime]:
        """When each ticket last had an event (ticket id → moment)."""
        query = (
            select(TicketEventRow.ticket_id, func.max(TicketEventRow.at))
            .where(col(TicketEventRow.ticket_id).in_(list(set(ticket_ids))))
            .group_by(TicketEventRow.ticket_id)
        )
        return {ticket_id: moment for ticket_id, moment in (await self.session.exec(query)).all()}

    async def timeline(self, ticket_id: int, *, public_only: bool = False) -> Sequence[TicketEventRow]:
        query = select(TicketEventRow).where(TicketEventRow.ticket_id == ticket_id)
        if public_only:
            query = query.where(col(TicketEventRow.public).is_(True))
        return (await self.session.exec(query.order_by(col(TicketEventRow.at), col(TicketEventRow.id)))).all()


class ReminderRepository(_Repository):
    async def count_due(self, now: datetime) -> int:
        query = select(func.count()).where(col(ReminderRow.done_at).is_(None), col(ReminderRow.due_at) <= now)
        return (await self.session.exec(query)).one()

    async def add_all(self, ticket_id: int, due: Iterable[tuple[str, datetime]]) -> None:
        """Adds the ticket's reminders, each (kind, when), in one statement (nobody needs their ids;
        the scheduler selects them). Plain values, not ReminderRows: building ORM rows only to
        read them back into values cost more than the INSERT."""
        values = [{"ticket_id": ticket_id, "kind": kind, "due_at": at, "done_at": None} for kind, at in due]
        await _insert_values(self.session, ReminderRow.__table__, values)  # type: ignore[attr-defined]

    async def due(self, now: datetime, limit: int = 500) -> Sequence[ReminderRow]:
        query = (
            select(ReminderRow)
            .where(col(ReminderRow.done_at).is_(None), col(ReminderRow.due_at) <= now)
            .order_by(col(ReminderRow.due_at), col(ReminderRow.id))
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def finish(self, reminder_ids: Sequence[int], now: datetime) -> set[int]:
        """Marks reminders done unless another sweep already did; returns those this call finished."""
        result = await self.session.exec(
            update(ReminderRow)
            .where(col(ReminderRow.id).in_(reminder_ids), col(ReminderRow.done_at).is_(None))
            .values(done_at=now)
            .returning(col(ReminderRow.id))
            .execution_options(synchronize_session=False)
        )
        return set(result.scalars().all())

    async def finish_all_for(self, ticket_id: int, now: datetime, kinds: Iterable[str] | None = None) -> None:
        """Finishes the ticket's pending reminders (of the given kinds only, when given)."""
        query = update(ReminderRow).where(col(ReminderRow.ticket_id) == ticket_id, col(ReminderRow.done_at).is_(None))
        if kinds is not None:
            query = query.where(col(ReminderRow.kind).in_(list(kinds)))
        await self.session.exec(query.values(done_at=now).execution_options(synchronize_session=False))


# A PostgreSQL advisory lock key (beside storage/coordination.py's, which are "opendoor" + 0 and + 1).
OUTBOX_LOCK_KEY = 0x6F70656E646F6F72 + 2
_SHARE_OUTBOX_LOCK = text("SELECT pg_advisory_xact_lock_shared(:key)").bindparams(key=OUTBOX_LOCK_KEY)
_TAKE_OUTBOX_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=OUTBOX_LOCK_KEY)


class OutboxRepository(_Repository):
    """The queue of outgoing Bot API calls.

    Its reader goes by row id: the dispatcher reads on after the highest id it has seen, and sends a
    chat's rows in id order. On PostgreSQL an id comes from a sequence when the row is inserted, not
    when it is committed, so the reader could see row 8 while row 7 is still uncommitted, read on past
    it, and send the chat's later rows (a card's next edit) before it. Hence the outbox lock, on
    PostgreSQL only: a transaction takes it shared before its first row (writers do not wait for each
    other), and the reader takes it exclusively for its read, so that every transaction that may hold a
    lower id has ended and a row inserted after the read gets a higher id than any the read returned.
    SQLite has one writer at a time: there, ids are committed in order.
    """

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._sharing: object = None  # the transaction that holds the outbox lock shared

    async def _share_the_lock(self) -> None:
        if self.session.get_bind().dialect.name != "postgresql":
            return
        connection = await self.session.connection()  # begins the transaction, if none is open
        transaction = self.session.sync_session.get_transaction()
        if transaction is not self._sharing:
            await connection.execute(_SHARE_OUTBOX_LOCK)
            self._sharing = transaction

    async def enqueue(self, row: OutboxRow) -> bool:
        """Adds a message unless one with the same key exists (each notice is sent once).

        ON CONFLICT DO NOTHING, not a look-up first: another worker may have queued the same key
        and not committed yet; its row is then waited for, and this insert does nothing.
        """
        await self._share_the_lock()
        insert = _insert_for(self.session)(OutboxRow).values(**row.model_dump(exclude={"id"}))
        statement = insert.on_conflict_do_nothing(index_elements=[OutboxRow.key]).returning(col(OutboxRow.id))
        return (await self.session.exec(statement)).scalar_one_or_none() is not None  # type: ignore[call-overload]

    async def backlog(self) -> dict[str, int]:
        """How many rows are in each state (pending is the dispatcher's backlog)."""
        query = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
        return {status: count for status, count in (await self.session.exec(query)).all()}

    async def has_key(self, key: str) -> bool:
        return (await self.session.exec(select(OutboxRow.id).where(OutboxRow.key == key))).first() is not None

    async def due(self, now: datetime, limit: int = 100) -> Sequence[OutboxRow]:
        query = (
            select(OutboxRow)
            .where(OutboxRow.status == PENDING, col(OutboxRow.next_attempt_at) <= now)
            .order_by(col(OutboxRow.id))
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    # Built once and run through Core: the dispatcher reads a page after every new ticket, and
    # building the SELECT, then running it through the ORM, cost several times the query.
    _outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    _pending_after = (
        select(_outbox)
        .where(_outbox.c.status == PENDING, _outbox.c.id > bindparam("after_id"))
        .order_by(_outbox.c.id)
        .limit(bindparam("limit"))
    )

    async def pending_after(self, after_id: int, limit: int = 200) -> list[OutboxRow]:
        """Pending rows with an id above `after_id`, in id order, due or not.

        The dispatcher pages through the queue with this. It must see a chat's rows that are not due
        yet as well: they keep that chat's later rows behind them, so a chat's messages never overtake.
        The rows are not in the session (the dispatcher changes rows by id). On PostgreSQL this holds the
        outbox lock until the unit of work ends (see the class): end it right after.
        """
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            await connection.execute(_TAKE_OUTBOX_LOCK)
        rows = await connection.execute(self._pending_after, {"after_id": after_id, "limit": limit})
        return [OutboxRow(**row._mapping) for row in rows]

    async def next_attempt_time(self) -> datetime | None:
        query = select(func.min(OutboxRow.next_attempt_at)).where(OutboxRow.status == PENDING)
        return (await self.session.exec(query)).one()

    async def by_sent_message(self, chat_id: int, telegram_message_id: int) -> OutboxRow | None:
        query = select(OutboxRow).where(
            OutboxRow.chat_id == chat_id, OutboxRow.telegram_message_id == telegram_message_id
        )
        return (await self.session.exec(query)).first()

    async def for_ticket(self, ticket_id: int, purpose: str) -> Sequence[OutboxRow]:
        query = (
            select(OutboxRow)
            .where(OutboxRow.ticket_id == ticket_id, OutboxRow.purpose == purpose)
            .order_by(col(OutboxRow.id))
        )
        return (await self.session.exec(query)).all()

    async def get(self, row_id: int) -> OutboxRow | None:
        return await self.session.get(OutboxRow, row_id)

    async def _settle(self, row_id: int, **values: Any) -> None:
        # Only a pending row: one recorded late (see Runtime.unrecorded_deliveries) may have been
        # settled meanwhile by another leader.
        await self.session.exec(
            update(OutboxRow)
            .where(col(OutboxRow.id) == row_id, col(OutboxRow.status) == PENDING)
            .values(attempts=col(OutboxRow.attempts) + 1, **values)
        )

    async def mark_sent(self, row_id: int, now: datetime, telegram_message_id: int | None) -> None:
        await self._settle(row_id, status=SENT, sent_at=now, telegram_message_id=telegram_message_id)

    async def mark_in_flight(self, row_id: int, until: datetime) -> bool:
        """Marks a pending row as being sent until `until` (not due before it, for anyone); False
        when it is no longer pending."""
        statement = (
            update(OutboxRow)
            .where(col(OutboxRow.id) == row_id, col(OutboxRow.status) == PENDING)
            .values(next_attempt_at=until)
        )
        return (await self.session.exec(statement)).rowcount == 1  # type: ignore[call-overload]

    async def retry_later(self, row_id: int, at: datetime, error: str) -> None:
        await self._settle(row_id, next_attempt_at=at, last_error=error)

    async def give_up(self, row_id: int, status: str, error: str) -> None:
        await self._settle(row_id, status=status, last_error=error)

    async def all(self) -> Sequence[OutboxRow]:
        return (await self.session.exec(select(OutboxRow).order_by(col(OutboxRow.id)))).all()


class GroupRepository(_Repository):
    async def get(self, chat_id: int) -> DepartmentGroupRow | None:
        return await self.session.get(DepartmentGroupRow, chat_id)

    async def bind(self, group: DepartmentGroupRow) -> None:
        """Binds the chat to the department (re-binding a chat moves it to the new department)."""
        await self.session.merge(group)
        await self.session.flush()


class CorrectionRepository(_Repository):
    async def add(self, correction: CorrectionRow) -> None:
        self.session.add(correction)
        await self.session.flush()

    async def all(self) -> Sequence[CorrectionRow]:
        return (await self.session.exec(select(CorrectionRow).order_by(col(CorrectionRow.id)))).all()


class ExtensionRepository(_Repository):
    async def add(self, request: ExtensionRequestRow) -> ExtensionRequestRow:
        self.session.add(request)
        await self.session.flush()
        return request

    async def get(self, request_id: int) -> ExtensionRequestRow | None:
        return await self.session.get(ExtensionRequestRow, request_id)

    async def pending_for(self, ticket_id: int) -> ExtensionRequestRow | None:
        query = select(ExtensionRequestRow).where(
            ExtensionRequestRow.ticket_id == ticket_id, ExtensionRequestRow.status == "pending"
        )
        return (await self.session.exec(query)).first()

    async def decide(self, request_id: int, status: str, officer_id: int, now: datetime) -> bool:
        """Records the decision unless someone decided first (two heads pressing at once)."""
        result = await self.session.exec(
            update(ExtensionRequestRow)
            .where(col(ExtensionRequestRow.id) == request_id, ExtensionRequestRow.status == "pending")
            .values(status=status, decided_by_officer_id=officer_id, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1


class AttachmentRepository(_Repository):
    async def add(self, attachment: AttachmentRow) -> None:
        self.session.add(attachment)

    async def count_for(self, ticket_id: int) -> int:
        query = select(func.count()).where(AttachmentRow.ticket_id == ticket_id)
        return (await self.session.exec(query)).one()


class AppraisalRepository(_Repository):
    async def add(self, appraisal: AppraisalRow) -> None:
        self.session.add(appraisal)

    async def ratings_between(self, start: datetime, end: datetime) -> Sequence[Any]:
        """(unit_code, rating, created_at) of the appraisals made in [start, end)."""
        query = select(AppraisalRow.unit_code, AppraisalRow.rating, AppraisalRow.created_at).where(
            col(AppraisalRow.created_at) >= start, col(AppraisalRow.created_at) < end
        )
        return (await self.session.exec(query)).all()

    async def page(self, start: datetime, end: datetime, unit: str | None, *, offset: int, limit: int) -> Sequence[AppraisalRow]:
        """Appraisals made in [start, end) (of one unit when given), newest first."""
        query = self._between(select(AppraisalRow), start, end, unit)
        query = query.order_by(col(AppraisalRow.created_at).desc(), col(AppraisalRow.id).desc()).offset(offset).limit(limit)
        return (await self.session.exec(query)).all()

    async def count_between(self, start: datetime, end: datetime, unit: str | None) -> int:
        return (await self.session.exec(self._between(select(func.count()).select_from(AppraisalRow), start, end, unit))).one()

    @staticmethod
    def _between(query: Any, start: datetime, end: datetime, unit: str | None) -> Any:
        query = query.where(col(AppraisalRow.created_at) >= start, col(AppraisalRow.created_at) < end)
        return query if unit is None else query.where(AppraisalRow.unit_code == unit)


class WebUserRepository(_Repository):
    async def by_username(self, username: str) -> WebUserRow | None:
        return (await self.session.exec(select(WebUserRow).where(WebUserRow.username == username))).first()

    async def get(self, user_id: int) -> WebUserRow | None:
        return await self.session.get(WebUserRow, user_id)

    async def all(self) -> Sequence[WebUserRow]:
        return (await self.session.exec(select(WebUserRow).order_by(col(WebUserRow.username)))).all()

    async def add(self, user: WebUserRow) -> WebUserRow:
        self.session.add(user)
        await self.session.flush()
        return user

    async def update(self, user_id: int, **values: Any) -> None:
        await self.session.exec(update(WebUserRow).where(col(WebUserRow.id) == user_id).values(**values))  # type: ignore[call-overload]

    async def count_failure(self, user_id: int) -> int:
        """Adds one failed login in the database (not in Python, so two workers cannot lose one); the new count."""
        await self.session.exec(
            update(WebUserRow).where(col(WebUserRow.id) == user_id).values(failed_logins=WebUserRow.failed_logins + 1)  # type: ignore[call-overload]
        )
        return (await self.session.exec(select(WebUserRow.failed_logins).where(WebUserRow.id == user_id))).one()


class WebSessionRepository(_Repository):
    async def add(self, session_row: WebSessionRow) -> None:
        self.session.add(session_row)

    async def get(self, token_hash: str) -> WebSessionRow | None:
        return await self.session.get(WebSessionRow, token_hash)

    async def delete(self, token_hash: str) -> None:
        await self.session.exec(delete(WebSessionRow).where(col(WebSessionRow.token_hash) == token_hash))  # type: ignore[call-overload]

    async def delete_of_user(self, user_id: int) -> None:
        await self.session.exec(delete(WebSessionRow).where(col(WebSessionRow.user_id) == user_id))  # type: ignore[call-overload]

    async def delete_expired(self, now: datetime) -> None:
        await self.session.exec(delete(WebSessionRow).where(col(WebSessionRow.expires_at) <= now))  # type: ignore[call-overload]
