"""Database tables. Rows are plain records; the rules about them live in domain/ and services/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Interval, TypeDecorator, text
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as naive UTC (SQLite has no time zones) and returns them aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        """`moment + timedelta(hours=8)` adds an interval; only moments are bound as (UTC) moments."""
        return Interval() if isinstance(value, timedelta) else self


def _moment(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class DepartmentRow(SQLModel, table=True):
    __tablename__ = "departments"
    code: str = Field(primary_key=True, max_length=40)
    name: str
    name_en: str


class ResidentRow(SQLModel, table=True):
    __tablename__ = "residents"
    id: Optional[int] = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, unique=True, index=True)
    chat_id: int = Field(sa_type=BigInteger)
    locale: str = Field(max_length=8)
    created_at: datetime = _moment()


class OfficerRow(SQLModel, table=True):
    __tablename__ = "officers"
    id: Optional[int] = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, unique=True, index=True)
    chat_id: int = Field(sa_type=BigInteger)
    display_name: str
    department_code: str = Field(foreign_key="departments.code", index=True)
    role: str = Field(max_length=20)
    active: bool = True
    locale: str = Field(max_length=8)
    created_at: datetime = _moment()


class InviteRow(SQLModel, table=True):
    __tablename__ = "invites"
    id: Optional[int] = Field(default=None, primary_key=True)
    code_hash: str = Field(unique=True, max_length=64)
    department_code: str = Field(foreign_key="departments.code")
    role: str = Field(max_length=20)
    created_at: datetime = _moment()
    expires_at: datetime = _moment()
    used_at: Optional[datetime] = _moment(default=None, nullable=True)
    used_by_officer_id: Optional[int] = Field(default=None, foreign_key="officers.id")


class TicketRow(SQLModel, table=True):
    __tablename__ = "tickets"
    # The figures, the dashboard and the ledger select by these moments (a million tickets, ≤ 500 ms a page);
    # the pairs serve the dashboard's filters already in the order its lists show (no sorting of big sets).
    __table_args__ = (
        Index("ix_tickets_received_at", "received_at"),
        Index("ix_tickets_deadline_at", "deadline_at"),
        Index("ix_tickets_closed_at", "closed_at"),
        Index("ix_tickets_state_received", "state", "received_at"),
        Index("ix_tickets_state_deadline", "state", "deadline_at"),
        Index("ix_tickets_department_received", "department_code", "received_at"),
        Index("ix_tickets_category_received", "category", "received_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=32)
    source: str = Field(max_length=20)
    kind: str = Field(max_length=20)
    text: str
    resident_id: int = Field(foreign_key="residents.id", index=True)
    category: str = Field(max_length=20)
    confidence: float
    deciding_words: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = Field(max_length=20, index=True)
    department_code: str = Field(foreign_key="departments.code", index=True)
    responsible_officer_id: Optional[int] = Field(default=None, foreign_key="officers.id")
    received_at: datetime = _moment()
    deadline_at: datetime = _moment()
    closed_at: Optional[datetime] = _moment(default=None, nullable=True)
    result: Optional[str] = None
    reopen_count: int = 0
    survey_result: Optional[str] = Field(default=None, max_length=20)
    surveyed_at: Optional[datetime] = _moment(default=None, nullable=True)
    scores: Optional[dict[str, float]] = Field(default=None, sa_column=Column(JSON, nullable=True))
    classifier_version: Optional[str] = Field(default=None, max_length=40)
    # Contact choice: "real_name" or "anonymous"; a phone only when the resident shared it.
    contact_mode: str = Field(default="real_name", max_length=20)
    contact_name: Optional[str] = None
    # As the resident (or the Open311 client) wrote it: any length, with extensions and office hours.
    contact_phone: Optional[str] = None
    # The business unit routed to, and a unit the text names (never shown a discipline ticket about it).
    unit_code: Optional[str] = Field(default=None, max_length=40)
    named_unit: Optional[str] = Field(default=None, max_length=40)
    # The resident's draft that became this ticket (migration 0008): the same draft submitted again,
    # as after a crash between the ticket's commit and the conversation's, finds this ticket.
    submission_key: Optional[str] = Field(default=None, max_length=64, unique=True, index=True)


class TicketEventRow(SQLModel, table=True):
    """One immutable line of a ticket's history: who did what, when, with which note."""

    __tablename__ = "ticket_events"
    id: Optional[int] = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    at: datetime = _moment()
    actor: str = Field(max_length=20)
    actor_officer_id: Optional[int] = Field(default=None, foreign_key="officers.id")
    action: str = Field(max_length=30)
    note: Optional[str] = None
    public: bool


class TicketCounterRow(SQLModel, table=True):
    """Last ticket number handed out per local day, so numbers are dense and never reused."""

    __tablename__ = "ticket_counters"
    day: str = Field(primary_key=True, max_length=8)
    last: int


