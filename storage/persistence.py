"""python-telegram-bot persistence in the database, so a restart loses no conversation in progress.

`DatabasePersistence` keeps conversation states and ``user_data`` in the ``bot_state`` table
(namespace, key, JSON value). ``chat_data`` (no handler uses it), ``bot_data`` (it holds the
runtime) and callback data are not stored: what a handler puts in ``context.chat_data`` is lost
at a restart and unseen by other processes.

    namespace               key                       value
    conversation:<name>     "<chat_id>:<user_id>"     the state, e.g. 2 or "TEXT"
    user_data               "<user_id>"               {"draft": {"kind": "complaint"}}

Values are JSON, not pickles: readable, safe to load, and stable across code changes. So
**handlers must keep ``context.user_data`` JSON-shaped**: str keys; values str, int, float, bool,
None, lists and dicts of those. No tuples, sets, datetimes, enums or dataclasses; store
``kind.value``, ``moment.isoformat()``, ``list(pair)``. A value that would not come back equal
raises `NotJsonSerialisable` naming the user, instead of silently turning ``(1, 2)`` into
``[1, 2]`` or ``{1: …}`` into ``{"1": …}``. Conversation states must be str or int, as PTB's
usually are.

One read before an update, one transaction after it. PTB on its own hands data to a persistence
only from `Application.update_persistence`, every `update_interval` seconds (default here: 1 s)
and at shutdown, row by row. For a crash to lose nothing, build the application with
`WriteThroughUpdates`:

    updates = WriteThroughUpdates()
    application = builder.persistence(DatabasePersistence(db)).concurrent_updates(updates).build()
    updates.attach(application)

Before each update it reads the user's ``user_data`` row and the rows of the update's
conversations in one query (`read_for_update`); after it, it writes whatever of those the update
changed in one transaction (`save_update`), committed before the chat's next update is handled and
before the update counts as done. The SQL is the database's `bot_state` store
(`storage/bot_state.py`; on SQLite it bypasses SQLAlchemy, this being the hottest SQL of the bot).
PTB's own `update_persistence` goes on running (every second, after a conversation's timeout, at
shutdown) but leaves the rows of updates in progress alone, and writes nothing the database already
holds, so it never writes half an update, nor an old value over a newer one.

Updates of different chats are handled concurrently (up to `DEFAULT_CONCURRENT_UPDATES`), each
chat's and each user's strictly one after another: an update waits until the earlier updates of
its chat and of its user are handled and committed. PTB's ConversationHandler assumes updates one
at a time; it holds for ours, which are keyed by chat and user and run their callbacks blocking.

Several processes on one database. Each key is its own row and is written only when its value
changed, so processes serving different people never overwrite each other. Each process remembers
every row as it last read or wrote it; a row that differs before an update was changed by another
process and is taken over (``user_data`` replaced, the conversation's state set): behind a load
balancer, a conversation begun in one worker goes on in whichever worker gets the next update. A
conversation's timeout still runs in the process that set it; `SharedConversationHandler` lets it
pass when the conversation has moved on in another process since. Two processes must not handle
updates of the *same* chat at the very same moment (Telegram sends a chat's updates one after
another).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.ext import (
    Application,
    BasePersistence,
    BaseUpdateProcessor,
    CallbackContext,
    ConversationHandler,
    PersistenceInput,
)
from telegram.ext._handlers.conversationhandler import (  # PTB exports them nowhere else
    PendingState,
    _ConversationTimeoutContext,
)

from domain.clock import Clock, SystemClock
from storage.bot_state import StateRow
from storage.database import Database

if TYPE_CHECKING:  # PTB's own aliases, from a private module: used for annotations only
    from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

log = logging.getLogger(__name__)

Data = dict[str, Any]

USER_DATA = "user_data"
CONVERSATION_PREFIX = "conversation:"
DEFAULT_UPDATE_INTERVAL = 1.0
# Updates handled at once (of different chats). More buys little: SQLite writes one at a time, and
# each update in progress may hold one of the database pool's connections.
DEFAULT_CONCURRENT_UPDATES = 8


class NotJsonSerialisable(TypeError):
    """A value for the database that JSON cannot hold, or would not give back equal."""


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
    """Conversation states and user_data in the ``bot_state`` table (see the module doc)."""

    def __init__(
        self, db: Database, *, clock: Clock | None = None, update_interval: float = DEFAULT_UPDATE_INTERVAL
    ) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, chat_data=False, callback_data=False),
            update_interval=update_interval,
        )
        self._db = db
        self._clock = clock or SystemClock()
        # The JSON of each user_data row as this process last read or wrote it: a row that differs
        # was changed by another process; data equal to it need not be written again.
        self._synced: dict[tuple[str, str], str] = {}
        # Each conversation row as this process last read or wrote it (state, updated_at): a
        # conversation whose row differs has moved on in another process since.
        self._written: dict[tuple[str, str], tuple[Any, datetime]] = {}
        # user_data rows read with an update's conversations, for PTB's refresh_user_data of the same
        # update to use instead of reading them again.
        self._prefetched: dict[int, StateRow | None] = {}
        # Rows an update in progress will write itself when it is done (`save_update`): PTB's
        # application-wide `update_persistence` (every second, after a timeout) leaves them alone, so
        # it never writes half of an update.
        self._in_flight: Counter[tuple[str, str]] = Counter()

    # --- loading at start-up ---------------------------------------------------------------

    async def get_user_data(self) -> dict[int, Data]:
        rows = await self._db.bot_state.all_in(USER_DATA)
        for key, row in rows.items():
            self._synced[(USER_DATA, key)] = canonical_json(row.value, f"{USER_DATA} {key}")
        return {int(key): row.value for key, row in rows.items()}

    async def get_chat_data(self) -> dict[int, Data]:
        return {}  # not stored: no handler keeps anything in chat_data

    async def get_bot_data(self) -> Data:
        return {}  # not stored: bot_data holds the runtime, which is built at start-up

    async def get_callback_data(self) -> CDCData | None:
        return None  # not stored: buttons carry their own data and are authorised on the server

    async def get_conversations(self, name: str) -> ConversationDict:
        namespace = CONVERSATION_PREFIX + name
        rows = await self._db.bot_state.all_in(namespace)
        for key, row in rows.items():
            self._written[(namespace, key)] = _as_written(row)  # type: ignore[assignment]
        return {decode_conversation_key(key): row.value for key, row in rows.items()}

    # --- one update: one read before it, one transaction after it ----------------------------

    async def read_for_update(
        self, user_id: int | None, conversations: Iterable[tuple[str, ConversationKey]]
    ) -> dict[tuple[str, ConversationKey], object | None]:
        """Reads the user's user_data and these conversations' rows in one query, before an update.

        Returns the conversations another process changed or ended since this one last read or
        wrote them, with the state the database holds now (None: ended). The user's row is kept for
        `refresh_user_data`, which PTB calls when a handler takes the update.
        """
        rows_for = {
            (CONVERSATION_PREFIX + name, encode_conversation_key(key)): (name, key) for name, key in conversations
        }
        wanted = list(rows_for)
        if user_id is not None:
            wanted.append((USER_DATA, str(user_id)))
        # What this process had written, taken before reading: a write of ours (a timeout's END) that
        # lands while the database is read must not make our own old row look like another's change.
        written = {row_key: self._written.get(row_key) for row_key in rows_for}
        rows = await self._db.bot_state.rows(wanted)
        if user_id is not None:
            self._prefetched[user_id] = rows.get((USER_DATA, str(user_id)))
        changed: dict[tuple[str, ConversationKey], object | None] = {}
        for row_key, pair in rows_for.items():
            row = rows.get(row_key)
            if _as_written(row) != written[row_key]:
                changed[pair] = None if row is None else row.value
                if self._written.get(row_key) == written[row_key]:  # nothing of ours landed meanwhile
                    self._remember_conversation(row_key, row)
        return changed

    def forget_prefetched(self, user_id: int | None) -> None:
        """Drops what `read_for_update` read for the user once their update is done: it is stale then."""
        if user_id is not None:
            self._prefetched.pop(user_id, None)

    def hold(self, rows: Iterable[tuple[str, str]]) -> None:
        """Marks these rows as an update's own until `release`: see ``_in_flight``."""
        self._in_flight.update(rows)

    def release(self, rows: Iterable[tuple[str, str]]) -> None:
        self._in_flight.subtract(rows)
        self._in_flight += Counter()  # drops the rows at zero

    async def save_update(
        self,
        user_id: int | None,
        user_data: Mapping[str, Any] | None,
        conversations: Mapping[tuple[str, ConversationKey], object | None],
    ) -> None:
        """Writes what an update changed (its conversations' states, the user's user_data) in one
        transaction; writes nothing when nothing changed.

        Raises NotJsonSerialisable, before writing anything, for a value JSON cannot hold.
        """
        now = self._clock.now()
        puts: dict[tuple[str, str], Any] = {}
        removals: list[tuple[str, str]] = []
        user_text: str | None = None
        for (name, key), state in conversations.items():
            row_key = (CONVERSATION_PREFIX + name, encode_conversation_key(key))
            known = self._written.get(row_key)
            if state is None:
                if known is not None:
                    removals.append(row_key)
                continue
            value = _conversation_value(name, state)
            if known is None or known[0] != value:
                puts[row_key] = value
        if user_id is not None:
            row_key = (USER_DATA, str(user_id))
            user_text = canonical_json(dict(user_data or {}), f"user_data of user {user_id}")
            if self._synced.get(row_key) != user_text:
                if user_data:
                    puts[row_key] = json.loads(user_text)
                elif row_key in self._synced:  # emptied: only rows with something in them are kept
                    removals.append(row_key)
        if not puts and not removals:
            return
        await self._db.bot_state.write(puts, removals, now)
        for row_key, value in puts.items():
            if row_key[0] == USER_DATA:
                self._synced[row_key] = user_text  # type: ignore[assignment]
            else:
                self._written[row_key] = (value, now)
        for row_key in removals:
            self._synced.pop(row_key, None)
            self._written.pop(row_key, None)

    # --- PTB's own writing: every update_interval, at shutdown, after a timeout ----------------

    async def update_conversation(self, name: str, key: ConversationKey, new_state: object | None) -> None:
        namespace, row_key = CONVERSATION_PREFIX + name, encode_conversation_key(key)
        if (namespace, row_key) in self._in_flight:
            return  # the update in progress writes it with the rest of what it changed
        if new_state is None:  # the conversation ended
            if (namespace, row_key) in self._written:
                await self._remove(namespace, row_key)
            return
        value = _conversation_value(name, new_state)
        known = self._written.get((namespace, row_key))
        if known is not None and known[0] == value:
            return  # written through already: writing it again could only overwrite a newer state from elsewhere
        self._written[(namespace, row_key)] = (value, await self._write(namespace, row_key, value))

    # --- conversations that move between processes ------------------------------------------

    async def changed_elsewhere(
        self, wanted: Iterable[tuple[str, ConversationKey]]
    ) -> dict[tuple[str, ConversationKey], object | None]:
        """Of these (conversation name, key) pairs, those another process changed or ended since this
        one last read or wrote them, with the state the database holds now (None: ended).

        What this process wrote itself is never taken back from the database: its own newer state
        (say, a timeout's END not yet written) stays.
        """
        return await self.read_for_update(None, wanted)

    async def moved_on_elsewhere(self, name: str, key: ConversationKey) -> bool:
        """True when another process changed or ended the conversation since this one last read or wrote it."""
        namespace, row_key = CONVERSATION_PREFIX + name, encode_conversation_key(key)
        written = self._written.get((namespace, row_key))
        return _as_written(await self._read_row(namespace, row_key)) != written

    async def update_user_data(self, user_id: int, data: Data) -> None:
        if (USER_DATA, str(user_id)) in self._in_flight:
            return  # the update in progress writes it with the rest of what it changed
        await self._write_if_changed(USER_DATA, str(user_id), data, f"user_data of user {user_id}")

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        return None

    async def update_bot_data(self, data: Data) -> None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        return None

    async def drop_user_data(self, user_id: int) -> None:
        await self._remove(USER_DATA, str(user_id))

    async def drop_chat_data(self, chat_id: int) -> None:
        return None

    # --- re-reading before each update (several processes) -----------------------------------

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        key = str(user_id)
        if user_id in self._prefetched:
            row = self._prefetched.pop(user_id)
        else:  # not read with the update's conversations (a job, or no WriteThroughUpdates)
            row = await self._read_row(USER_DATA, key)
        self._take_over_if_changed_elsewhere(USER_DATA, key, user_data, row)

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        return None

    async def refresh_bot_data(self, bot_data: Data) -> None:
        return None

    async def flush(self) -> None:
        """PTB's last call, at shutdown. Every write above was committed before it returned, so
        nothing is buffered; the store lets go of its connections (it opens them again if used)."""
        await self._db.bot_state.close()

    # --- helpers ----------------------------------------------------------------------------

    async def _read_row(self, namespace: str, key: str) -> StateRow | None:
        return (await self._db.bot_state.rows([(namespace, key)])).get((namespace, key))

    def _remember_conversation(self, row_key: tuple[str, str], row: StateRow | None) -> None:
        if row is None:
            self._written.pop(row_key, None)
        else:
            self._written[row_key] = (row.value, row.updated_at)

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

    def _take_over_if_changed_elsewhere(self, namespace: str, key: str, data: Data, row: StateRow | None) -> None:
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
        await self._db.bot_state.write({(namespace, key): value}, (), now)
        return now

    async def _remove(self, namespace: str, key: str) -> None:
        await self._db.bot_state.write({}, [(namespace, key)], self._clock.now())
        self._synced.pop((namespace, key), None)
        self._written.pop((namespace, key), None)


