"""Supervisors' commands: /stats, /ranking and /ledger (heads see their own department only)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.context import BotContext
from services.figures import ranking_answer, stats_answer
from services.ledger import ledger_answer
from services.tasks import TaskRefused


def _period(context: BotContext) -> str | None:
    return context.args[0] if context.args else None


async def cmd_stats(update: Update, context: BotContext) -> None:
    """Answers with the period's figures and a chart of received and closed per department."""
    try:
        answer = await stats_answer(context.runtime, update.effective_user.id, _period(context))
    except TaskRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        return
    await update.effective_message.reply_text(answer.text)
    await update.effective_message.reply_photo(answer.chart)


async def cmd_ranking(update: Update, context: BotContext) -> None:
    """Answers with the units' 绩效考评 ranking for the period."""
    try:
        text = await ranking_answer(context.runtime, update.effective_user.id, _period(context))
    except TaskRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        return
    await update.effective_message.reply_text(text)


async def cmd_ledger(update: Update, context: BotContext) -> None:
    """Sends the period's ledger (台账) as an XLSX file."""
    try:
        ledger = await ledger_answer(context.runtime, update.effective_user.id, _period(context))
    except TaskRefused as refusal:
        await update.effective_message.reply_text(context.text(update, refusal.reason))
        return
    await update.effective_message.reply_document(ledger.data, filename=ledger.filename, caption=ledger.caption)


def build() -> list:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("stats", cmd_stats, private),
        CommandHandler("ranking", cmd_ranking, private),
        CommandHandler("ledger", cmd_ledger, private),
    ]