class ReminderRow(SQLModel, table=True):
    """Something the scheduler must do at a moment: remind, declare overdue."""

    __tablename__ = "reminders"
    # Partial: only what is still to do, ordered by when. Id look-ups then stay on the primary key.
    __table_args__ = (
        Index(
            "ix_reminders_pending",
            "due_at",
            sqlite_where=text("done_at IS NULL"),
            postgresql_where=text("done_at IS NULL"),
        ),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    kind: str = Field(max_length=20)
    due_at: datetime = _moment()
    done_at: Optional[datetime] = _moment(default=None, nullable=True)


class OutboxRow(SQLModel, table=True):
    """A message the bot must send on its own initiative; sent by the dispatcher, at least once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=120)
    chat_id: int = Field(sa_type=BigInteger)
    method: str = Field(max_length=40)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    purpose: str = Field(max_length=30)
    ticket_id: Optional[int] = Field(default=None, foreign_key="tickets.id", index=True)
    status: str = Field(max_length=20)
    attempts: int = 0
    created_at: datetime = _moment()
    next_attempt_at: datetime = _moment()
    sent_at: Optional[datetime] = _moment(default=None, nullable=True)
    telegram_message_id: Optional[int] = Field(default=None, sa_type=BigInteger)
    last_error: Optional[str] = None


class CorrectionRow(SQLModel, table=True):
    """An officer's routing correction (转派, triage, 退单): what the classifier should learn from."""

    __tablename__ = "corrections"
    id: Optional[int] = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    text: str
    predicted_category: str = Field(max_length=20)
    corrected_category: str = Field(max_length=20)
    from_department: str = Field(max_length=40)
    to_department: str = Field(max_length=40)
    source: str = Field(max_length=20)
    officer_id: Optional[int] = Field(default=None, foreign_key="officers.id")
    at: datetime = _moment()


class ExtensionRequestRow(SQLModel, table=True):
    __tablename__ = "extension_requests"
    id: Optional[int] = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    officer_id: int = Field(foreign_key="officers.id")
    working_days: int
    reason: str
    requested_at: datetime = _moment()
    status: str = Field(max_length=20)
    decided_by_officer_id: Optional[int] = Field(default=None, foreign_key="officers.id")
    decided_at: Optional[datetime] = _moment(default=None, nullable=True)


class DepartmentGroupRow(SQLModel, table=True):
    """A department's group chat, where its task cards are posted too."""

    __tablename__ = "department_groups"
    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    department_code: str = Field(foreign_key="departments.code", index=True)
    bound_by_officer_id: int = Field(foreign_key="officers.id")
    bound_at: datetime = _moment()


class BotStateRow(SQLModel, table=True):
    """Conversation states and user/chat data, so a restart or another process loses no conversation."""

    __tablename__ = "bot_state"
    namespace: str = Field(primary_key=True, max_length=60)
    key: str = Field(primary_key=True, max_length=120)
    value: Any = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _moment()


class AttachmentRow(SQLModel, table=True):
    """A photo, document or location a resident attached; files stay on Telegram, we keep their ids."""

    __tablename__ = "attachments"
    id: Optional[int] = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    kind: str = Field(max_length=20)
    file_id: Optional[str] = None
    file_unique_id: Optional[str] = None
    file_name: Optional[str] = None
    # The sender's client names the type: no length is promised.
    mime_type: Optional[str] = None
    # Telegram: "can be bigger than 2^31" (files up to 4 GB).
    file_size: Optional[int] = Field(default=None, sa_type=BigInteger)
    caption: Optional[str] = None
    latitude: Optional[float] = None
    longitude: Optional[float] = None
    source_chat_id: int = Field(sa_type=BigInteger)
    source_message_id: int = Field(sa_type=BigInteger)
    added_at: datetime = _moment()


class AppraisalRow(SQLModel, table=True):
    """开门评警: a resident's rating of a unit, with optional scores and comment."""

    __tablename__ = "appraisals"
    __table_args__ = (Index("ix_appraisals_created_at", "created_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    unit_code: str = Field(max_length=40, index=True)
    rating: str = Field(max_length=20)
    scores: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    comment: Optional[str] = None
    ticket_id: Optional[int] = Field(default=None, foreign_key="tickets.id")
    created_at: datetime = _moment()


class WebUserRow(SQLModel, table=True):
    """A dashboard login. Roles and departments mean what they mean in Telegram."""

    __tablename__ = "web_users"
    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(max_length=60, unique=True, index=True)
    display_name: str = Field(max_length=60)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20)
    department_code: str = Field(foreign_key="departments.code")
    active: bool = True
    failed_logins: int = 0
    locked_until: Optional[datetime] = _moment(default=None, nullable=True)
    last_login_at: Optional[datetime] = _moment(default=None, nullable=True)
    created_at: datetime = _moment()


class WebSessionRow(SQLModel, table=True):
    """A signed-in browser. Only a hash of the cookie's token is stored, so a leaked table signs nobody in."""

    __tablename__ = "web_sessions"
    token_hash: str = Field(max_length=64, primary_key=True)
    user_id: int = Field(foreign_key="web_users.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _moment()
    expires_at: datetime = _moment()


class ProcessedUpdateRow(SQLModel, table=True):
    """A Telegram update a worker took on, recorded before handling it, so that a second delivery
    (to this worker or another) is recognised and skipped. Unfinished claims of a dead worker expire."""

    __tablename__ = "processed_updates"
    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    worker: str = Field(max_length=120)
    claimed_at: datetime = _moment(index=True)
    handled_at: Optional[datetime] = _moment(default=None, nullable=True)


class LeaderLeaseRow(SQLModel, table=True):
    """Which process leads (runs the scheduler and the outbox dispatcher) until when, on databases
    without advisory locks (SQLite). The leader renews it; anyone may take it once it has expired."""

    __tablename__ = "leader_lease"
    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=120)
    expires_at: datetime = _moment()
