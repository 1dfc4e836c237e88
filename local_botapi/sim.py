"""Simulated people and chats: how tests and the demo talk to the bot.

Every wait here is on the chat's `activity` signal (woken when the bot sends,
edits, deletes or answers there) with a timeout that only guards against
failure; the single deliberately timed wait is `SimChat.expect_no_message`,
which has to wait to prove a negative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from local_botapi.content import button_texts, command_entities
from local_botapi.state import (
    BotMessage,
    CallbackAnswer,
    ChatRecord,
    ServerState,
    UserMessage,
    UserRecord,
)

# A valid 1×1 PNG: the fake never looks inside files, but a bot might.
TINY_IMAGE = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
FAKE_PDF = b"%PDF-1.4\n% fake document from local_botapi\n%%EOF\n"


@dataclass(frozen=True)
class Press:
    """A callback query a person triggered by pressing an inline button."""

    query_id: str
    data: str
    message: BotMessage
    _state: ServerState = field(repr=False)

    async def answered(self, timeout: float = 5.0) -> CallbackAnswer:
        """Waits until the bot calls answerCallbackQuery for this press."""
        query = self._state.callback_queries[self.query_id]
        chat = self._state.chats[self.message.chat_id]
        if not await chat.activity.wait_until(lambda: query.answer is not None, timeout):
            raise AssertionError(
                f"the bot did not answer the press of {self.data!r} within {timeout}s"
            )
        assert query.answer is not None
        return query.answer


class SimChat:
    """A chat as a person sees it: the bot's messages in order, and the current keyboards."""

    def __init__(self, state: ServerState, chat: ChatRecord) -> None:
        self._state = state
        self._chat = chat
        self._consumed = 0

    @property
    def id(self) -> int:
        return self._chat.id

    @property
    def type(self) -> str:
        return self._chat.type

    @property
    def title(self) -> str:
        return self._chat.title or self._chat.first_name or str(self._chat.id)

    @property
    def messages(self) -> list[BotMessage]:
        """Every message the bot put in this chat, oldest first, edits applied."""
        return list(self._chat.bot_messages)

    @property
    def history(self) -> list[tuple[str, str]]:
        """A readable transcript (sender, text) of what is currently visible, both sides."""
        return [
            (_sender_name(message), describe(message.payload))
            for message in self._chat.messages.values()
            if not message.deleted
        ]

    def transcript(self) -> str:
        return "\n".join(f"  {who}: {text}" for who, text in self.history) or "  (empty)"

    def reply_keyboard_buttons(self) -> list[list[str]]:
        """Texts of the reply keyboard currently shown (empty when none); press one with send()."""
        return button_texts(self._chat.reply_keyboard, "keyboard")

    async def next_message(self, timeout: float = 5.0) -> BotMessage:
        """The oldest bot message in this chat not yet returned by next_message."""
        bot_messages = self._chat.bot_messages
        if not await self._chat.activity.wait_until(
            lambda: len(bot_messages) > self._consumed, timeout
        ):
            raise AssertionError(self._no_message_report(timeout))
        message = bot_messages[self._consumed]
        self._consumed += 1
        return message

    async def expect_no_message(self, within: float = 0.3) -> None:
        """Fails if the bot sends anything new here within `within` seconds (a timed wait)."""
        bot_messages = self._chat.bot_messages
        if await self._chat.activity.wait_until(
            lambda: len(bot_messages) > self._consumed, within
        ):
            unexpected = bot_messages[self._consumed]
            raise AssertionError(
                f"expected no bot message in {self.title!r}, got: {describe(unexpected.payload)}"
            )

    def latest_message_with_button(self, text: str) -> BotMessage:
        for message in reversed(self._chat.bot_messages):
            if not message.deleted and any(text in row for row in message.buttons):
                return message
        raise AssertionError(
            f"no message in {self.title!r} has a button {text!r}.\n{self.transcript()}"
        )

    def _no_message_report(self, timeout: float) -> str:
        failures = [
            f"  {r.method} -> {r.status or 'dropped'} {r.description}"
            for r in self._state.requests
            if r.status != 200 and str(self._chat.id) in {str(v) for v in r.params.values()}
        ]
        return "\n".join(
            [
                f"no new bot message in {self.title!r} (chat {self.id}) within {timeout}s; "
                f"{self._consumed} earlier bot message(s) already consumed.",
                "Transcript:",
                self.transcript(),
                "Failed API calls for this chat:",
                *(failures[-10:] or ["  (none)"]),
            ]
        )