def _conversation_value(name: str, state: object) -> str | int:
    """The state as stored; raises NotJsonSerialisable for a state that is not a str or an int."""
    if not isinstance(state, (str, int)) or isinstance(state, bool):
        raise NotJsonSerialisable(f"state {state!r} of conversation {name!r} must be a str or an int")
    # An IntEnum state is stored as its number; it compares and hashes equal to the member,
    # so the ConversationHandler finds its handlers again after a restart.
    return json.loads(json.dumps(state))


def _as_written(row: StateRow | None) -> tuple[Any, datetime] | None:
    return None if row is None else (row.value, row.updated_at)


class WriteThroughUpdates(BaseUpdateProcessor):
    """Handles updates of different chats concurrently, each chat's (and each user's) strictly one
    after another; around each update, the database is read once before it and written once after.

    Before: the user's user_data and the states of the update's conversations, in one query
    (another process may have moved them on). After: whatever the update changed, in one
    transaction, committed before the chat's next update starts and before the update counts as
    done (`process_update` returns; the webhook then confirms it). Without that write, an update's
    new state would wait up to `update_interval` in memory, and a crash in that time would lose it.
    Writing after the whole update (not from a handler) also covers updates stopped early by
    ApplicationHandlerStop.

    Why concurrently: while one update waits for SQLite (in a thread of its own, with its commit's
    fsync) or for the Bot API, the event loop handles another chat's. Why in order per chat and
    per user: a conversation (keyed by chat and user) and a user's user_data must see the updates
    in the order they were sent, as PTB's ConversationHandler assumes. PTB's semaphore admits
    updates first come, first served, so each takes its place in its chat's line as it arrived.
    """

    def __init__(self, max_concurrent_updates: int = DEFAULT_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates=max_concurrent_updates)
        self._application: Application[Any, Any, Any, Any, Any, Any] | None = None
        # The latest update admitted for each chat and each user: the next one waits for it.
        self._last_in_line: dict[tuple[str, int], asyncio.Future[None]] = {}

    def attach(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        self._application = application

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update) or self._application is None:
            await coroutine
            return
        async with self._in_turn(update):
            persistence = self._application.persistence
            if isinstance(persistence, DatabasePersistence):
                await self._handle_written_through(self._application, persistence, update, coroutine)
            else:
                try:
                    await coroutine
                finally:
                    await self._application.update_persistence()

    @contextlib.asynccontextmanager
    async def _in_turn(self, update: Update) -> AsyncIterator[None]:
        """Waits for the earlier updates of the same chat and of the same user; lets the later ones
        go once this one is done."""
        lines = []
        if update.effective_chat is not None:
            lines.append(("chat", update.effective_chat.id))
        if update.effective_user is not None:
            lines.append(("user", update.effective_user.id))
        earlier = {self._last_in_line[line] for line in lines if line in self._last_in_line}
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for line in lines:
            self._last_in_line[line] = done
        done.add_done_callback(lambda _: self._leave_lines(lines, done))
        try:
            if earlier:
                await asyncio.wait(earlier)  # unlike awaiting them, never cancels them
            yield
        finally:
            still_running = [future for future in earlier if not future.done()]
            if still_running:  # cancelled while waiting: the later ones must still wait for the earlier
                waiting = asyncio.ensure_future(asyncio.wait(still_running))
                waiting.add_done_callback(lambda _: done.set_result(None))
            else:
                done.set_result(None)

    def _leave_lines(self, lines: list[tuple[str, int]], done: asyncio.Future[None]) -> None:
        for line in lines:
            if self._last_in_line.get(line) is done:
                del self._last_in_line[line]

    async def _handle_written_through(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        persistence: DatabasePersistence,
        update: Update,
        coroutine: Awaitable[Any],
    ) -> None:
        user_id = update.effective_user.id if update.effective_user else None
        handlers = _persistent_conversations(application, update)
        rows = [(CONVERSATION_PREFIX + name, encode_conversation_key(key)) for name, key in handlers]
        if user_id is not None:
            rows.append((USER_DATA, str(user_id)))
        persistence.hold(rows)
        try:
            try:
                states = await persistence.read_for_update(user_id, handlers)
            except Exception:  # handled with what this process holds, as before several processes
                log.exception("user data and conversation states could not be re-read for update %s", update.update_id)
            else:
                _take_over_states(handlers, states)
            try:
                await coroutine
            finally:
                await self._save(application, persistence, user_id, handlers)
        finally:
            persistence.release(rows)
            persistence.forget_prefetched(user_id)

    async def _save(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        persistence: DatabasePersistence,
        user_id: int | None,
        handlers: Mapping[tuple[str, ConversationKey], ConversationHandler[Any]],
    ) -> None:
        states: dict[tuple[str, ConversationKey], object | None] = {}
        for (name, key), handler in handlers.items():
            state = handler._conversations.get(key)  # noqa: SLF001  (PTB keeps the states there)
            if isinstance(state, PendingState):  # a non-blocking callback still running: PTB's updater writes it
                continue
            states[(name, key)] = state
        user_data = application.user_data.get(user_id) if user_id is not None else None
        try:
            # No copy needed: save_update turns the data into JSON before it first awaits anything.
            await persistence.save_update(user_id, user_data, states)
        except Exception as error:  # as PTB's update_persistence does: to the error handlers
            await application.process_error(update=None, error=error)


