"""Message content rules: HTML formatting, entities, and reply markup validation.

Telegram measures text and entity offsets in UTF-16 code units, and answers
malformed HTML with "can't parse entities"; both are mirrored here so that a
bot which works against the fake does not break on the real server.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any, NoReturn

from local_botapi.errors import bad_request

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
_UNPARSABLE_MARKUP = "can't parse reply keyboard markup JSON object"

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);")
_TAG_NAME_RE = re.compile(r"[a-zA-Z0-9-]*")
_ATTRIBUTE_RE = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def render_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Returns what a person sees (plain text) and the entities describing its formatting."""
    if entities:
        return text, entities
    if parse_mode and parse_mode.upper() == "HTML":
        return parse_html(text)
    return text, []


def command_entities(text: str) -> list[dict[str, Any]]:
    """A client marks a leading /command so that bots (and PTB's CommandHandler) see it."""
    if not text.startswith("/") or len(text) < 2:
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


@dataclass
class _OpenTag:
    name: str
    offset: int
    attributes: dict[str, str]
    language: str | None = None


@dataclass
class _HtmlParser:
    """Telegram's HTML dialect: a handful of tags, four named entities, strict nesting."""

    source: str
    pieces: list[str] = field(default_factory=list)
    length: int = 0
    stack: list[_OpenTag] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        position = 0
        while position < len(self.source):
            char = self.source[position]
            if char == "<":
                position = self._tag(position)
            elif char == "&":
                position = self._entity(position)
            else:
                position = self._plain(position)
        if self.stack:
            self._fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self.pieces), self.entities

    def _emit(self, text: str) -> None:
        self.pieces.append(text)
        self.length += utf16_len(text)

    def _plain(self, position: int) -> int:
        end = position
        while end < len(self.source) and self.source[end] not in "<&":
            end += 1
        self._emit(self.source[position:end])
        return end

    def _entity(self, position: int) -> int:
        match = _ENTITY_RE.match(self.source, position)
        if not match:
            self._emit("&")
            return position + 1
        name = match.group(1)
        if name.startswith("#"):
            self._emit(html.unescape(match.group(0)))
        elif name.lower() in _NAMED_ENTITIES:
            self._emit(_NAMED_ENTITIES[name.lower()])
        else:
            self._emit(match.group(0))  # Telegram leaves unknown named entities as typed.
        return match.end()

    def _tag(self, position: int) -> int:
        end = self.source.find(">", position)
        if end < 0:
            self._fail(f"Unclosed start tag at byte offset {self._byte_offset(position)}")
        body = self.source[position + 1 : end]
        if body.startswith("/"):
            self._close(body[1:].strip().lower(), position)
        else:
            self._open(body, position)
        return end + 1

    def _open(self, body: str, position: int) -> None:
        name_match = _TAG_NAME_RE.match(body)
        name = name_match.group(0).lower() if name_match else ""
        if name not in _SIMPLE_TAGS:
            self._fail(
                f'Unsupported start tag "{name}" at byte offset {self._byte_offset(position)}'
            )
        attributes = {
            match.group(1).lower(): html.unescape(
                next(g for g in match.groups()[1:] if g is not None)
            )
            for match in _ATTRIBUTE_RE.finditer(body[len(name) :])
        }
        self.stack.append(_OpenTag(name, self.length, attributes))

    def _close(self, name: str, position: int) -> None:
        offset = self._byte_offset(position)
        if not self.stack:
            self._fail(f"Unexpected end tag at byte offset {offset}")
        tag = self.stack[-1]
        if tag.name != name:
            self._fail(
                f'Unmatched end tag at byte offset {offset}, expected "</{tag.name}>", '
                f'found "</{name}>"'
            )
        self.stack.pop()
        if self._code_block_language(tag):
            return
        entity = self._entity_for(tag)
        if entity and entity["length"] > 0:
            self.entities.append(entity)

    def _code_block_language(self, tag: _OpenTag) -> bool:
        """`<pre><code class="language-x">` is one pre entity with a language, not two."""
        css_class = tag.attributes.get("class", "")
        parent = self.stack[-1] if self.stack else None
        if tag.name != "code" or parent is None or parent.name != "pre":
            return False
        if not css_class.startswith("language-"):
            return False
        parent.language = css_class.removeprefix("language-")
        return True

    def _entity_for(self, tag: _OpenTag) -> dict[str, Any] | None:
        entity: dict[str, Any] = {
            "type": _SIMPLE_TAGS[tag.name],
            "offset": tag.offset,
            "length": self.length - tag.offset,
        }
        if tag.name == "a":
            if "href" not in tag.attributes:
                return None
            entity["url"] = tag.attributes["href"]
        elif tag.name == "pre" and tag.language:
            entity["language"] = tag.language
        elif tag.name == "blockquote" and "expandable" in tag.attributes:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.attributes.get("emoji-id", "")
        return entity

    def _byte_offset(self, position: int) -> int:
        return len(self.source[:position].encode("utf-8"))

    @staticmethod
    def _fail(reason: str) -> NoReturn:
        raise bad_request(f"can't parse entities: {reason}")


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    return _HtmlParser(source).parse()


def parse_reply_markup(value: Any) -> dict[str, Any] | None:
    """Validates reply_markup like the server does; returns it as a plain dict."""
    if value in (None, ""):
        return None
    markup = _decoded_markup(value)
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup["inline_keyboard"])
    elif "keyboard" in markup:
        markup = {**markup, "keyboard": _normalized_reply_keyboard(markup["keyboard"])}
    elif not {"remove_keyboard", "force_reply"} & markup.keys():
        raise bad_request(_UNPARSABLE_MARKUP)
    return markup


def _decoded_markup(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request(_UNPARSABLE_MARKUP) from None
    if not isinstance(value, dict):
        raise bad_request(_UNPARSABLE_MARKUP)
    return value


def _check_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'can\'t parse inline keyboard button: field "inline_keyboard" of the '
            "InlineKeyboardMarkup must be an Array of Arrays"
        )
    for button in (button for row in rows for button in row):
        if not isinstance(button, dict) or not button.get("text"):
            raise bad_request("can't parse inline keyboard button: Text must be non-empty")
        if not any(action in button for action in _INLINE_BUTTON_ACTIONS):
            raise bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in "
                "the inline keyboard"
            )
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")


def _normalized_reply_keyboard(rows: Any) -> list[list[dict[str, Any]]]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(_UNPARSABLE_MARKUP)
    return [
        [button if isinstance(button, dict) else {"text": str(button)} for button in row]
        for row in rows
    ]


def button_texts(markup: dict[str, Any] | None, kind: str) -> list[list[str]]:
    """The texts of `inline_keyboard` or `keyboard` buttons, row by row."""
    rows = (markup or {}).get(kind) or []
    return [[button["text"] for button in row] for row in rows]
