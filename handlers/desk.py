"""Officers' commands: /mytasks, /task KM-…, /triage, /bind_group, and the head's extension decision."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext
from services.cards import task_card_text, task_keyboard
from services.desk import bind_group, my_tasks, ticket_detail, triage_queue
from services.tasks import TaskRefused, decide_extension


def _markup(context: BotContext, keyboard: dict | None) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.de_json(keyboard, context.bot) if keyboard else None


async def cmd_mytasks(update: Update, context: BotContext) -> None:
    """Lists the officer's open tickets, overdue first."""
    rt = context.runtime
    locale = context.locale(update)
    try:
        tickets = await my_tasks(rt, update.effective_user.id)
    except TaskRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        return
    if not tickets:
        await update.effective_message.reply_text(context.text(update, "mytasks.empty"))
        return
    now = rt.now()
    lines = [context.text(update, "mytasks.heading", count=len(tickets))]
    for ticket in tickets:  # already ordered by deadline, so the overdue ones come first
        mark = context.text(update, "mytasks.overdue" if ticket.deadline_at < now else "mytasks.normal")
        lines.append(
            context.text(
                update, "mytasks.line", mark=mark, number=ticket.number,
                state=context.text(update, f"state.{ticket.state}"), deadline=rt.format_moment(locale, ticket.deadline_at),
            )
        )
    await update.effective_message.reply_text("\n".join(lines))


async def cmd_task(update: Update, context: BotContext) -> None:
    """Shows one ticket's card with its buttons and its whole timeline."""
    if len(context.args or []) != 1:
        await update.effective_message.reply_text(context.text(update, "mytasks.usage"))
        return
    rt = context.runtime
    locale = context.locale(update)
    try:
        detail = await ticket_detail(rt, update.effective_user.id, context.args[0])
    except TaskRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        return
    await update.effective_message.reply_text(detail.card, reply_markup=_markup(context, detail.keyboard))
    lines = []
    for entry in detail.timeline:
        who = entry.officer or context.text(update, f"actor.{entry.actor}")
        note = f" — {entry.note}" if entry.note else ""
        lines.append(f"{rt.format_moment(locale, entry.at)}  {who}  {context.text(update, f'event.{entry.action}')}{note}")
    await update.effective_message.reply_text("\n".join(lines))


async def cmd_triage(update: Update, context: BotContext) -> None:
    """Shows the triage queue, each ticket as a card with its 分派 button."""
    rt = context.runtime
    try:
        reader, tickets = await triage_queue(rt, update.effective_user.id)
    except TaskRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        return
    if not tickets:
        await update.effective_message.reply_text(context.text(update, "triage.empty"))
        return
    await update.effective_message.reply_text(context.text(update, "triage.heading", count=len(tickets)))
    for ticket in tickets:
        await update.effective_message.reply_text(
            task_card_text(rt, reader.locale, ticket), reply_markup=_markup(context, task_keyboard(rt, reader, ticket))
        )


async def cmd_bind_group(update: Update, context: BotContext) -> None:
    """Makes this group the work group of the head's department."""
    if update.effective_chat.type not in ("group", "supergroup"):
        await update.effective_message.reply_text(context.text(update, "group.not_group"))
        return
    rt = context.runtime
    try:
        department = await bind_group(rt, update.effective_user.id, update.effective_chat.id)
    except TaskRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        return
    await update.effective_message.reply_text(
        context.text(update, "group.bound", department=rt.department_name(context.locale(update), department))
    )


async def on_extension_decision(update: Update, context: BotContext) -> None:
    """The head approves or rejects an extension request."""
    query = update.callback_query
    parts = (query.data or "").split(":")
    # isascii too: "²".isdigit() holds, but int("²") fails.
    if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdigit()) or parts[2] not in ("approve", "reject"):
        await query.answer(context.text(update, "error.stale_button"), show_alert=True)
        return
    approve = parts[2] == "approve"
    try:
        await decide_extension(context.runtime, int(parts[1]), update.effective_user.id, approve)
    except TaskRefused as refusal:
        await query.answer(context.text(update, refusal.reason), show_alert=True)
        return
    await query.answer()
    decided = context.text(update, "extension.decided_approved" if approve else "extension.decided_rejected")
    await query.edit_message_text(f"{query.message.text}\n{decided}")


def build() -> list:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("mytasks", cmd_mytasks, private),
        CommandHandler("task", cmd_task, private),
        CommandHandler("triage", cmd_triage, private),
        CommandHandler("bind_group", cmd_bind_group, filters.ChatType.GROUPS),
        CommandHandler("bind_group", cmd_bind_group, private),
        CallbackQueryHandler(on_extension_decision, pattern=r"^ext:"),
    ]
