"""我要反映: a resident chooses a kind, describes the problem (text, photos, files, location), confirms, gets a number.

The draft lives in ``user_data`` as JSON, so a restart in the middle loses nothing:
``{"kind", "parts": [text, …], "attachments": [Attachment.to_json(), …], "anonymous", "phone", "name",
"summary_id", "faq_declined", "duplicate_declined", "duplicate"}``.
"""

from __future__ import annotations

import logging
import uuid
from enum import IntEnum
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.context import BotContext
from domain.tickets import TicketKind
from handlers.guards import tools
from handlers.start import MENU_HOTLINE
from services.hotline import (
    Accepted,
    Attachment,
    Duplicate,
    Submission,
    TextTooLong,
    add_to_ticket,
    submit_ticket,
    submit_unless_duplicate,
)
from storage.persistence import SharedConversationHandler

log = logging.getLogger(__name__)


async def _take_buttons_away(update: Update) -> None:
    """Answers the pressed button and removes the keyboard, so it cannot be pressed twice."""
    await update.callback_query.answer()
    await _remove_buttons(update.callback_query)


async def _remove_buttons(query: CallbackQuery) -> None:
    """Removes the keyboard; one already gone (this press is handled a second time) is fine."""
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise

DRAFT = "hotline_draft"
ATTACHABLE = filters.PHOTO | filters.Document.ALL | filters.LOCATION


class Step(IntEnum):
    CHOOSING_KIND = 1
    WRITING = 2
    CONFIRMING = 3  # kept so conversations persisted by the first version still resume
    SHARING_PHONE = 4
    FAQ_OFFERED = 5
    DUPLICATE_OFFERED = 6


# --- the draft (plain JSON) -------------------------------------------------------------------


def _draft(context: BotContext) -> dict[str, Any]:
    return context.user_data.setdefault(DRAFT, {})


def _save(context: BotContext, draft: dict[str, Any]) -> None:
    context.user_data[DRAFT] = draft  # reassigned, so the persistence sees a change


def _description(draft: dict[str, Any]) -> str:
    return "\n".join(draft.get("parts", []))


def attachment_of(message: Message) -> Attachment | None:
    if message.photo:
        photo = message.photo[-1]  # the largest size
        return Attachment(
            "photo", message.message_id, photo.file_id, photo.file_unique_id, file_size=photo.file_size,
            caption=message.caption,
        )
    if message.document:
        document = message.document
        return Attachment(
            "document", message.message_id, document.file_id, document.file_unique_id, document.file_name,
            document.mime_type, document.file_size, message.caption,
        )
    if message.location:
        location = message.location
        return Attachment(
            "location", message.message_id, latitude=location.latitude, longitude=location.longitude
        )
    return None


def _add(context: BotContext, message: Message) -> str | None:
    """Adds the message to the draft; returns the text key of a problem, or None when it was added."""
    draft = _draft(context)
    settings = context.runtime.settings
    text = (message.text or message.caption or "").strip()
    attachment = attachment_of(message)
    if attachment is None and not text:
        return "hotline.empty"
    if len(_description(draft)) + len(text) + 1 > settings.tickets.max_text_chars:
        return "hotline.too_long"
    if attachment is not None:
        if len(draft.get("attachments", [])) >= settings.resident.max_attachments:
            return "hotline.too_many_files"
        draft.setdefault("attachments", []).append(attachment.to_json())
    if text:
        draft.setdefault("parts", []).append(text)
    _save(context, draft)
    return None


def keep_quietly(update: Update, context: BotContext) -> bool:
    """Adds a message refused by the flood limit to a description in progress, without answering it."""
    draft = context.user_data.get(DRAFT)
    if not draft or "kind" not in draft or update.effective_message is None:
        return False
    return _add(context, update.effective_message) is None


# --- rendering -------------------------------------------------------------------------------


def _kind_keyboard(context: BotContext, update: Update) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(context.text(update, f"kind.{kind.value}"), callback_data=f"kind:{kind.value}")
        for kind in TicketKind
    ]
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]])


def _summary_keyboard(context: BotContext, update: Update, draft: dict[str, Any]) -> InlineKeyboardMarkup:
    contact_row = [
        InlineKeyboardButton(
            context.text(update, "hotline.real_name" if draft.get("anonymous") else "hotline.anonymous"),
            callback_data="hotline:anonymous",
        )
    ]
    if not draft.get("anonymous"):
        contact_row.append(InlineKeyboardButton(context.text(update, "hotline.phone"), callback_data="hotline:phone"))
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(context.text(update, "hotline.confirm"), callback_data="hotline:confirm"),
                InlineKeyboardButton(context.text(update, "hotline.edit"), callback_data="hotline:edit"),
            ],
            contact_row,
            [InlineKeyboardButton(context.text(update, "hotline.cancel"), callback_data="hotline:cancel")],
        ]
    )


