"""The resident's menu, help, and a gentle answer to anything outside a conversation."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotContext

MENU_APPRAISE = "menu:appraise"
MENU_HOTLINE = "menu:hotline"
MENU_STATUS = "menu:status"
MENU_HELP = "menu:help"


def menu_keyboard(context: BotContext, update: Update) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(context.text(update, "menu.appraise"), callback_data=MENU_APPRAISE)],
            [InlineKeyboardButton(context.text(update, "menu.hotline"), callback_data=MENU_HOTLINE)],
            [InlineKeyboardButton(context.text(update, "menu.status"), callback_data=MENU_STATUS)],
            [InlineKeyboardButton(context.text(update, "menu.help"), callback_data=MENU_HELP)],
        ]
    )


async def cmd_start(update: Update, context: BotContext) -> None:
    """Greets the resident and shows the menu."""
    await update.effective_message.reply_text(
        context.text(update, "menu.welcome"), reply_markup=menu_keyboard(context, update)
    )


async def cmd_help(update: Update, context: BotContext) -> None:
    """Explains how the channel works."""
    await update.effective_message.reply_text(context.text(update, "menu.help_text"))


async def on_help_button(update: Update, context: BotContext) -> None:
    """Answers the help button like /help."""
    await update.callback_query.answer()
    await cmd_help(update, context)


async def on_stray_message(update: Update, context: BotContext) -> None:
    """Points anything no conversation took, unknown commands included, back to the menu."""
    await update.effective_message.reply_text(
        context.text(update, "menu.unknown"), reply_markup=menu_keyboard(context, update)
    )


def build() -> list:
    return [
        CommandHandler("start", cmd_start, filters.ChatType.PRIVATE),
        CommandHandler("help", cmd_help, filters.ChatType.PRIVATE),
        CallbackQueryHandler(on_help_button, pattern=f"^{MENU_HELP}$"),
    ]


async def cmd_cancel_outside(update: Update, context: BotContext) -> None:
    """Answers /cancel when no conversation is going on."""
    await update.effective_message.reply_text(
        context.text(update, "menu.nothing_to_cancel"), reply_markup=ReplyKeyboardRemove()
    )


def build_fallback() -> list:
    """Handlers for what no conversation took: registered last."""
    return [
        CommandHandler("cancel", cmd_cancel_outside, filters.ChatType.PRIVATE),
        # Commands too: a mistyped or unknown command deserves an answer as much as any text.
        MessageHandler(filters.ChatType.PRIVATE, on_stray_message),
    ]
