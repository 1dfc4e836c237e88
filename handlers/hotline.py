"""我要反映: a resident chooses a kind, describes the problem, confirms, and gets a ticket number."""

from __future__ import annotations

import logging
from enum import IntEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ConversationHandler, MessageHandler, filters

from bot.context import BotContext
from domain.tickets import TicketKind
from handlers.start import MENU_HOTLINE
from services.hotline import Submission, TextTooLong, submit_ticket

log = logging.getLogger(__name__)

DRAFT = "hotline_draft"


class Step(IntEnum):
    CHOOSING_KIND = 1
    WRITING = 2
    CONFIRMING = 3


def _kind_keyboard(context: BotContext, update: Update) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(context.text(update, f"kind.{kind.value}"), callback_data=f"kind:{kind.value}")
        for kind in TicketKind
    ]
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]])


def _confirm_keyboard(context: BotContext, update: Update) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(context.text(update, "hotline.confirm"), callback_data="hotline:confirm"),
                InlineKeyboardButton(context.text(update, "hotline.edit"), callback_data="hotline:edit"),
            ],
            [InlineKeyboardButton(context.text(update, "hotline.cancel"), callback_data="hotline:cancel")],
        ]
    )


async def on_start_hotline(update: Update, context: BotContext) -> Step:
    """Starts a new item and asks for its kind."""
    if update.callback_query:
        await update.callback_query.answer()
    context.user_data[DRAFT] = {}
    await update.effective_message.reply_text(
        context.text(update, "hotline.choose_kind"), reply_markup=_kind_keyboard(context, update)
    )
    return Step.CHOOSING_KIND


async def on_kind(update: Update, context: BotContext) -> Step:
    """Stores the kind and asks for the description."""
    query = update.callback_query
    await query.answer()
    kind = TicketKind(query.data.split(":", 1)[1])
    context.user_data.setdefault(DRAFT, {})["kind"] = kind.value
    kind_name = context.text(update, f"kind.{kind.value}")
    await query.edit_message_text(f"{context.text(update, 'hotline.choose_kind')} {kind_name}")
    await update.effective_message.reply_text(context.text(update, "hotline.ask_text", kind=kind_name))
    return Step.WRITING


async def on_text(update: Update, context: BotContext) -> Step:
    """Stores the description and shows the summary to confirm."""
    text = update.effective_message.text.strip()
    limit = context.runtime.settings.tickets.max_text_chars
    if not text:
        await update.effective_message.reply_text(context.text(update, "hotline.empty"))
        return Step.WRITING
    if len(text) > limit:
        await update.effective_message.reply_text(context.text(update, "hotline.too_long", limit=limit))
        return Step.WRITING
    draft = context.user_data.setdefault(DRAFT, {})
    draft["text"] = text
    await update.effective_message.reply_text(
        context.text(update, "hotline.summary", kind=context.text(update, f"kind.{draft['kind']}"), text=text),
        reply_markup=_confirm_keyboard(context, update),
    )
    return Step.CONFIRMING


async def on_not_text(update: Update, context: BotContext) -> Step:
    """Asks for text when something else was sent (attachments come in a later version)."""
    await update.effective_message.reply_text(context.text(update, "hotline.text_only"))
    return Step.WRITING


async def on_confirm(update: Update, context: BotContext) -> int:
    """Creates the ticket and tells the resident its number, department and deadline."""
    query = update.callback_query
    await query.answer()
    draft = context.user_data.get(DRAFT, {})
    rt = context.runtime
    locale = context.locale(update)
    submission = Submission(
        telegram_user_id=update.effective_user.id,
        chat_id=update.effective_chat.id,
        locale=locale,
        kind=draft["kind"],
        text=draft["text"],
    )
    try:
        accepted = await submit_ticket(rt, submission)
    except TextTooLong as error:
        await update.effective_message.reply_text(context.text(update, "hotline.too_long", limit=error.limit))
        return Step.WRITING
    except Exception:
        log.exception("submitting a hotline item failed")
        await update.effective_message.reply_text(context.text(update, "hotline.failed"))
        return Step.CONFIRMING
    await query.edit_message_reply_markup(reply_markup=None)
    key = "hotline.accepted_triage" if accepted.needs_triage else "hotline.accepted"
    await update.effective_message.reply_text(
        context.text(
            update,
            key,
            number=accepted.number,
            department=rt.department_name(locale, accepted.department_code),
            deadline=rt.format_moment(locale, accepted.deadline_at),
        )
    )
    context.user_data.pop(DRAFT, None)
    return ConversationHandler.END


async def on_edit(update: Update, context: BotContext) -> Step:
    """Lets the resident send the description again."""
    query = update.callback_query
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    await update.effective_message.reply_text(context.text(update, "hotline.ask_edit"))
    return Step.WRITING


async def cmd_cancel(update: Update, context: BotContext) -> int:
    """Leaves the conversation without creating anything."""
    if update.callback_query:
        await update.callback_query.answer()
        await update.callback_query.edit_message_reply_markup(reply_markup=None)
    context.user_data.pop(DRAFT, None)
    await update.effective_message.reply_text(context.text(update, "hotline.cancelled"))
    return ConversationHandler.END


def build() -> ConversationHandler:
    private = filters.ChatType.PRIVATE
    return ConversationHandler(
        name="hotline",
        entry_points=[
            CallbackQueryHandler(on_start_hotline, pattern=f"^{MENU_HOTLINE}$"),
            CommandHandler("report", on_start_hotline, private),
        ],
        states={
            Step.CHOOSING_KIND: [CallbackQueryHandler(on_kind, pattern="^kind:")],
            Step.WRITING: [
                MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_text),
                MessageHandler(private & ~filters.COMMAND, on_not_text),
            ],
            Step.CONFIRMING: [
                CallbackQueryHandler(on_confirm, pattern="^hotline:confirm$"),
                CallbackQueryHandler(on_edit, pattern="^hotline:edit$"),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cmd_cancel),
            CallbackQueryHandler(cmd_cancel, pattern="^hotline:cancel$"),
        ],
        allow_reentry=True,
    )