def _summary_text(context: BotContext, update: Update, draft: dict[str, Any]) -> str:
    text = _description(draft) or context.text(update, "hotline.no_text_yet")
    lines = [context.text(update, "hotline.summary", kind=context.text(update, f"kind.{draft['kind']}"), text=text)]
    if draft.get("attachments"):
        lines.append(context.text(update, "hotline.summary_files", count=len(draft["attachments"])))
    if draft.get("anonymous"):
        lines.append(context.text(update, "hotline.summary_anonymous"))
    elif draft.get("phone"):
        lines.append(context.text(update, "hotline.summary_phone", phone=draft["phone"]))
    return "\n".join(lines)


async def _show_summary(update: Update, context: BotContext) -> Step:
    """Sends the running summary (the previous one loses its buttons) and keeps collecting."""
    draft = _draft(context)
    old = draft.get("summary_id")
    if old:
        try:
            await context.bot.edit_message_reply_markup(update.effective_chat.id, old, reply_markup=None)
        except TelegramError:
            pass  # already gone or unchanged: nothing to tidy
    sent = await context.bot.send_message(
        update.effective_chat.id,
        _summary_text(context, update, draft),
        reply_markup=_summary_keyboard(context, update, draft),
    )
    draft["summary_id"] = sent.message_id
    _save(context, draft)
    return Step.WRITING


# --- callbacks -------------------------------------------------------------------------------


async def on_start_hotline(update: Update, context: BotContext) -> Step:
    """Starts a new item and asks for its kind."""
    if update.callback_query:
        await update.callback_query.answer()
    context.user_data[DRAFT] = {}
    context.user_data.pop("appraisal", None)  # a half-done appraisal is left behind
    await update.effective_message.reply_text(
        context.text(update, "hotline.choose_kind"), reply_markup=_kind_keyboard(context, update)
    )
    return Step.CHOOSING_KIND


async def on_kind(update: Update, context: BotContext) -> Step:
    """Stores the kind and asks for the description."""
    query = update.callback_query
    await query.answer()
    kind = TicketKind(query.data.split(":", 1)[1])
    # The key names this draft to submit_ticket: handling 确认提交 twice (Telegram sends an update
    # again when a worker died before answering it) gives back the same ticket.
    _save(context, {"kind": kind.value, "parts": [], "attachments": [], "key": uuid.uuid4().hex})
    kind_name = context.text(update, f"kind.{kind.value}")
    await query.edit_message_text(f"{context.text(update, 'hotline.choose_kind')} {kind_name}")
    await update.effective_message.reply_text(context.text(update, "hotline.ask_text", kind=kind_name))
    return Step.WRITING


async def on_part(update: Update, context: BotContext) -> Step:
    """Adds a text, photo, document or location to the description and shows the summary so far."""
    problem = _add(context, update.effective_message)
    if problem:
        limit = context.runtime.settings.tickets.max_text_chars
        count = context.runtime.settings.resident.max_attachments
        await update.effective_message.reply_text(context.text(update, problem, limit=limit, count=count))
        return Step.WRITING
    return await _show_summary(update, context)


async def on_not_usable(update: Update, context: BotContext) -> Step:
    """Asks for text, photos, documents or a location when something else was sent."""
    await update.effective_message.reply_text(context.text(update, "hotline.text_only"))
    return Step.WRITING


async def on_toggle_anonymous(update: Update, context: BotContext) -> Step:
    """Switches between a real-name and an anonymous item, in place."""
    query = update.callback_query
    await query.answer()
    draft = _draft(context)
    draft["anonymous"] = not draft.get("anonymous")
    _save(context, draft)
    await query.edit_message_text(
        _summary_text(context, update, draft), reply_markup=_summary_keyboard(context, update, draft)
    )
    return Step.WRITING


