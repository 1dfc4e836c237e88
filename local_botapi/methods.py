"""Bot API method handlers: parameters in, the method's `result` out, or an ApiError."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from local_botapi import errors
from local_botapi.content import (
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    parse_reply_markup,
    render_text,
    utf16_len,
)
from local_botapi.errors import bad_request, forbidden
from local_botapi.params import Params, Upload
from local_botapi.state import (
    BotMessage,
    CallbackAnswer,
    ChatRecord,
    ServerState,
    StoredFile,
    UserMessage,
)
from local_botapi.traffic import RateLimiter

Handler = Callable[["BotApiMethods", Params], Awaitable[Any]]

_HANDLERS: dict[str, tuple[str, Handler]] = {}

_MEDIA_KEYS = ("photo", "document", "video", "voice", "audio", "animation")
_COPYABLE_KEYS = (
    "text",
    "entities",
    "caption",
    "caption_entities",
    "location",
    "venue",
    "contact",
    "sticker",
    "video_note",
    *_MEDIA_KEYS,
)
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


def api_method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _HANDLERS[name.lower()] = (name, handler)
        return handler

    return register


def canonical_name(method: str) -> str | None:
    """Method names are case-insensitive on the real server; None for unknown methods."""
    entry = _HANDLERS.get(method.lower())
    return entry[0] if entry else None


class BotApiMethods:
    def __init__(self, state: ServerState, limiter: RateLimiter) -> None:
        self.state = state
        self.limiter = limiter

    async def call(self, method: str, params: Params) -> Any:
        _, handler = _HANDLERS[method.lower()]
        return await handler(self, params)

    # -- bot and transport ---------------------------------------------------------------------

    @api_method("getMe")
    async def get_me(self, p: Params) -> Any:
        return {
            **self.state.bot.to_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    @api_method("logOut")
    async def log_out(self, p: Params) -> Any:
        return True

    @api_method("close")
    async def close(self, p: Params) -> Any:
        return True

    @api_method("setWebhook")
    async def set_webhook(self, p: Params) -> Any:
        url = p.text("url") or ""
        if not url:  # as on the real server, an empty URL removes the webhook
            return await self.delete_webhook(p)
        if not url.startswith(("https://", "http://")):
            # The real server wants HTTPS; this fake also delivers over plain HTTP to loopback.
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.text("secret_token") or ""
        if secret and not _SECRET_TOKEN_RE.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = p.integer("max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        allowed = p.json("allowed_updates")
        if isinstance(allowed, list):
            self.state.updates.allowed_updates = frozenset(allowed) if allowed else None
        if p.flag("drop_pending_updates"):
            self.state.updates.drop_pending()
        if url != self.state.webhook_url:
            self.state.webhook_last_error = None
        self.state.webhook_url = url
        self.state.webhook_secret = secret
        self.state.webhook_max_connections = max_connections
        return True

    @api_method("deleteWebhook")
    async def delete_webhook(self, p: Params) -> Any:
        self.state.webhook_url = ""
        self.state.webhook_secret = ""
        self.state.webhook_last_error = None
        if p.flag("drop_pending_updates"):
            self.state.updates.drop_pending()
        return True

    @api_method("getWebhookInfo")
    async def get_webhook_info(self, p: Params) -> Any:
        info: dict[str, Any] = {
            "url": self.state.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": self.state.updates.pending_count,
        }
        if self.state.webhook_url:
            info["max_connections"] = self.state.webhook_max_connections
            if self.state.updates.allowed_updates is not None:
                info["allowed_updates"] = sorted(self.state.updates.allowed_updates)
        if self.state.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self.state.webhook_last_error
        return info

    @api_method("getUpdates")
    async def get_updates(self, p: Params) -> Any:
        if self.state.webhook_url:
            raise errors.conflict(errors.WEBHOOK_ACTIVE_CONFLICT)
        limit = p.integer("limit") or 100
        allowed = p.json("allowed_updates")
        return await self.state.updates.poll(
            offset=p.integer("offset"),
            limit=min(max(limit, 1), 100),
            timeout=max(p.number("timeout") or 0.0, 0.0),
            allowed=allowed if isinstance(allowed, list) else None,
        )

    # -- sending -------------------------------------------------------------------------------

    @api_method("sendMessage")
    async def send_message(self, p: Params) -> Any:
        chat = self._writable_chat(p)
        content = _text_content(p)
        message = await self._deliver(chat, "sendMessage", content, p, raw_text=p.text("text"))
        return message.payload

    @api_method("sendPhoto")
    async def send_photo(self, p: Params) -> Any:
        chat = self._writable_chat(p)
        photo = self._input_file(p, "photo", kind="photo")
        content = {"photo": photo.as_photo(), **_caption_content(p)}
        message = await self._deliver(chat, "sendPhoto", content, p, raw_text=p.text("caption"))
        return message.payload

    @api_method("sendDocument")
    async def send_document(self, p: Params) -> Any:
        chat = self._writable_chat(p)
        document = self._input_file(p, "document", kind="document")
        content = {"document": document.as_document(), **_caption_content(p)}
        message = await self._deliver(chat, "sendDocument", content, p, raw_text=p.text("caption"))
        return message.payload

    @api_method("sendLocation")
    async def send_location(self, p: Params) -> Any:
        chat = self._writable_chat(p)
        latitude = p.number("latitude", required=True)
        longitude = p.number("longitude", required=True)
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise bad_request("wrong coordinates")
        content = {"location": {"latitude": latitude, "longitude": longitude}}
        message = await self._deliver(chat, "sendLocation", content, p)
        return message.payload

    @api_method("copyMessage")
    async def copy_message(self, p: Params) -> Any:
        source = self._source_message(p, missing="message to copy not found")
        chat = self._writable_chat(p)
        content = _copyable_content(source.payload)
        if not content:
            raise bad_request("message can't be copied")
        raw_text = content.get("text", content.get("caption"))
        if p.has("caption") and any(key in content for key in _MEDIA_KEYS):
            content.update(_caption_content(p))
            raw_text = p.text("caption")
        message = await self._deliver(
            chat,
            "copyMessage",
            content,
            p,
            raw_text=raw_text,
            copied_from=(int(source.payload["chat"]["id"]), source.message_id),
        )
        return {"message_id": message.message_id}

    @api_method("forwardMessage")
    async def forward_message(self, p: Params) -> Any:
        source = self._source_message(p, missing="message to forward not found")
        chat = self._writable_chat(p)
        content = _copyable_content(source.payload)
        content["forward_origin"] = source.payload.get("forward_origin") or {
            "type": "user",
            "sender_user": source.payload["from"],
            "date": source.payload["date"],
        }
        raw_text = content.get("text", content.get("caption"))
        message = await self._deliver(chat, "forwardMessage", content, p, raw_text=raw_text)
        return message.payload

    @api_method("sendChatAction")
    async def send_chat_action(self, p: Params) -> Any:
        self._writable_chat(p)
        if p.text("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    # -- editing -------------------------------------------------------------------------------

    @api_method("editMessageText")
    async def edit_message_text(self, p: Params) -> Any:
        message = self._editable_message(p)
        if "text" not in message.payload:
            raise bad_request("there is no text in the message to edit")
        return await self._edit(message, _text_content(p), p, raw_text=p.text("text"))

    @api_method("editMessageCaption")
    async def edit_message_caption(self, p: Params) -> Any:
        message = self._editable_message(p)
        if not any(key in message.payload for key in _MEDIA_KEYS):
            raise bad_request("there is no caption in the message to edit")
        content = _caption_content(p)
        return await self._edit(message, content, p, raw_text=p.text("caption"))

    @api_method("editMessageReplyMarkup")
    async def edit_message_reply_markup(self, p: Params) -> Any:
        message = self._editable_message(p)
        return await self._edit(message, {}, p, raw_text=message.raw_text, keep_format=True)

    @api_method("deleteMessage")
    async def delete_message(self, p: Params) -> Any:
        chat = self._chat(p)
        message = chat.live_message(p.integer("message_id", required=True))
        if message is None:
            raise bad_request("message to delete not found")
        self.state.delete_message(chat, message)
        return True

    @api_method("answerCallbackQuery")
    async def answer_callback_query(self, p: Params) -> Any:
        query_id = p.text("callback_query_id", required=True)
        query = self.state.callback_queries.get(query_id)
        if query is None or query.answer is not None:
            raise bad_request(errors.QUERY_TOO_OLD)
        answer = CallbackAnswer(
            text=p.text("text"),
            show_alert=p.flag("show_alert"),
            url=p.text("url"),
            cache_time=p.integer("cache_time") or 0,
        )
        self.state.answer_callback(query, answer)
        return True

    # -- commands, chats, files ----------------------------------------------------------------

    @api_method("setMyCommands")
    async def set_my_commands(self, p: Params) -> Any:
        commands = p.json("commands")
        if not isinstance(commands, list):
            raise bad_request("commands is empty")
        normalized = [_checked_command(command) for command in commands]
        self.state.commands[_commands_key(p)] = normalized
        return True

    @api_method("getMyCommands")
    async def get_my_commands(self, p: Params) -> Any:
        return self.state.commands.get(_commands_key(p), [])

    @api_method("deleteMyCommands")
    async def delete_my_commands(self, p: Params) -> Any:
        self.state.commands.pop(_commands_key(p), None)
        return True

    @api_method("getChat")
    async def get_chat(self, p: Params) -> Any:
        chat = self._chat(p)
        no_gifts = dict.fromkeys(
            ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription"), False
        )
        return {
            **chat.to_json(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {**no_gifts, "gifts_from_channels": False},
        }

    @api_method("getFile")
    async def get_file(self, p: Params) -> Any:
        stored = self.state.files.get(p.text("file_id", required=True))
        if stored is None:
            raise bad_request("invalid file_id")
        return {**stored.to_json(), "file_path": stored.file_path}

    # -- helpers -------------------------------------------------------------------------------

    def _chat(self, p: Params, name: str = "chat_id") -> ChatRecord:
        chat = self.state.find_chat(p.chat_ref(name))
        if chat is None:
            raise bad_request(errors.CHAT_NOT_FOUND)
        return chat

    def _writable_chat(self, p: Params) -> ChatRecord:
        chat = self._chat(p)
        if chat.type == "private" and chat.blocked:
            raise forbidden(errors.BOT_BLOCKED)
        if chat.type == "private" and not chat.started:
            raise forbidden(errors.CANT_INITIATE)
        return chat

    def _input_file(self, p: Params, name: str, *, kind: str) -> StoredFile:
        value = p.raw(name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = p.raw(value.removeprefix("attach://"))
        if isinstance(value, Upload):
            return self.state.add_file(
                kind, value.data, file_name=value.filename, mime_type=value.content_type
            )
        if value is None:
            raise bad_request(f"there is no {name} in the request")
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            # The fake never fetches URLs; the file simply has no content.
            return self.state.add_file(kind, b"", file_name=value.rsplit("/", 1)[-1] or None)
        stored = self.state.files.get(str(value))
        if stored is None:
            raise bad_request(errors.WRONG_FILE_ID)
        return stored

    def _source_message(self, p: Params, *, missing: str) -> BotMessage | UserMessage:
        source_chat = self._chat(p, "from_chat_id")
        source = source_chat.live_message(p.integer("message_id", required=True))
        if source is None:
            raise bad_request(missing)
        return source

    def _reply_target(self, chat: ChatRecord, p: Params) -> BotMessage | UserMessage | None:
        reply = p.json("reply_parameters")
        if not isinstance(reply, dict):
            reply = {"message_id": p.integer("reply_to_message_id")}
            reply["allow_sending_without_reply"] = p.flag("allow_sending_without_reply")
        if reply.get("message_id") is None:
            return None
        target = chat.live_message(int(reply["message_id"]))
        if target is None and not reply.get("allow_sending_without_reply"):
            raise bad_request("message to be replied not found")
        return target

    async def _deliver(
        self,
        chat: ChatRecord,
        method: str,
        content: dict[str, Any],
        p: Params,
        *,
        raw_text: str | None = None,
        copied_from: tuple[int, int] | None = None,
    ) -> BotMessage:
        reply_markup = parse_reply_markup(p.raw("reply_markup"))
        reply_to = self._reply_target(chat, p)
        self.limiter.admit(chat)
        return self.state.store_bot_message(
            chat,
            method,
            _without_nones(content),
            raw_text=raw_text,
            parse_mode=p.text("parse_mode"),
            reply_markup=reply_markup,
            reply_to=reply_to,
            copied_from=copied_from,
        )

    def _editable_message(self, p: Params) -> BotMessage:
        if p.has("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # Inline mode is not faked.
        chat = self._chat(p)
        if chat.type == "private" and chat.blocked:
            raise forbidden(errors.BOT_BLOCKED)
        message = chat.live_message(p.integer("message_id", required=True))
        if message is None:
            raise bad_request(errors.MESSAGE_TO_EDIT_NOT_FOUND)
        if isinstance(message, UserMessage) or message.payload.get("forward_origin"):
            raise bad_request("message can't be edited")
        if message.reply_markup and "inline_keyboard" not in message.reply_markup:
            raise bad_request("message can't be edited")
        return message

    async def _edit(
        self,
        message: BotMessage,
        content: dict[str, Any],
        p: Params,
        *,
        raw_text: str | None,
        keep_format: bool = False,
    ) -> Any:
        # Like the real server, an edit without reply_markup removes the inline keyboard.
        reply_markup = parse_reply_markup(p.raw("reply_markup"))
        if reply_markup is not None and "inline_keyboard" not in reply_markup:
            raise bad_request("inline keyboard expected")
        if _is_unchanged(message, content, reply_markup):
            raise bad_request(errors.MESSAGE_NOT_MODIFIED)
        self.state.apply_edit(
            message,
            content,
            raw_text=raw_text,
            parse_mode=message.parse_mode if keep_format else p.text("parse_mode"),
            reply_markup=reply_markup,
        )
        return message.payload


def _text_content(p: Params) -> dict[str, Any]:
    raw_text = p.text("text") or ""
    text, entities = render_text(raw_text, p.text("parse_mode"), p.json("entities"))
    if not text.strip():
        raise bad_request(errors.MESSAGE_TEXT_IS_EMPTY)
    if utf16_len(text) > MAX_TEXT_LENGTH:
        raise bad_request(errors.MESSAGE_IS_TOO_LONG)
    return {"text": text, "entities": entities or None}


def _caption_content(p: Params) -> dict[str, Any]:
    raw_caption = p.text("caption") or ""
    caption, entities = render_text(raw_caption, p.text("parse_mode"), p.json("caption_entities"))
    if utf16_len(caption) > MAX_CAPTION_LENGTH:
        raise bad_request(errors.CAPTION_IS_TOO_LONG)
    return {"caption": caption or None, "caption_entities": entities or None}


def _without_nones(content: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in content.items() if value is not None}


def _copyable_content(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: payload[key] for key in _COPYABLE_KEYS if key in payload}


def _is_unchanged(
    message: BotMessage, content: dict[str, Any], reply_markup: dict[str, Any] | None
) -> bool:
    same_content = all(message.payload.get(key) == value for key, value in content.items())
    return same_content and message.payload.get("reply_markup") == reply_markup


def _checked_command(command: Any) -> dict[str, str]:
    if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command", ""))):
        raise bad_request("BOT_COMMAND_INVALID")
    if not str(command.get("description", "")).strip():
        raise bad_request("command description is empty")
    return {"command": str(command["command"]), "description": str(command["description"])}


def _commands_key(p: Params) -> tuple[str, str]:
    scope = p.json("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), p.text("language_code") or ""
