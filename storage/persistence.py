"""python-telegram-bot persistence in the database, so a restart loses no conversation in progress.

`DatabasePersistence` keeps conversation states, ``user_data`` and ``chat_data`` in the
``bot_state`` table (namespace, key, JSON value). ``bot_data`` (it holds the runtime) and
callback data are not stored.

    namespace               key                       value
    conversation:<name>     "<chat_id>:<user_id>"     the state, e.g. 2 or "TEXT"
    user_data               "<user_id>"               {"draft": {"kind": "complaint"}}
    chat_data               "<chat_id>"               {...}

Values are JSON, not pickles: readable, safe to load, and stable across code changes. So
**handlers must keep ``context.user_data`` / ``chat_data`` JSON-shaped**: str keys; values
str, int, float, bool, None, lists and dicts of those. No tuples, sets, datetimes, enums or
dataclasses; store ``kind.value``, ``moment.isoformat()``, ``list(pair)``. A value that would
not come back equal raises `NotJsonSerialisable` naming the user or chat, instead of silently
turning ``(1, 2)`` into ``[1, 2]`` or ``{1: …}`` into ``{"1": …}``. Conversation states must be
str or int, as PTB's usually are.

When things are written. PTB hands data to a persistence only from `Application.update_persistence`,
which runs every `update_interval` seconds (default here: 1 s) and at shutdown. For a crash to lose
nothing, build the application with `WriteThroughUpdates`, which runs it right after each update:

    updates = WriteThroughUpdates()
    application = builder.persistence(DatabasePersistence(db)).concurrent_updates(updates).build()
    updates.attach(application)

Several processes on one database. Each key is its own row and is written only when its value
changed, so processes serving different people never overwrite each other. ``user_data`` and
``chat_data`` are re-read from the database before every update (`refresh_user_data`), and taken
over when another process changed them since this one last read or wrote them. PTB reads
conversation states only at start-up, so `WriteThroughUpdates` re-reads the states of each
update's conversations before handling it: behind a load balancer, a conversation begun in one
worker goes on in whichever worker gets the next update. A conversation's timeout still runs in
the process that set it; `SharedConversationHandler` lets it pass when the conversation has moved
on in another process since. Two processes must not handle updates of the *same* chat at the very
same moment (Telegram sends a chat's updates one after another).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Coroutine, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import (
    Application,
    BasePersistence,
    CallbackContext,
    ConversationHandler,
    PersistenceInput,
    SimpleUpdateProcessor,
)

from domain.clock import Clock, SystemClock
from storage.database import Database
from storage.models import BotStateRow

if TYPE_CHECKING:  # PTB's own aliases, from a private module: used for annotations only
    from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

log = logging.getLogger(__name__)

Data = dict[str, Any]

USER_DATA = "user_data"
CHAT_DATA = "chat_data"
CONVERSATION_PREFIX = "conversation:"
DEFAULT_UPDATE_INTERVAL = 1.0


class NotJsonSerialisable(TypeError):
    """A value for the database that JSON cannot hold, or would not give back equal."""


class BotStateRepository:
    """The SQL of the ``bot_state`` table: one row per (namespace, key)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all_in(self, namespace: str) -> dict[str, Any]:
        rows = await self.session.exec(select(BotStateRow).where(BotStateRow.namespace == namespace))
        return {row.key: row.value for row in rows.all()}

    async def get(self, namespace: str, key: str) -> BotStateRow | None:
        return await self.session.get(BotStateRow, (namespace, key))

    async def rows(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], BotStateRow]:
        """The rows of these (namespace, key) pairs that exist, in one query."""
        wanted = list(pairs)
        if not wanted:
            return {}
        query = select(BotStateRow).where(tuple_(col(BotStateRow.namespace), col(BotStateRow.key)).in_(wanted))
        return {(row.namespace, row.key): row for row in (await self.session.exec(query)).all()}

    async def put(self, namespace: str, key: str, value: Any, now: Any) -> None:
        """Inserts or replaces the row in one statement, so two processes cannot both insert it."""
        dialect = self.session.get_bind().dialect.name
        values = {"namespace": namespace, "key": key, "value": value, "updated_at": now}
        if dialect in ("sqlite", "postgresql"):
            insert = (sqlite if dialect == "sqlite" else postgresql).insert(BotStateRow).values(**values)
            upsert = insert.on_conflict_do_update(
                index_elements=["namespace", "key"], set_={"value": insert.excluded.value, "updated_at": now}
            )
            await self.session.exec(upsert)  # type: ignore[call-overload]
        else:
            await self.session.merge(BotStateRow(**values))

    async def remove(self, namespace: str, key: str) -> None:
        statement = delete(BotStateRow).where(col(BotStateRow.namespace) == namespace, col(BotStateRow.key) == key)
        await self.session.exec(statement)  # type: ignore[call-overload]