def _persistent_conversations(
    application: Application[Any, Any, Any, Any, Any, Any], update: Update
) -> dict[tuple[str, ConversationKey], ConversationHandler[Any]]:
    """The persistent conversations this update may belong to, by (name, key)."""
    found: dict[tuple[str, ConversationKey], ConversationHandler[Any]] = {}
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, ConversationHandler) and handler.persistent and handler.name:
                key = _conversation_key(handler, update)
                if key is not None:
                    found[(handler.name, key)] = handler
    return found


def _take_over_states(
    handlers: Mapping[tuple[str, ConversationKey], ConversationHandler[Any]],
    states: Mapping[tuple[str, ConversationKey], object | None],
) -> None:
    """Puts the states another process gave these conversations into their handlers."""
    for (name, key), state in states.items():
        # PTB offers no public way to set a state without marking it to be written back; the
        # database already holds it, so it is put in without being tracked. Our conversations
        # run their callbacks blocking, so no PendingState is ever overwritten here.
        conversations = handlers[(name, key)]._conversations  # noqa: SLF001
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

    def _schedule_job(
        self,
        new_state: object,
        application: Application[Any, Any, Any, Any, Any, Any],
        update: Update,
        context: CallbackContext[Any, Any, Any, Any],
        conversation_key: ConversationKey,
    ) -> None:
        """Sets the conversation's timeout on the event loop's own timer, not as a job in PTB's JobQueue.

        Every update of a conversation replaces its timeout. A JobQueue job (an APScheduler job added,
        then removed at the next update) cost about 3% of the bot's CPU under load; a loop timer costs
        next to nothing. It fires as the job would have: `_trigger_timeout` with the job's data.
        """
        if new_state == self.END:
            return
        data = _ConversationTimeoutContext(conversation_key, update, application, context)
        self.timeout_jobs[conversation_key] = _TimeoutTimer(self._trigger_timeout, self.conversation_timeout, data)  # type: ignore[assignment]

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


class _TimeoutTimer:
    """What PTB's conversation timeout needs of a JobQueue job (`data`, `schedule_removal`, and the
    chat and user a job's context is built for), run by a loop timer."""

    def __init__(self, callback: Callable[[Any], Awaitable[None]], after: float | timedelta | None, data: _ConversationTimeoutContext) -> None:
        self.callback = callback
        self.data = data
        self.chat_id = None
        self.user_id = None
        seconds = after.total_seconds() if isinstance(after, timedelta) else float(after or 0)
        self._handle = asyncio.get_running_loop().call_later(seconds, self._fire)

    def schedule_removal(self) -> None:
        self._handle.cancel()

    def _fire(self) -> None:
        application = self.data.application
        if application.running:  # a stopped application's JobQueue would have dropped the job
            application.create_task(self._run(application), name="conversation-timeout")

    async def _run(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """As `telegram.ext.Job.run`: the callback with a job's context; its error to the error handlers."""
        try:
            context = application.context_types.context.from_job(self, application)  # type: ignore[arg-type]
            await context.refresh_data()
            await self.callback(context)
        except Exception as error:
            await application.process_error(None, error, job=self)  # type: ignore[arg-type]
