"""What people can throw at the bot, as hypothesis strategies, and how a simulated person does it.

Every kind of update the local Bot API server can produce is here: texts (any Unicode: emoji,
right-to-left and control characters, 4,096 characters and more), commands, photos, documents,
locations, contacts (one's own or someone else's), stickers, voice messages, videos, edits of what
was sent before, presses of the buttons on screen, and presses with data no button carries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from local_botapi import SimUser
from tests.conftest import LiveBot

ANSWER_SECONDS = 5.0

# Letters that trouble text handling: emoji (with joiners and skin tones), right-to-left scripts and
# marks, zero-width and control characters, combining marks, and digits that are not ASCII.
AWKWARD = (
    "👍🏽", "👨‍👩‍👧", "🇨🇳", "😀", "\u200b", "\u200d", "\u202e", "\u2066", "\ufeff", "\x00", "\x07", "\x1b",
    "\r", "\n", "\t", "مرحبا", "שלום", "é", "e\u0301", "²", "٣", "߁", "𝟘", "&lt;", "<b>", "</i>", "%s", "{number}",
)

awkward_text = st.lists(st.one_of(st.sampled_from(AWKWARD), st.text(min_size=1, max_size=6)), min_size=1, max_size=12).map("".join)
# Longer than Telegram's 4,096 characters for a message, built by repetition so it is quick to draw.
long_text = st.builds(
    lambda piece, length: (piece * (length // len(piece) + 1))[:length],
    st.text(min_size=1, max_size=4).filter(str.strip),
    st.integers(4_096, 9_000),
)
any_text = st.one_of(st.text(min_size=1, max_size=80), awkward_text, long_text).filter(lambda text: text.strip() != "")
commands = st.one_of(
    st.sampled_from(
        ["/start", "/help", "/cancel", "/report", "/status", "/mytickets", "/appraise", "/mytasks", "/stats", "/task",
         "/triage", "/ranking", "/ledger", "/register", "/bind_group", "/start appraise_xishan_station",
         "/start appraise_nowhere", "/status KM-20261123-0001", "/register NOTACODE", "/task KM-1"]
    ),
    st.builds(lambda name, rest: f"/{name} {rest}".strip(), st.from_regex(r"[a-z_]{1,12}", fullmatch=True), any_text),
)
# Callback data as a modified client could send it (Telegram carries 1-64 bytes).
callback_data = st.one_of(
    st.text(min_size=1, max_size=64),
    st.builds("{}:{}".format, st.sampled_from(
        ["task", "survey", "ext", "pick", "days", "kind", "hotline", "faq", "dup", "menu", "rate", "score", "unit",
         "comment", "status"]
    ), st.one_of(st.text(max_size=20), st.sampled_from(["sign:1", "reply:1", "1:approve", "99:satisfied", "²", "٣",
                                                            "sign:²", "confirm", "hotline", "-1", "0", "1:x:y"]))),
).filter(lambda data: 1 <= len(data.encode("utf-8")) <= 64)


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Photo:
    caption: str | None


@dataclass(frozen=True)
class Document:
    file_name: str
    caption: str | None


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Contact:
    phone_number: str
    own: bool


@dataclass(frozen=True)
class Sticker:
    emoji: str


@dataclass(frozen=True)
class Voice:
    duration: int


@dataclass(frozen=True)
class Video:
    caption: str | None


@dataclass(frozen=True)
class Edit:
    """Edits one of the person's earlier messages (`which` counts back from the newest)."""

    which: int
    text: str


@dataclass(frozen=True)
class Press:
    """Presses one of the buttons on the newest message that has any (`which` picks it)."""

    which: int


@dataclass(frozen=True)
class Forge:
    """Presses the newest message with data no button of it carries."""

    data: str


@dataclass(frozen=True)
class Tamper:
    """Presses one of the buttons on the newest message that has any, with its data's tail replaced:
    `kind:complaint` becomes `kind:<tail>`."""

    which: int
    tail: str