class SimUser(SimChat):
    """A simulated person, who is also their own private chat with the bot (chat id == user id)."""

    def __init__(self, state: ServerState, user: UserRecord, chat: ChatRecord) -> None:
        super().__init__(state, chat)
        self.user = user

    @property
    def first_name(self) -> str:
        return self.user.first_name

    @property
    def username(self) -> str | None:
        return self.user.username

    async def send(self, text: str, *, chat: SimChat | None = None) -> dict[str, Any]:
        """Types `text` (also how a reply-keyboard button is pressed); returns the Message JSON."""
        return await self.send_raw(text=text, entities=command_entities(text) or None, chat=chat)

    async def send_photo(
        self, caption: str | None = None, *, data: bytes = TINY_IMAGE, chat: SimChat | None = None
    ) -> dict[str, Any]:
        photo = self._state.add_file("photo", data)
        return await self.send_raw(photo=photo.as_photo(), caption=caption, chat=chat)

    async def send_document(
        self,
        file_name: str = "document.pdf",
        *,
        mime_type: str | None = None,
        data: bytes = FAKE_PDF,
        caption: str | None = None,
        chat: SimChat | None = None,
    ) -> dict[str, Any]:
        document = self._state.add_file("document", data, file_name=file_name, mime_type=mime_type)
        return await self.send_raw(document=document.as_document(), caption=caption, chat=chat)

    async def send_location(
        self, latitude: float, longitude: float, *, chat: SimChat | None = None
    ) -> dict[str, Any]:
        return await self.send_raw(
            location={"latitude": latitude, "longitude": longitude}, chat=chat
        )

    async def send_contact(
        self, phone_number: str, first_name: str | None = None, *, chat: SimChat | None = None
    ) -> dict[str, Any]:
        """Shares this person's own contact (as the "share my phone number" button does)."""
        contact = {
            "phone_number": phone_number,
            "first_name": first_name or self.user.first_name,
            "user_id": self.user.id,
        }
        if self.user.last_name:
            contact["last_name"] = self.user.last_name
        return await self.send_raw(contact=contact, chat=chat)

    async def send_sticker(
        self, emoji: str = "👍", *, chat: SimChat | None = None
    ) -> dict[str, Any]:
        stored = self._state.add_file("sticker", b"RIFF-fake-webp", mime_type="image/webp")
        sticker = {
            **stored.to_json(),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return await self.send_raw(sticker=sticker, chat=chat)

    async def send_voice(
        self, duration: int = 3, *, chat: SimChat | None = None
    ) -> dict[str, Any]:
        stored = self._state.add_file("voice", b"OggS-fake-voice", mime_type="audio/ogg")
        voice = {**stored.to_json(), "duration": duration, "mime_type": "audio/ogg"}
        return await self.send_raw(voice=voice, chat=chat)

    async def send_video(
        self, duration: int = 5, caption: str | None = None, *, chat: SimChat | None = None
    ) -> dict[str, Any]:
        stored = self._state.add_file("video", b"fake-mp4", mime_type="video/mp4")
        video = {
            **stored.to_json(),
            "width": 1280,
            "height": 720,
            "duration": duration,
            "mime_type": "video/mp4",
        }
        return await self.send_raw(video=video, caption=caption, chat=chat)

    async def send_raw(self, *, chat: SimChat | None = None, **fields: Any) -> dict[str, Any]:
        """Sends a message with arbitrary Message fields (None values are left out)."""
        content = {key: value for key, value in fields.items() if value is not None}
        target = chat._chat if chat is not None else self._chat
        return self._state.inject_message(self.user, target, content)

    async def edit(
        self, message: dict[str, Any], text: str, *, chat: SimChat | None = None
    ) -> dict[str, Any]:
        """Edits a message this person sent (its JSON, as `send` returned it): the text, or the
        caption of a photo, document or video. Returns the edited Message JSON."""
        if "text" in message:
            content: dict[str, Any] = {"text": text, "entities": command_entities(text) or None}
        else:
            content = {"caption": text}
        target = chat._chat if chat is not None else self._chat
        return self._state.inject_edit(self.user, target, int(message["message_id"]), content)

    async def press(
        self, text: str, message: BotMessage | None = None, *, chat: SimChat | None = None
    ) -> Press:
        """Presses the inline button labelled exactly `text`.

        Without `message`, the newest message in `chat` (default: this private
        chat) that has such a button is used.
        """
        target = message or (chat or self).latest_message_with_button(text)
        return await self.press_data(target.button_data(text), message=target)

    async def press_data(self, data: str, message: BotMessage | None = None) -> Press:
        """Sends a callback query with arbitrary data, as a modified client could."""
        target = message or self._latest_live_message()
        if target.deleted:
            raise AssertionError("cannot press a button on a deleted message")
        query = self._state.inject_callback(self.user, target, data)
        return Press(query.id, data, target, self._state)

    def _latest_live_message(self) -> BotMessage:
        live = [message for message in self._chat.bot_messages if not message.deleted]
        if not live:
            raise AssertionError(f"the bot has sent nothing to {self.title!r} to press on")
        return live[-1]


def _sender_name(message: BotMessage | UserMessage) -> str:
    if isinstance(message, UserMessage):
        return message.sender.first_name
    return str(message.payload["from"]["first_name"])


def describe(payload: dict[str, Any]) -> str:
    """One line (plus a line of inline buttons) describing a message the way a person sees it."""
    parts = [_content_summary(payload)]
    if payload.get("forward_origin"):
        parts.insert(0, "[forwarded]")
    text = " ".join(part for part in parts if part)
    buttons = button_texts(payload.get("reply_markup"), "inline_keyboard")
    if buttons:
        text += "\n    " + " ".join(f"[{label}]" for row in buttons for label in row)
    return text


def _content_summary(payload: dict[str, Any]) -> str:
    caption = payload.get("caption") or ""
    if "text" in payload:
        return str(payload["text"])
    if "photo" in payload:
        return f"[photo] {caption}".strip()
    if "document" in payload:
        return f"[document {payload['document'].get('file_name', '')}] {caption}".strip()
    if "location" in payload:
        location = payload["location"]
        return f"[location {location['latitude']}, {location['longitude']}]"
    if "contact" in payload:
        contact = payload["contact"]
        return f"[contact {contact['first_name']} {contact['phone_number']}]"
    if "sticker" in payload:
        return f"[sticker {payload['sticker'].get('emoji', '')}]"
    if "voice" in payload:
        return f"[voice {payload['voice']['duration']}s]"
    if "video" in payload:
        return f"[video] {caption}".strip()
    return "[" + ", ".join(key for key in payload if key not in _ENVELOPE_KEYS) + "]"


_ENVELOPE_KEYS = {"message_id", "from", "chat", "date", "edit_date", "reply_markup"}
