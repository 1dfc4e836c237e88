"""An officer works a task card: 签收 sign for, 回复 reply to the resident, 办结 close with a result."""

from __future__ import annotations

from enum import IntEnum

from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler, ConversationHandler, MessageHandler, filters

from bot.context import BotContext
from services.cards import parse_callback, task_card_text, task_keyboard
from services.tasks import TaskRefused, check_can_reply, close_ticket, reply_to_resident, sign_for

WORKING_ON = "task_ticket_id"


class Step(IntEnum):
    AWAITING_REPLY = 1
    AWAITING_RESULT = 2


async def _refuse(update: Update, context: BotContext, refusal: TaskRefused) -> int:
    await update.callback_query.answer(context.text(update, refusal.reason), show_alert=True)
    return ConversationHandler.END


async def _refresh_card(update: Update, context: BotContext, outcome_ticket, officer_name: str | None) -> None:
    rt = context.runtime
    locale = context.locale(update)
    markup = task_keyboard(rt, locale, outcome_ticket)
    try:
        await update.callback_query.edit_message_text(
            task_card_text(rt, locale, outcome_ticket, officer_name),
            reply_markup=InlineKeyboardMarkup.de_json(markup, context.bot) if markup else None,
        )
    except BadRequest as error:  # the card already shows this state
        if "not modified" not in str(error):
            raise


async def on_task_button(update: Update, context: BotContext) -> int:
    """Routes a task-card button to its action; callback data only names, the database decides."""
    query = update.callback_query
    parsed = parse_callback(query.data or "")
    if parsed is None:
        return await _refuse(update, context, TaskRefused("task.wrong_state"))
    action, ticket_id = parsed
    rt = context.runtime
    try:
        if action == "sign":
            outcome = await sign_for(rt, ticket_id, update.effective_user.id)
            await query.answer(context.text(update, "task.signed"))
            await _refresh_card(update, context, outcome.ticket, outcome.officer.display_name)
            return ConversationHandler.END
        if action in ("reply", "close"):
            outcome = await check_can_reply(rt, ticket_id, update.effective_user.id)
        else:
            raise TaskRefused("task.wrong_state")
    except TaskRefused as refusal:
        return await _refuse(update, context, refusal)
    await query.answer()
    context.user_data[WORKING_ON] = ticket_id
    prompt = "task.ask_reply" if action == "reply" else "task.ask_result"
    await update.effective_message.reply_text(context.text(update, prompt, number=outcome.ticket.number))
    return Step.AWAITING_REPLY if action == "reply" else Step.AWAITING_RESULT


async def on_reply_text(update: Update, context: BotContext) -> int:
    """Relays the typed reply to the resident."""
    ticket_id = context.user_data.pop(WORKING_ON, None)
    try:
        outcome = await reply_to_resident(context.runtime, ticket_id, update.effective_user.id, update.effective_message.text)
    except TaskRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        return ConversationHandler.END
    await update.effective_message.reply_text(context.text(update, "task.replied", number=outcome.ticket.number))
    return ConversationHandler.END


async def on_result_text(update: Update, context: BotContext) -> int:
    """Closes the ticket with the typed result."""
    ticket_id = context.user_data.get(WORKING_ON)
    try:
        outcome = await close_ticket(context.runtime, ticket_id, update.effective_user.id, update.effective_message.text)
    except TaskRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        return Step.AWAITING_RESULT if refusal.reason == "task.result_required" else ConversationHandler.END
    context.user_data.pop(WORKING_ON, None)
    await update.effective_message.reply_text(context.text(update, "task.closed", number=outcome.ticket.number))
    return ConversationHandler.END


async def on_not_text(update: Update, context: BotContext) -> None:
    """Asks for text; the officer stays where they were."""
    await update.effective_message.reply_text(context.text(update, "task.text_only"))


async def cmd_cancel(update: Update, context: BotContext) -> int:
    """Stops replying or closing without changing the ticket."""
    context.user_data.pop(WORKING_ON, None)
    await update.effective_message.reply_text(context.text(update, "task.cancelled"))
    return ConversationHandler.END


def build() -> ConversationHandler:
    private_text = filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND
    not_text = filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.COMMAND
    return ConversationHandler(
        name="task_card",
        entry_points=[CallbackQueryHandler(on_task_button, pattern="^task:")],
        states={
            Step.AWAITING_REPLY: [MessageHandler(private_text, on_reply_text), MessageHandler(not_text, on_not_text)],
            Step.AWAITING_RESULT: [MessageHandler(private_text, on_result_text), MessageHandler(not_text, on_not_text)],
        },
        fallbacks=[CommandHandler("cancel", cmd_cancel)],
        allow_reentry=True,
    )