Input = Say | Photo | Document | Location | Contact | Sticker | Voice | Video | Edit | Press | Forge | Tamper

captions = st.none() | any_text.map(lambda text: text[:1024])
inputs: st.SearchStrategy[Input] = st.one_of(
    st.builds(Say, st.one_of(any_text, commands)),
    st.builds(Photo, captions),
    st.builds(Document, st.one_of(st.just("证据.pdf"), st.text(min_size=1, max_size=30)), captions),
    st.builds(Location, st.floats(-90, 90), st.floats(-180, 180)),
    st.builds(Contact, st.from_regex(r"\+?[0-9]{5,15}", fullmatch=True), st.booleans()),
    st.builds(Sticker, st.sampled_from(["👍", "😀", "🐼"])),
    st.builds(Voice, st.integers(1, 600)),
    st.builds(Video, captions),
    st.builds(Edit, st.integers(0, 5), any_text),
    st.builds(Press, st.integers(0, 20)),
    st.builds(Forge, callback_data),
    st.builds(Tamper, st.integers(0, 20), st.one_of(st.text(max_size=12), st.sampled_from(["²", "٣", "-1", "0", "99999", "x:y"]))),
)


@dataclass
class Done:
    """What became of one input: whether it was a press, and whether the bot answered it."""

    press: Any = None  # the local server's Press, for a press


async def perform(bot: LiveBot, person: SimUser, sent: list[dict[str, Any]], thing: Input) -> Done | None:
    """Does `thing` as `person`; None when it cannot be done (nothing to press or to edit)."""
    match thing:
        case Say(text):
            sent.append(await person.send(text))
        case Photo(caption):
            sent.append(await person.send_photo(caption))
        case Document(file_name, caption):
            sent.append(await person.send_document(file_name, caption=caption))
        case Location(latitude, longitude):
            sent.append(await person.send_location(latitude, longitude))
        case Contact(phone_number, own):
            if own:
                sent.append(await person.send_contact(phone_number))
            else:  # someone else's card: another user id
                sent.append(await person.send_raw(contact={"phone_number": phone_number, "first_name": "某人", "user_id": 1}))
        case Sticker(emoji):
            sent.append(await person.send_sticker(emoji))
        case Voice(duration):
            sent.append(await person.send_voice(duration))
        case Video(caption):
            sent.append(await person.send_video(caption=caption))
        case Edit(which, text):
            editable = [message for message in sent if "text" in message or "caption" in message]
            if not editable:
                return None
            await person.edit(editable[-1 - which % len(editable)], text)
        case Press(which):
            return await _press_a_button(person, which, lambda data: data)
        case Tamper(which, tail):
            return await _press_a_button(person, which, lambda data: f"{data.split(':', 1)[0]}:{tail}"[:64])
        case Forge(data):
            live = [m for m in person.messages if not m.deleted]
            if not live:
                return None
            return Done(await person.press_data(data, message=live[-1]))
    return Done()


async def _press_a_button(person: SimUser, which: int, change: Callable[[str], str]) -> Done | None:
    with_buttons = [m for m in person.messages if not m.deleted and m.buttons]
    if not with_buttons:
        return None
    newest = with_buttons[-1]
    data = [
        button["callback_data"]
        for row in (newest.reply_markup or {}).get("inline_keyboard", [])
        for button in row
        if "callback_data" in button
    ]
    if not data:
        return None
    changed = change(data[which % len(data)])
    if not 1 <= len(changed.encode("utf-8")) <= 64:
        return None
    return Done(await person.press_data(changed, message=newest))


async def answered(bot: LiveBot, person: SimUser, thing: Input, done: Done, seen: int) -> None:
    """The bot answered this input: a press is answered; a message gets a message back."""
    if done.press is not None:
        await done.press.answered(timeout=ANSWER_SECONDS)
        return
    await bot.api.wait_for(
        lambda: len(person.messages) > seen, timeout=ANSWER_SECONDS, what=f"an answer to {thing!r}\n{person.transcript()}"
    )
