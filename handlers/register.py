"""/register CODE: an officer binds their Telegram account with a one-time invite code."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.context import BotContext
from services.officers import RegistrationRefused, register_officer


async def cmd_register(update: Update, context: BotContext) -> None:
    """Registers the sender as an officer of the invite's department."""
    if len(context.args or []) != 1:
        await update.effective_message.reply_text(context.text(update, "register.usage"))
        return
    user = update.effective_user
    rt = context.runtime
    try:
        registered = await register_officer(
            rt,
            context.args[0],
            telegram_user_id=user.id,
            chat_id=update.effective_chat.id,
            display_name=user.full_name,
            locale=context.locale(update),
        )
    except RegistrationRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        return
    locale = context.locale(update)
    await update.effective_message.reply_text(
        context.text(
            update,
            "register.done",
            department=rt.department_name(locale, registered.department_code),
            role=context.text(update, f"role.{registered.role}"),
        )
    )


def build() -> CommandHandler:
    return CommandHandler("register", cmd_register, filters.ChatType.PRIVATE)
