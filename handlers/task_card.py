"""An officer works a task card: 签收, 回复, 办结, 申请延期, 退单, 转派, 无效, 分派.

Buttons may be pressed in a department group; anything to type then continues in the officer's
private chat, so the conversation is keyed per user, not per chat.
"""

from __future__ import annotations

from enum import IntEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ConversationHandler, MessageHandler, filters

from bot.context import BotContext
from domain.permissions import Do
from services.cards import parse_callback
from services.tasks import (
    TaskRefused,
    assign_from_triage,
    check_allowed,
    close_ticket,
    reply_to_resident,
    request_extension,
    reroute,
    send_back,
    sign_for,
    void_ticket,
)
from storage.persistence import SharedConversationHandler

WORK = "task_work"  # user_data: {"ticket_id", "action", "days"}; JSON-safe so it survives restarts
EXTENSION_DAY_CHOICES = (1, 2, 3, 5, 10, 15)


class Step(IntEnum):
    AWAITING_REPLY = 1
    AWAITING_RESULT = 2
    AWAITING_SEND_BACK_REASON = 3
    AWAITING_VOID_REASON = 4
    CHOOSING_DEPARTMENT = 5
    CHOOSING_EXTENSION_DAYS = 6
    AWAITING_EXTENSION_REASON = 7


# Action on the card → (permission, prompt, step) for actions that need more input first.
_PROMPTED = {
    "reply": (Do.REPLY, "task.ask_reply", Step.AWAITING_REPLY),
    "close": (Do.CLOSE, "task.ask_result", Step.AWAITING_RESULT),
    "send_back": (Do.SEND_BACK, "task.ask_send_back_reason", Step.AWAITING_SEND_BACK_REASON),
    "void": (Do.VOID, "task.ask_void_reason", Step.AWAITING_VOID_REASON),
    "reroute": (Do.REROUTE, "task.choose_department", Step.CHOOSING_DEPARTMENT),
    "assign": (Do.ASSIGN, "task.choose_department", Step.CHOOSING_DEPARTMENT),
    "extend": (Do.EXTEND, "task.ask_extension_days", Step.CHOOSING_EXTENSION_DAYS),
}


