"""查询进度: /status KM-…, the "my tickets" list, and adding information by replying to a ticket's status."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ApplicationHandlerStop, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from handlers.hotline import ATTACHABLE, attachment_of
from handlers.start import MENU_STATUS
from services.hotline import add_to_ticket
from services.status import TicketStatus, my_tickets, ticket_status

# user_data: {"<message id of a status message>": "KM-…"}, the newest few, so a reply to one adds to its ticket.
STATUS_MESSAGES = "status_messages"
REMEMBERED = 5


def _event_name(context: BotContext, update: Update, action: str) -> str:
    key = f"event.{action}"
    return context.text(update, key) if key in context.runtime.texts.catalogues["zh"] else action


def _detail(context: BotContext, update: Update, status: TicketStatus) -> str:
    rt = context.runtime
    locale = context.locale(update)
    ticket = status.summary
    lines = [
        context.text(
            update,
            "status.detail",
            number=ticket.number,
            state=context.text(update, f"state.{ticket.state}"),
            department=rt.department_name(locale, ticket.department_code),
            deadline=rt.format_moment(locale, ticket.deadline_at),
        )
    ]
    lines += [
        context.text(update, "status.event", at=rt.format_moment(locale, entry.at), event=_event_name(context, update, entry.action))
        for entry in status.timeline
    ]
    if ticket.is_open:
        lines.append(context.text(update, "status.how_to_add"))
    return "\n".join(lines)


async def _show(update: Update, context: BotContext, number: str) -> None:
    status = await ticket_status(context.runtime, update.effective_user.id, number)
    if status is None:
        await update.effective_message.reply_text(context.text(update, "status.not_found", number=number))
        return
    sent = await update.effective_message.reply_text(_detail(context, update, status))
    if status.summary.is_open:
        remembered = dict(context.user_data.get(STATUS_MESSAGES) or {})
        remembered[str(sent.message_id)] = status.summary.number
        context.user_data[STATUS_MESSAGES] = dict(list(remembered.items())[-REMEMBERED:])


async def _list(update: Update, context: BotContext) -> None:
    tickets = await my_tickets(context.runtime, update.effective_user.id)
    if not tickets:
        await update.effective_message.reply_text(context.text(update, "status.none"))
        return
    buttons = [
        [
            InlineKeyboardButton(
                context.text(update, "status.item", number=t.number, state=context.text(update, f"state.{t.state}")),
                callback_data=f"status:{t.number}",
            )
        ]
        for t in tickets
    ]
    await update.effective_message.reply_text(
        context.text(update, "status.list", count=len(tickets)), reply_markup=InlineKeyboardMarkup(buttons)
    )


async def cmd_status(update: Update, context: BotContext) -> None:
    """Shows one ticket (/status KM-…) or the resident's list (/status alone)."""
    if context.args:
        await _show(update, context, context.args[0])
    else:
        await _list(update, context)


async def on_menu_status(update: Update, context: BotContext) -> None:
    """Shows the resident's tickets from the menu button."""
    await update.callback_query.answer()
    await _list(update, context)


async def on_ticket_button(update: Update, context: BotContext) -> None:
    """Shows the ticket chosen from the list."""
    await update.callback_query.answer()
    await _show(update, context, update.callback_query.data.split(":", 1)[1])


async def on_reply_to_status(update: Update, context: BotContext) -> None:
    """Adds a reply to a ticket's status message (text or files) to that ticket; anything else goes on."""
    message = update.effective_message
    number = (context.user_data.get(STATUS_MESSAGES) or {}).get(str(message.reply_to_message.message_id))
    if number is None:
        return
    attachment = attachment_of(message)
    added = await add_to_ticket(
        context.runtime,
        update.effective_user.id,
        update.effective_chat.id,
        number,
        message.text or message.caption or "",
        (attachment,) if attachment else (),
    )
    await message.reply_text(context.text(update, "status.added" if added else "status.closed", number=number))
    raise ApplicationHandlerStop


def build() -> list:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler(["status", "mytickets"], cmd_status, private),
        CallbackQueryHandler(on_menu_status, pattern=f"^{MENU_STATUS}$"),
        CallbackQueryHandler(on_ticket_button, pattern="^status:"),
    ]


def build_replies() -> MessageHandler:
    """Replies to status messages: registered in a group before the conversations."""
    private = filters.ChatType.PRIVATE
    return MessageHandler(
        private & filters.REPLY & (filters.TEXT | ATTACHABLE) & ~filters.COMMAND, on_reply_to_status
    )