async def on_ask_phone(update: Update, context: BotContext) -> Step:
    """Offers Telegram's share-my-phone button."""
    query = update.callback_query
    await query.answer()
    keyboard = ReplyKeyboardMarkup(
        [
            [KeyboardButton(context.text(update, "hotline.share_phone"), request_contact=True)],
            [KeyboardButton(context.text(update, "hotline.skip_phone"))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await update.effective_message.reply_text(context.text(update, "hotline.ask_phone"), reply_markup=keyboard)
    return Step.SHARING_PHONE


async def on_contact(update: Update, context: BotContext) -> Step:
    """Keeps the resident's own phone number and shows the summary again."""
    contact = update.effective_message.contact
    if contact.user_id != update.effective_user.id:
        await update.effective_message.reply_text(context.text(update, "hotline.own_phone_only"))
        return Step.SHARING_PHONE
    draft = _draft(context)
    draft["phone"] = contact.phone_number
    draft["name"] = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    _save(context, draft)
    await update.effective_message.reply_text(
        context.text(update, "hotline.phone_saved"), reply_markup=ReplyKeyboardRemove()
    )
    return await _show_summary(update, context)


async def on_skip_phone(update: Update, context: BotContext) -> Step:
    """Goes back to the summary without a phone number."""
    await update.effective_message.reply_text(
        context.text(update, "hotline.phone_skipped"), reply_markup=ReplyKeyboardRemove()
    )
    return await _show_summary(update, context)


async def on_confirm(update: Update, context: BotContext) -> int:
    """Answers a question from the FAQ, offers a duplicate's open ticket, or creates the ticket."""
    query = update.callback_query
    await query.answer()
    draft = _draft(context)
    text = _description(draft)
    if not text:
        await update.effective_message.reply_text(context.text(update, "hotline.need_text"))
        return Step.WRITING
    await _remove_buttons(query)
    draft["summary_id"] = None
    _save(context, draft)
    return await _finish(update, context)


async def _finish(update: Update, context: BotContext) -> int:
    draft = _draft(context)
    text = _description(draft)
    if draft.get("kind") == TicketKind.QUESTION.value and not draft.get("faq_declined"):
        hit = tools(context).faq.match(text)
        if hit is not None:
            answer = hit.entry.answer_en if context.locale(update) == "en" else hit.entry.answer
            keyboard = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(context.text(update, "faq.solved"), callback_data="faq:solved"),
                        InlineKeyboardButton(context.text(update, "faq.need_help"), callback_data="faq:human"),
                    ]
                ]
            )
            await update.effective_message.reply_text(
                context.text(update, "faq.answer", answer=answer), reply_markup=keyboard
            )
            return Step.FAQ_OFFERED
    return await _submit(update, context)


async def _offer_duplicate(update: Update, context: BotContext, number: str) -> int:
    draft = _draft(context)
    draft["duplicate"] = number
    _save(context, draft)
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(context.text(update, "duplicate.add"), callback_data="dup:add")],
            [InlineKeyboardButton(context.text(update, "duplicate.new"), callback_data="dup:new")],
        ]
    )
    await update.effective_message.reply_text(context.text(update, "duplicate.ask", number=number), reply_markup=keyboard)
    return Step.DUPLICATE_OFFERED


async def _submit(update: Update, context: BotContext) -> int:
    """Files the draft, or offers the resident's open ticket that says nearly the same (unless they
    have said this is something new)."""
    draft = _draft(context)
    rt = context.runtime
    locale = context.locale(update)
    anonymous = bool(draft.get("anonymous"))
    submission = Submission(
        telegram_user_id=update.effective_user.id,
        chat_id=update.effective_chat.id,
        locale=locale,
        kind=draft["kind"],
        text=_description(draft),
        attachments=tuple(Attachment.from_json(item) for item in draft.get("attachments", [])),
        contact_mode="anonymous" if anonymous else "real_name",
        contact_name=None if anonymous else (draft.get("name") or update.effective_user.full_name),
        contact_phone=None if anonymous else draft.get("phone"),
        key=draft.get("key"),
    )
    try:
        if draft.get("duplicate_declined"):
            accepted: Accepted | Duplicate = await submit_ticket(rt, submission)
        else:
            accepted = await submit_unless_duplicate(rt, submission)
    except TextTooLong as error:
        await update.effective_message.reply_text(context.text(update, "hotline.too_long", limit=error.limit))
        return Step.WRITING
    except Exception:
        log.exception("submitting a hotline item failed")
        await update.effective_message.reply_text(context.text(update, "hotline.failed"))
        return await _show_summary(update, context)
    if isinstance(accepted, Duplicate):
        return await _offer_duplicate(update, context, accepted.number)
    key = "hotline.accepted_triage" if accepted.needs_triage else "hotline.accepted"
    context.user_data.pop(DRAFT, None)
    await context.reply_surely(
        update,
        context.text(
            update,
            key,
            number=accepted.number,
            department=rt.department_name(locale, accepted.department_code),
            deadline=rt.format_moment(locale, accepted.deadline_at),
        ),
        what=key,
    )
    return ConversationHandler.END


async def on_faq_solved(update: Update, context: BotContext) -> int:
    """Ends the item: the FAQ answer was enough."""
    await _take_buttons_away(update)
    context.user_data.pop(DRAFT, None)
    await update.effective_message.reply_text(context.text(update, "faq.thanks"))
    return ConversationHandler.END


