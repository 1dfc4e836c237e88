"""The fake server's world: users, chats, messages, files and pending updates.

Everything here is plain data plus `ChangeSignal` wait points:
`ServerState.changed` is notified when an update arrives or the bot makes any
call (getUpdates long polls and `LocalBotApi.wait_for` wait on it), and each
chat's `activity` when the bot sends, edits, deletes or answers a press there
(simulated people wait on it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import mimetypes
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from local_botapi.content import button_texts
from local_botapi.errors import GET_UPDATES_CONFLICT, conflict

if TYPE_CHECKING:
    from local_botapi.webhook import WebhookDelivery

ChatType = Literal["private", "group", "supergroup"]

PHOTO_WIDTH, PHOTO_HEIGHT = 800, 600
# Telegram's default when a bot never called getUpdates with allowed_updates.
_NOT_DELIVERED_BY_DEFAULT = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)


class ChangeSignal:
    """A wait point: waiters give a predicate, and every `notify()` re-checks them.

    Predicates are evaluated synchronously in `notify()` and only satisfied
    waiters are woken, so thousands of simulated people waiting at once cost
    no task switches per change (unlike `asyncio.Condition.notify_all`).
    """

    def __init__(self) -> None:
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def notify(self) -> None:
        waiting = []
        for predicate, woken in self._waiters:
            if woken.done():
                continue
            try:
                satisfied = predicate()
            except Exception as error:  # Re-raised in the waiter, not in the notifier.
                woken.set_exception(error)
                continue
            if satisfied:
                woken.set_result(None)
            else:
                waiting.append((predicate, woken))
        self._waiters = waiting

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """True once `predicate()` holds; False if it still does not after `timeout` seconds."""
        if predicate():
            return True
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, woken))
        try:
            async with asyncio.timeout(timeout):
                await woken
        except TimeoutError:
            return predicate()
        return True


@dataclass
class UserRecord:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    def to_json(self) -> dict[str, Any]:
        optional = {
            "last_name": self.last_name,
            "username": self.username,
            "language_code": self.language_code,
        }
        return {
            "id": self.id,
            "is_bot": self.is_bot,
            "first_name": self.first_name,
            **{key: value for key, value in optional.items() if value is not None},
        }


@dataclass(eq=False)
class BotMessage:
    """A message the bot sent, copied or forwarded, in its current state.

    `text` is what a person sees (HTML stripped, entities unescaped; the
    caption for media); `raw_text` is what the bot sent. Earlier versions of an
    edited message are kept, oldest first, in `edits`.
    """

    message_id: int
    chat_id: int
    method: str
    payload: dict[str, Any]
    raw_text: str | None
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    sent_at: float
    forwarded: bool = False
    copied_from: tuple[int, int] | None = None
    deleted: bool = False
    edits: list[BotMessage] = field(default_factory=list)

    @property
    def text(self) -> str | None:
        return self.payload.get("text", self.payload.get("caption"))

    @property
    def entities(self) -> list[dict[str, Any]]:
        return self.payload.get("entities") or self.payload.get("caption_entities") or []

    @property
    def buttons(self) -> list[list[str]]:
        """Inline keyboard button texts, row by row."""
        return button_texts(self.reply_markup, "inline_keyboard")

    def button_data(self, text: str) -> str:
        for row in (self.reply_markup or {}).get("inline_keyboard", []):
            for button in row:
                if button["text"] == text and "callback_data" in button:
                    return str(button["callback_data"])
        raise AssertionError(f"no callback button {text!r} on message; buttons: {self.buttons}")

    @property
    def photo(self) -> list[dict[str, Any]] | None:
        return self.payload.get("photo")

    @property
    def document(self) -> dict[str, Any] | None:
        return self.payload.get("document")

    @property
    def location(self) -> dict[str, Any] | None:
        return self.payload.get("location")


@dataclass(eq=False)
class UserMessage:
    """A message a simulated person sent; stored so that the bot can copy, forward or delete it."""

    payload: dict[str, Any]
    sender: UserRecord
    deleted: bool = False

    @property
    def message_id(self) -> int:
        return int(self.payload["message_id"])


@dataclass(eq=False)
class ChatRecord:
    id: int
    type: ChatType
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    blocked: bool = False
    started: bool = True
    messages: dict[int, BotMessage | UserMessage] = field(default_factory=dict)
    bot_messages: list[BotMessage] = field(default_factory=list)
    reply_keyboard: dict[str, Any] | None = None
    last_message_id: int = 0
    # Notified when the bot sends, edits or deletes here, or answers a press on a message here.
    activity: ChangeSignal = field(default_factory=ChangeSignal, repr=False)

    def to_json(self) -> dict[str, Any]:
        names = (
            {"first_name": self.first_name, "last_name": self.last_name}
            if self.type == "private"
            else {"title": self.title}
        )
        fields = {**names, "username": self.username}
        return {
            "id": self.id,
            "type": self.type,
            **{key: value for key, value in fields.items() if value is not None},
        }

    def live_message(self, message_id: int | None) -> BotMessage | UserMessage | None:
        message = self.messages.get(message_id) if message_id is not None else None
        return None if message is None or message.deleted else message


@dataclass(eq=False)
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
        }

    def as_photo(self) -> list[dict[str, Any]]:
        return [{**self.to_json(), "width": PHOTO_WIDTH, "height": PHOTO_HEIGHT}]

    def as_document(self) -> dict[str, Any]:
        optional = {"file_name": self.file_name, "mime_type": self.mime_type}
        return {**self.to_json(), **{k: v for k, v in optional.items() if v is not None}}


@dataclass(frozen=True)
class CallbackAnswer:
    """What the bot said in answerCallbackQuery (the toast or alert a person sees)."""

    text: str | None
    show_alert: bool
    url: str | None = None
    cache_time: int = 0


@dataclass(eq=False)
class CallbackQueryRecord:
    id: str
    user: UserRecord
    message: BotMessage
    data: str
    created_at: float
    answer: CallbackAnswer | None = None


@dataclass(frozen=True)
class ApiRequest:
    """One call the bot made. `status` is None when the fake dropped it without answering."""

    method: str
    params: dict[str, Any]
    status: int | None
    description: str | None
    at: float


class UpdateQueue:
    """Pending updates, confirmed by getUpdates' offset, with long polls that wake on arrival."""

    def __init__(self, changes: ChangeSignal) -> None:
        self._pending: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._changes = changes
        self._newest_poll = 0
        self._closed = False
        self.waiting_polls = 0
        self.allowed_updates: frozenset[str] | None = None

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def put(self, kind: str, body: dict[str, Any]) -> None:
        # Like Telegram, allowed_updates filters updates as they are created.
        if not self._is_allowed(kind):
            return
        self._pending.append({"update_id": self._next_update_id, kind: body})
        self._next_update_id += 1
        self._changes.notify()

    async def poll(
        self, offset: int | None, limit: int, timeout: float, allowed: list[str] | None
    ) -> list[dict[str, Any]]:
        """getUpdates: a newer poll ends an older one with 409, as on the real server."""
        self._confirm(offset)
        if allowed is not None:
            self.allowed_updates = frozenset(allowed) if allowed else None
        self._newest_poll += 1
        this_poll = self._newest_poll
        if timeout > 0 and not self._pending:
            await self._wait_for_updates(this_poll, timeout)
        else:
            self._changes.notify()  # Ends an older poll that is still waiting.
        if this_poll != self._newest_poll:
            raise conflict(GET_UPDATES_CONFLICT)
        return self._pending[:limit]

    async def _wait_for_updates(self, this_poll: int, timeout: float) -> None:
        def done() -> bool:
            return bool(self._pending) or self._closed or this_poll != self._newest_poll

        self.waiting_polls += 1
        self._changes.notify()  # Ends an older poll; lets observers see this one waiting.
        try:
            await self._changes.wait_until(done, timeout)
        finally:
            self.waiting_polls -= 1

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset < 0:
            self._pending = self._pending[offset:]
        else:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]

    def _is_allowed(self, kind: str) -> bool:
        if self.allowed_updates is None:
            return kind not in _NOT_DELIVERED_BY_DEFAULT
        return kind in self.allowed_updates

    def first_pending(self) -> dict[str, Any] | None:
        """The oldest update not yet confirmed (a webhook delivers them one by one)."""
        return self._pending[0] if self._pending else None

    def acknowledge(self, update_id: int) -> None:
        """The webhook accepted this update: it is no longer pending."""
        self._pending = [u for u in self._pending if u["update_id"] != update_id]

    def drop_pending(self) -> None:
        self._pending.clear()

    def close(self) -> None:
        """Ends every waiting long poll with an empty answer, so that shutdown never stalls."""
        self._closed = True
        self._changes.notify()

    def reopen(self) -> None:
        self._closed = False