def encode_conversation_key(key: ConversationKey) -> str:
    """``(chat_id, user_id)`` → ``"chat_id:user_id"``; a key with a str part (inline messages) → JSON."""
    if all(isinstance(part, int) for part in key):
        return ":".join(map(str, key))
    return json.dumps(list(key))


def decode_conversation_key(text: str) -> ConversationKey:
    if text.startswith("["):
        return tuple(json.loads(text))
    return tuple(int(part) for part in text.split(":"))


def canonical_json(value: Any, what: str) -> str:
    """The value as sorted JSON; raises NotJsonSerialisable if it would not load back equal."""
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise NotJsonSerialisable(f"{what} cannot be stored as JSON: {error}") from error
    if json.loads(text) != value:
        raise NotJsonSerialisable(
            f"{what} would not come back equal from JSON (tuples, sets or non-str dict keys?): {value!r}"
        )
    return text


class DatabasePersistence(BasePersistence[Data, Data, Data]):
    """Conversation states, user_data and chat_data in the ``bot_state`` table (see the module doc)."""

    def __init__(
        self, db: Database, *, clock: Clock | None = None, update_interval: float = DEFAULT_UPDATE_INTERVAL
    ) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, callback_data=False), update_interval=update_interval
        )
        self._db = db
        self._clock = clock or SystemClock()
        # The JSON of each user_data/chat_data row as this process last read or wrote it: a row
        # that differs was changed by another process; data equal to it need not be written again.
        self._synced: dict[tuple[str, str], str] = {}
        # Each conversation row as this process last wrote it (state, updated_at): a conversation
        # whose row differs has moved on in another process since.
        self._written: dict[tuple[str, str], tuple[Any, datetime]] = {}

    # --- loading at start-up ---------------------------------------------------------------

    async def get_user_data(self) -> dict[int, Data]:
        return await self._load_all(USER_DATA)

    async def get_chat_data(self) -> dict[int, Data]:
        return await self._load_all(CHAT_DATA)

    async def get_bot_data(self) -> Data:
        return {}  # not stored: bot_data holds the runtime, which is built at start-up

    async def get_callback_data(self) -> CDCData | None:
        return None  # not stored: buttons carry their own data and are authorised on the server

    async def get_conversations(self, name: str) -> ConversationDict:
        async with self._db.unit_of_work() as uow:
            rows = await BotStateRepository(uow.session).all_in(CONVERSATION_PREFIX + name)
        return {decode_conversation_key(key): state for key, state in rows.items()}

    # --- writing ----------------------------------------------------------------------------

    async def update_conversation(self, name: str, key: ConversationKey, new_state: object | None) -> None:
        namespace, row_key = CONVERSATION_PREFIX + name, encode_conversation_key(key)
        if new_state is None:  # the conversation ended
            await self._remove(namespace, row_key)
            return
        if not isinstance(new_state, (str, int)) or isinstance(new_state, bool):
            raise NotJsonSerialisable(f"state {new_state!r} of conversation {name!r} must be a str or an int")
        # An IntEnum state is stored as its number; it compares and hashes equal to the member,
        # so the ConversationHandler finds its handlers again after a restart.
        value = json.loads(json.dumps(new_state))
        self._written[(namespace, row_key)] = (value, await self._write(namespace, row_key, value))

    # --- conversations that move between processes ------------------------------------------

    async def changed_elsewhere(
        self, wanted: Iterable[tuple[str, ConversationKey]]
    ) -> dict[tuple[str, ConversationKey], object | None]:
        """Of these (conversation name, key) pairs, those another process changed or ended since this
        one last wrote them, with the state the database holds now (None: ended).

        What this process wrote itself is never taken back from the database: its own newer state
        (say, a timeout's END not yet written) stays.
        """
        rows_for = {(CONVERSATION_PREFIX + name, encode_conversation_key(key)): (name, key) for name, key in wanted}
        # What this process had written, taken before reading: a write of ours (a timeout's END) that
        # lands while the database is read must not make our own old row look like another's change.
        written = {row_key: self._written.get(row_key) for row_key in rows_for}
        async with self._db.unit_of_work() as uow:
            rows = await BotStateRepository(uow.session).rows(rows_for)
        changed: dict[tuple[str, ConversationKey], object | None] = {}
        for row_key, pair in rows_for.items():
            row = rows.get(row_key)
            if _as_written(row) != written[row_key]:
                changed[pair] = None if row is None else row.value
        return changed

    async def moved_on_elsewhere(self, name: str, key: ConversationKey) -> bool:
        """True when another process changed or ended the conversation since this one last wrote it."""
        namespace, row_key = CONVERSATION_PREFIX + name, encode_conversation_key(key)
        written = self._written.get((namespace, row_key))
        async with self._db.unit_of_work() as uow:
            row = await BotStateRepository(uow.session).get(namespace, row_key)
        return _as_written(row) != written

    async def update_user_data(self, user_id: int, data: Data) -> None:
        await self._write_if_changed(USER_DATA, str(user_id), data, f"user_data of user {user_id}")

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        await self._write_if_changed(CHAT_DATA, str(chat_id), data, f"chat_data of chat {chat_id}")

    async def update_bot_data(self, data: Data) -> None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        return None

    async def drop_user_data(self, user_id: int) -> None:
        await self._remove(USER_DATA, str(user_id))

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._remove(CHAT_DATA, str(chat_id))

    # --- re-reading before each update (several processes) -----------------------------------

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        await self._take_over_if_changed_elsewhere(USER_DATA, str(user_id), user_data)

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        await self._take_over_if_changed_elsewhere(CHAT_DATA, str(chat_id), chat_data)

    async def refresh_bot_data(self, bot_data: Data) -> None:
        return None

    async def flush(self) -> None:
        return None  # every write above is committed before it returns: nothing is buffered

    # --- helpers ----------------------------------------------------------------------------

    async def _load_all(self, namespace: str) -> dict[int, Data]:
        async with self._db.unit_of_work() as uow:
            rows = await BotStateRepository(uow.session).all_in(namespace)
        for key, value in rows.items():
            self._synced[(namespace, key)] = canonical_json(value, f"{namespace} {key}")
        return {int(key): value for key, value in rows.items()}

    async def _write_if_changed(self, namespace: str, key: str, data: Mapping[str, Any], what: str) -> None:
        text = canonical_json(dict(data), what)
        if self._synced.get((namespace, key)) == text:
            return  # unchanged: writing it again could only overwrite a newer value from elsewhere
        if not data:
            # PTB hands over an empty dict for everyone it saw; only rows with something in them are kept.
            if (namespace, key) in self._synced:
                await self._remove(namespace, key)
            return
        await self._write(namespace, key, json.loads(text))
        self._synced[(namespace, key)] = text

    async def _take_over_if_changed_elsewhere(self, namespace: str, key: str, data: Data) -> None:
        async with self._db.unit_of_work() as uow:
            row = await BotStateRepository(uow.session).get(namespace, key)
        stored = None if row is None else canonical_json(row.value, f"{namespace} {key}")
        if stored == self._synced.get((namespace, key)):
            return  # nobody else wrote it: what this process holds (maybe newer) stays
        data.clear()
        if row is not None:
            data.update(row.value)
            self._synced[(namespace, key)] = stored  # type: ignore[assignment]
        else:
            self._synced.pop((namespace, key), None)

    async def _write(self, namespace: str, key: str, value: Any) -> datetime:
        """Writes the row; returns its updated_at."""
        now = self._clock.now()
        async with self._db.unit_of_work() as uow:
            await BotStateRepository(uow.session).put(namespace, key, value, now)
            await uow.commit()
        return now

    async def _remove(self, namespace: str, key: str) -> None:
        async with self._db.unit_of_work() as uow:
            await BotStateRepository(uow.session).remove(namespace, key)
            await uow.commit()
        self._synced.pop((namespace, key), None)
        self._written.pop((namespace, key), None)