async def _say(update: Update, context: BotContext, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Writes to the officer privately, wherever the button was pressed."""
    await context.bot.send_message(update.effective_user.id, text, reply_markup=markup)


def _department_keyboard(context: BotContext, update: Update, current: str) -> InlineKeyboardMarkup:
    rt = context.runtime
    locale = context.locale(update)
    choices = [
        code
        for code, department in rt.settings.departments.items()
        if department.receives_tickets and code not in (current, rt.settings.routing.triage_department)
    ]
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(rt.department_name(locale, code), callback_data=f"pick:{code}")] for code in choices]
    )


def _days_keyboard(context: BotContext) -> InlineKeyboardMarkup:
    allowed = [d for d in EXTENSION_DAY_CHOICES if d <= context.runtime.settings.limits.max_extension_days]
    return InlineKeyboardMarkup([[InlineKeyboardButton(str(d), callback_data=f"days:{d}") for d in allowed]])


async def on_task_button(update: Update, context: BotContext) -> int:
    """Routes a card button to its action; callback data only names it, the database decides."""
    query = update.callback_query
    parsed = parse_callback(query.data or "")
    if parsed is None or (parsed[0] != "sign" and parsed[0] not in _PROMPTED):
        await query.answer(context.text(update, "error.stale_button"), show_alert=True)
        return ConversationHandler.END
    action, ticket_id = parsed
    rt = context.runtime
    try:
        if action == "sign":
            await sign_for(rt, ticket_id, update.effective_user.id)
            await query.answer(context.text(update, "task.signed"))
            return ConversationHandler.END
        permission, prompt, step = _PROMPTED[action]
        outcome = await check_allowed(rt, ticket_id, update.effective_user.id, permission)
    except TaskRefused as refusal:
        await query.answer(context.text(update, refusal.reason), show_alert=True)
        return ConversationHandler.END
    await query.answer()
    context.user_data[WORK] = {"ticket_id": ticket_id, "action": action}
    markup = None
    if step == Step.CHOOSING_DEPARTMENT:
        markup = _department_keyboard(context, update, outcome.ticket.department_code)
    elif step == Step.CHOOSING_EXTENSION_DAYS:
        markup = _days_keyboard(context)
    await _say(update, context, context.text(update, prompt, number=outcome.ticket.number), markup)
    return step


async def _finish_text_action(update: Update, context: BotContext, retry_step: Step) -> int:
    work = context.user_data.get(WORK) or {}
    text = update.effective_message.text
    rt = context.runtime
    user = update.effective_user.id
    actions = {
        "reply": (reply_to_resident, "task.replied"),
        "close": (close_ticket, "task.closed"),
        "send_back": (send_back, "task.sent_back"),
        "void": (void_ticket, "task.voided"),
    }
    perform, done = actions[work.get("action", "")]
    try:
        outcome = await perform(rt, work.get("ticket_id", 0), user, text)
    except TaskRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        keeps_asking = refusal.reason in ("task.result_required", "task.reason_required", "task.empty_reply")
        return retry_step if keeps_asking else _end(context)
    await context.reply_surely(update, context.text(update, done, number=outcome.ticket.number), what=done)
    return _end(context)


def _end(context: BotContext) -> int:
    context.user_data.pop(WORK, None)
    return ConversationHandler.END


async def on_reply_text(update: Update, context: BotContext) -> int:
    """Relays the typed reply to the resident."""
    return await _finish_text_action(update, context, Step.AWAITING_REPLY)


async def on_result_text(update: Update, context: BotContext) -> int:
    """Closes the ticket with the typed result."""
    return await _finish_text_action(update, context, Step.AWAITING_RESULT)


async def on_send_back_reason(update: Update, context: BotContext) -> int:
    """Sends the ticket back to triage with the typed reason."""
    return await _finish_text_action(update, context, Step.AWAITING_SEND_BACK_REASON)


async def on_void_reason(update: Update, context: BotContext) -> int:
    """Voids the ticket with the typed reason."""
    return await _finish_text_action(update, context, Step.AWAITING_VOID_REASON)


async def on_department(update: Update, context: BotContext) -> int:
    """Re-routes or assigns the ticket to the chosen department."""
    query = update.callback_query
    work = context.user_data.get(WORK) or {}
    department = (query.data or "").split(":", 1)[1]
    perform = assign_from_triage if work.get("action") == "assign" else reroute
    done = "task.assigned" if work.get("action") == "assign" else "task.rerouted"
    rt = context.runtime
    try:
        outcome = await perform(rt, work.get("ticket_id", 0), update.effective_user.id, department)
    except TaskRefused as refusal:
        await query.answer(context.text(update, refusal.reason), show_alert=True)
        return _end(context)
    await query.answer()
    name = rt.department_name(context.locale(update), department)
    await query.edit_message_text(context.text(update, done, number=outcome.ticket.number, department=name))
    return _end(context)


async def on_extension_days(update: Update, context: BotContext) -> int:
    """Stores the number of working days and asks for the reason."""
    query = update.callback_query
    await query.answer()
    work = context.user_data.setdefault(WORK, {})
    work["days"] = int((query.data or "days:0").split(":", 1)[1])
    context.user_data[WORK] = work  # reassign so persistence sees the change
    outcome = await check_allowed(context.runtime, work.get("ticket_id", 0), update.effective_user.id, Do.EXTEND)
    await query.edit_message_text(
        context.text(update, "task.ask_extension_reason", number=outcome.ticket.number, days=work["days"])
    )
    return Step.AWAITING_EXTENSION_REASON


async def on_extension_reason(update: Update, context: BotContext) -> int:
    """Submits the extension request to the department head."""
    work = context.user_data.get(WORK) or {}
    try:
        asked = await request_extension(
            context.runtime, work.get("ticket_id", 0), update.effective_user.id, work.get("days", 0),
            update.effective_message.text,
        )
    except TaskRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        return Step.AWAITING_EXTENSION_REASON if refusal.reason == "task.reason_required" else _end(context)
    key = "task.extension_requested" if asked.heads else "task.extension_no_head"
    await context.reply_surely(update, context.text(update, key, number=asked.ticket.number), what=key)
    return _end(context)


async def on_not_text(update: Update, context: BotContext) -> None:
    """Asks for text; the officer stays where they were."""
    await update.effective_message.reply_text(context.text(update, "task.text_only"))


async def cmd_cancel(update: Update, context: BotContext) -> int:
    """Stops the current action without changing the ticket."""
    await update.effective_message.reply_text(context.text(update, "task.cancelled"))
    return _end(context)


def build() -> ConversationHandler:
    private_text = filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND
    not_text = filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.COMMAND

    def typed(callback) -> list:  # type: ignore[no-untyped-def]
        return [MessageHandler(private_text, callback), MessageHandler(not_text, on_not_text)]

    return SharedConversationHandler(
        name="task_card",
        entry_points=[CallbackQueryHandler(on_task_button, pattern="^task:")],
        states={
            Step.AWAITING_REPLY: typed(on_reply_text),
            Step.AWAITING_RESULT: typed(on_result_text),
            Step.AWAITING_SEND_BACK_REASON: typed(on_send_back_reason),
            Step.AWAITING_VOID_REASON: typed(on_void_reason),
            Step.CHOOSING_DEPARTMENT: [CallbackQueryHandler(on_department, pattern="^pick:")],
            Step.CHOOSING_EXTENSION_DAYS: [CallbackQueryHandler(on_extension_days, pattern=r"^days:\d+$")],
            Step.AWAITING_EXTENSION_REASON: typed(on_extension_reason),
        },
        fallbacks=[CommandHandler("cancel", cmd_cancel)],
        allow_reentry=True,
        per_chat=False,
        # Kept in the database, so an officer who pressed a button in one worker (or before a
        # restart) can type the reply into another.
        persistent=True,
    )
