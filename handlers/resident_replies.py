"""A resident answers an officer's relayed reply (Telegram's reply): it goes to the officer."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from bot.context import BotContext
from services.desk import relay_resident_reply


async def on_reply_to_officer(update: Update, context: BotContext) -> None:
    """Passes the resident's answer on; anything else falls through to the other handlers."""
    message = update.effective_message
    passed = await relay_resident_reply(
        context.runtime, update.effective_chat.id, message.reply_to_message.message_id, message.text
    )
    if passed is None:
        return
    await message.reply_text(context.text(update, "resident.reply_forwarded" if passed else "resident.reply_closed"))
    raise ApplicationHandlerStop


def build() -> MessageHandler:
    return MessageHandler(
        filters.ChatType.PRIVATE & filters.REPLY & filters.TEXT & ~filters.COMMAND, on_reply_to_officer
    )