def _as_written(row: BotStateRow | None) -> tuple[Any, datetime] | None:
    return None if row is None else (row.value, row.updated_at)


class WriteThroughUpdates(SimpleUpdateProcessor):
    """PTB's default one-update-at-a-time processing, around each update: first the states of its
    conversations are read from the database (another process may have moved them on), and right
    after it the persistence is saved.

    Without the write, an update's new conversation state and data wait up to `update_interval` in
    memory, and a crash in that time loses them. Running `update_persistence` after the whole
    update (not from a handler) also covers updates stopped early by ApplicationHandlerStop.
    """

    def __init__(self) -> None:
        super().__init__(max_concurrent_updates=1)
        self._application: Application[Any, Any, Any, Any, Any, Any] | None = None

    def attach(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        self._application = application

    async def do_process_update(self, update: object, coroutine: Coroutine[Any, Any, Any]) -> None:
        try:
            if self._application is not None and isinstance(update, Update):
                await self._read_conversations(self._application, update)
            await coroutine
        finally:
            if self._application is not None and isinstance(update, Update):
                await self._application.update_persistence()

    async def _read_conversations(self, application: Application[Any, Any, Any, Any, Any, Any], update: Update) -> None:
        persistence = application.persistence
        if not isinstance(persistence, DatabasePersistence):
            return
        wanted: dict[tuple[str, ConversationKey], ConversationHandler[Any]] = {}
        for handlers in application.handlers.values():
            for handler in handlers:
                if isinstance(handler, ConversationHandler) and handler.persistent and handler.name:
                    key = _conversation_key(handler, update)
                    if key is not None:
                        wanted[(handler.name, key)] = handler
        try:
            states = await persistence.changed_elsewhere(wanted)
        except Exception:  # handled with the states this process holds, as before several processes
            log.exception("conversation states could not be re-read for update %s", update.update_id)
            return
        for (name, key), state in states.items():
            # PTB offers no public way to set a state without marking it to be written back; the
            # database already holds it, so it is put in without being tracked. Our conversations
            # run their callbacks blocking, so no PendingState is ever overwritten here.
            conversations = wanted[(name, key)]._conversations  # noqa: SLF001
            if state is None:
                conversations.data.pop(key, None)
            elif conversations.get(key) != state:
                conversations.update_no_track({key: state})


def _conversation_key(handler: ConversationHandler[Any], update: Update) -> ConversationKey | None:
    """The handler's key for this update, or None when the handler keys no such update."""
    try:
        return handler._get_key(update)  # noqa: SLF001  (PTB's own rule for per_chat/per_user/per_message)
    except RuntimeError:
        return None


class SharedConversationHandler(ConversationHandler[Any]):
    """A persistent conversation that several processes may serve in turn.

    PTB runs a conversation's timeout in the process that handled its last update there. If the
    resident has gone on in another process since, that timeout is stale: it would tell them their
    item was put aside and end a conversation that is alive elsewhere. So it is let pass when the
    database shows the conversation moved on; the other process has set its own timeout. A timeout
    that does end the conversation is written through at once, as an update would be.
    """

    async def _trigger_timeout(self, context: CallbackContext[Any, Any, Any, Any]) -> None:
        job = context.job
        persistence = context.application.persistence
        key = job.data.conversation_key if job is not None else None
        if key is not None and self.name and isinstance(persistence, DatabasePersistence):
            try:
                stale = await persistence.moved_on_elsewhere(self.name, key)
            except Exception:
                log.exception("could not tell whether conversation %s %s moved on; timing it out", self.name, key)
                stale = False
            if stale:
                async with self._timeout_jobs_lock:  # noqa: SLF001
                    if self.timeout_jobs.get(key) is job:
                        del self.timeout_jobs[key]
                log.info("conversation %s %s moved on in another process; its timeout here is dropped", self.name, key)
                return
        await super()._trigger_timeout(context)
        if job is not None and isinstance(update := job.data.update, Update):
            context.application.mark_data_for_update_persistence(
                chat_ids=update.effective_chat.id if update.effective_chat else None,
                user_ids=update.effective_user.id if update.effective_user else None,
            )
        await context.application.update_persistence()