class ServerState:
    """Everything the fake server knows. Mutated only from the event loop's thread."""

    def __init__(
        self, token: str, bot_username: str, bot_name: str, clock: Callable[[], float]
    ) -> None:
        self.token = token
        self.clock = clock
        self.bot = UserRecord(
            id=int(token.split(":", 1)[0]), first_name=bot_name, username=bot_username, is_bot=True
        )
        self.users: dict[int, UserRecord] = {}
        self.chats: dict[int, ChatRecord] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_max_connections = 40
        # (unix time, message) of the last failed webhook delivery, as getWebhookInfo reports it.
        self.webhook_last_error: tuple[int, str] | None = None
        self.webhook_deliveries: list[WebhookDelivery] = []
        # The next this many accepted deliveries count as unanswered, so the update is sent again.
        self.lost_webhook_answers = 0
        self.requests: list[ApiRequest] = []
        self.stats: Counter[str] = Counter()
        self.changed = ChangeSignal()
        self.updates = UpdateQueue(self.changed)
        self._user_ids = itertools.count(100_000_001)
        self._group_ids = itertools.count(500_000_001)
        self._file_numbers = itertools.count(1)
        self._callback_ids = itertools.count(4_000_000_000_000_000_001)

    def now(self) -> int:
        return int(self.clock())

    # -- registry ------------------------------------------------------------------------------

    def add_user(
        self,
        first_name: str,
        *,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
        started: bool,
    ) -> tuple[UserRecord, ChatRecord]:
        user = UserRecord(next(self._user_ids), first_name, last_name, username, language_code)
        chat = ChatRecord(
            id=user.id,
            type="private",
            first_name=first_name,
            last_name=last_name,
            username=username,
            started=started,
        )
        self.users[user.id] = user
        self.chats[chat.id] = chat
        return user, chat

    def add_group(self, title: str, *, kind: ChatType, username: str | None) -> ChatRecord:
        number = next(self._group_ids)
        chat_id = -(1_000_000_000_000 + number) if kind == "supergroup" else -number
        chat = ChatRecord(id=chat_id, type=kind, title=title, username=username)
        self.chats[chat.id] = chat
        return chat

    def find_chat(self, ref: int | str) -> ChatRecord | None:
        if isinstance(ref, int):
            return self.chats.get(ref)
        wanted = ref.removeprefix("@").lower()
        return next((c for c in self.chats.values() if (c.username or "").lower() == wanted), None)

    def add_file(
        self,
        kind: str,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> StoredFile:
        number = next(self._file_numbers)
        mime_type = mime_type or (mimetypes.guess_type(file_name)[0] if file_name else None)
        suffix = _file_suffix(kind, file_name, mime_type)
        stored = StoredFile(
            file_id=f"{kind}-{number:06d}",
            file_unique_id=f"u{number:06d}",
            kind=kind,
            data=data,
            file_path=f"{kind}s/file_{number}{suffix}",
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    # -- messages ------------------------------------------------------------------------------

    def store_bot_message(
        self,
        chat: ChatRecord,
        method: str,
        content: dict[str, Any],
        *,
        raw_text: str | None = None,
        parse_mode: str | None = None,
        reply_markup: dict[str, Any] | None = None,
        reply_to: BotMessage | UserMessage | None = None,
        copied_from: tuple[int, int] | None = None,
    ) -> BotMessage:
        chat.last_message_id += 1
        payload = {
            "message_id": chat.last_message_id,
            "from": self.bot.to_json(),
            "chat": chat.to_json(),
            "date": self.now(),
            **content,
        }
        if reply_to is not None:
            payload["reply_to_message"] = _without_reply(reply_to.payload)
        if reply_markup and "inline_keyboard" in reply_markup:
            payload["reply_markup"] = reply_markup
        message = BotMessage(
            message_id=chat.last_message_id,
            chat_id=chat.id,
            method=method,
            payload=payload,
            raw_text=raw_text,
            parse_mode=parse_mode,
            reply_markup=reply_markup,
            sent_at=self.clock(),
            forwarded="forward_origin" in content,
            copied_from=copied_from,
        )
        chat.messages[message.message_id] = message
        chat.bot_messages.append(message)
        _remember_reply_keyboard(chat, reply_markup)
        chat.activity.notify()
        return message

    def apply_edit(
        self,
        message: BotMessage,
        content: dict[str, Any],
        *,
        raw_text: str | None,
        parse_mode: str | None,
        reply_markup: dict[str, Any] | None,
    ) -> None:
        message.edits.append(dataclasses.replace(message, edits=[]))
        payload = {**message.payload, **content, "edit_date": self.now()}
        payload["reply_markup"] = reply_markup if reply_markup else None
        message.payload = {key: value for key, value in payload.items() if value is not None}
        message.raw_text = raw_text
        message.parse_mode = parse_mode
        message.reply_markup = reply_markup
        self.chats[message.chat_id].activity.notify()

    def delete_message(self, chat: ChatRecord, message: BotMessage | UserMessage) -> None:
        message.deleted = True
        chat.activity.notify()

    def answer_callback(self, query: CallbackQueryRecord, answer: CallbackAnswer) -> None:
        query.answer = answer
        self.chats[query.message.chat_id].activity.notify()

    def store_user_message(
        self, user: UserRecord, chat: ChatRecord, content: dict[str, Any]
    ) -> UserMessage:
        chat.last_message_id += 1
        payload = {
            "message_id": chat.last_message_id,
            "from": user.to_json(),
            "chat": chat.to_json(),
            "date": self.now(),
            **content,
        }
        message = UserMessage(payload, user)
        chat.messages[message.message_id] = message
        if chat.type == "private":
            chat.started = True
        _hide_one_time_keyboard(chat, content.get("text"))
        return message

    def inject_message(
        self, user: UserRecord, chat: ChatRecord, content: dict[str, Any]
    ) -> dict[str, Any]:
        message = self.store_user_message(user, chat, content)
        self.updates.put("message", message.payload)
        return message.payload

    def inject_edit(
        self, user: UserRecord, chat: ChatRecord, message_id: int, content: dict[str, Any]
    ) -> dict[str, Any]:
        """The person edits a message they sent: the bot gets the whole message again, as
        `edited_message`, with the new content (None values removed) and an `edit_date`."""
        message = chat.live_message(message_id)
        if not isinstance(message, UserMessage) or message.sender.id != user.id:
            raise AssertionError(f"{user.first_name} sent no message {message_id} in this chat to edit")
        edited = {**message.payload, **content, "edit_date": self.now()}
        message.payload = {key: value for key, value in edited.items() if value is not None}
        self.updates.put("edited_message", message.payload)
        return message.payload

    def inject_callback(
        self, user: UserRecord, message: BotMessage, data: str
    ) -> CallbackQueryRecord:
        query = CallbackQueryRecord(
            id=str(next(self._callback_ids)),
            user=user,
            message=message,
            data=data,
            created_at=self.clock(),
        )
        self.callback_queries[query.id] = query
        body = {
            "id": query.id,
            "from": user.to_json(),
            "message": message.payload,
            "chat_instance": str(abs(message.chat_id) * 7919),
            "data": data,
        }
        self.updates.put("callback_query", body)
        return query

    # -- waiting -------------------------------------------------------------------------------

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Waits (without polling) until `predicate` holds after some change."""
        return await self.changed.wait_until(predicate, timeout)


def _without_reply(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key != "reply_to_message"}


def _remember_reply_keyboard(chat: ChatRecord, markup: dict[str, Any] | None) -> None:
    if markup is None:
        return
    if "keyboard" in markup:
        chat.reply_keyboard = markup
    elif markup.get("remove_keyboard"):
        chat.reply_keyboard = None


def _hide_one_time_keyboard(chat: ChatRecord, text: str | None) -> None:
    keyboard = chat.reply_keyboard
    if keyboard is None or not keyboard.get("one_time_keyboard") or text is None:
        return
    if any(text in row for row in button_texts(keyboard, "keyboard")):
        chat.reply_keyboard = None


def _file_suffix(kind: str, file_name: str | None, mime_type: str | None) -> str:
    if kind == "photo":
        return ".jpg"  # Telegram re-encodes every photo as JPEG.
    if file_name and "." in file_name:
        return "." + file_name.rsplit(".", 1)[1]
    guessed = mimetypes.guess_extension(mime_type) if mime_type else None
    return guessed or {"voice": ".oga", "video": ".mp4"}.get(kind, "")