async def on_faq_needs_human(update: Update, context: BotContext) -> int:
    """Goes on to a ticket: the FAQ answer was not enough."""
    await _take_buttons_away(update)
    draft = _draft(context)
    draft["faq_declined"] = True
    _save(context, draft)
    return await _finish(update, context)


async def on_duplicate_add(update: Update, context: BotContext) -> int:
    """Adds the description and files to the resident's open ticket instead of opening a new one."""
    await _take_buttons_away(update)
    draft = _draft(context)
    number = draft.get("duplicate", "")
    added = await add_to_ticket(
        context.runtime,
        update.effective_user.id,
        update.effective_chat.id,
        number,
        _description(draft),
        tuple(Attachment.from_json(item) for item in draft.get("attachments", [])),
    )
    if not added:  # closed in the meantime: file it as a new item
        draft["duplicate_declined"] = True
        _save(context, draft)
        return await _submit(update, context)
    context.user_data.pop(DRAFT, None)
    await context.reply_surely(update, context.text(update, "duplicate.added", number=number), what="duplicate.added")
    return ConversationHandler.END


async def on_duplicate_new(update: Update, context: BotContext) -> int:
    """Files the description as a new item after all."""
    await _take_buttons_away(update)
    draft = _draft(context)
    draft["duplicate_declined"] = True
    _save(context, draft)
    return await _submit(update, context)


async def on_edit(update: Update, context: BotContext) -> Step:
    """Lets the resident send the description (and files) again."""
    await _take_buttons_away(update)
    draft = _draft(context)
    draft.update(parts=[], attachments=[], summary_id=None)
    _save(context, draft)
    await update.effective_message.reply_text(context.text(update, "hotline.ask_edit"))
    return Step.WRITING


async def cmd_cancel(update: Update, context: BotContext) -> int:
    """Leaves the conversation without creating anything."""
    if update.callback_query:
        await _take_buttons_away(update)
    context.user_data.pop(DRAFT, None)
    await update.effective_message.reply_text(context.text(update, "hotline.cancelled"), reply_markup=ReplyKeyboardRemove())
    return ConversationHandler.END


async def on_timeout(update: Update, context: BotContext) -> None:
    """Tells a resident who went quiet that the unfinished item was put aside."""
    context.user_data.pop(DRAFT, None)
    if update.effective_chat:
        await context.bot.send_message(update.effective_chat.id, context.text(update, "hotline.timed_out"))


def build(timeout_minutes: float | None = None) -> ConversationHandler:
    """The 我要反映 conversation; persistent, so a restart resumes it (its timeout is not persisted)."""
    private = filters.ChatType.PRIVATE
    collecting = [
        MessageHandler(private & (filters.TEXT | ATTACHABLE) & ~filters.COMMAND, on_part),
        MessageHandler(private & ~filters.COMMAND, on_not_usable),
        CallbackQueryHandler(on_confirm, pattern="^hotline:confirm$"),
        CallbackQueryHandler(on_edit, pattern="^hotline:edit$"),
        CallbackQueryHandler(on_toggle_anonymous, pattern="^hotline:anonymous$"),
        CallbackQueryHandler(on_ask_phone, pattern="^hotline:phone$"),
    ]
    return SharedConversationHandler(
        name="hotline",
        persistent=True,
        entry_points=[
            CallbackQueryHandler(on_start_hotline, pattern=f"^{MENU_HOTLINE}$"),
            CommandHandler("report", on_start_hotline, private),
        ],
        states={
            # Only the kinds there are: other data (forged, or an old button) is a stale button.
            Step.CHOOSING_KIND: [CallbackQueryHandler(on_kind, pattern=f"^kind:({'|'.join(TicketKind)})$")],
            Step.WRITING: collecting,
            Step.CONFIRMING: collecting,
            Step.SHARING_PHONE: [
                MessageHandler(private & filters.CONTACT, on_contact),
                MessageHandler(private & ~filters.COMMAND, on_skip_phone),
            ],
            Step.FAQ_OFFERED: [
                CallbackQueryHandler(on_faq_solved, pattern="^faq:solved$"),
                CallbackQueryHandler(on_faq_needs_human, pattern="^faq:human$"),
            ],
            Step.DUPLICATE_OFFERED: [
                CallbackQueryHandler(on_duplicate_add, pattern="^dup:add$"),
                CallbackQueryHandler(on_duplicate_new, pattern="^dup:new$"),
            ],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, on_timeout)],
        },
        fallbacks=[
            CommandHandler("cancel", cmd_cancel),
            CallbackQueryHandler(cmd_cancel, pattern="^hotline:cancel$"),
        ],
        allow_reentry=True,
        conversation_timeout=timeout_minutes * 60 if timeout_minutes else None,
    )
