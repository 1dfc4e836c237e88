"""开门评警 (网上评议): pick a unit (or arrive by its QR code), rate it, score it if you like, comment if you like.

The answers so far live in ``user_data["appraisal"]`` as JSON:
``{"unit", "rating", "scores": {aspect: 1…5}, "aspect": index of the aspect being asked}``.
"""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.context import BotContext
from handlers.start import MENU_APPRAISE
from services.appraisal import RATINGS, SCORE_ASPECTS, SCORE_RANGE, Appraisal, UnknownUnit, submit_appraisal, unit_name, units
from storage.persistence import SharedConversationHandler

log = logging.getLogger(__name__)

ANSWERS = "appraisal"
DEEP_LINK = "appraise_"


# A score button's data → its score. Looked up, not parsed: "²".isdigit() holds, but int("²") fails.
SCORE_CHOICES = {str(score): score for score in SCORE_RANGE}


class Step(IntEnum):
    CHOOSING_UNIT = 1
    RATING = 2
    SCORING = 3
    COMMENTING = 4


def _answers(context: BotContext) -> dict[str, Any]:
    return context.user_data.setdefault(ANSWERS, {})


def _save(context: BotContext, answers: dict[str, Any]) -> None:
    context.user_data[ANSWERS] = answers


async def _ask_rating(update: Update, context: BotContext, unit: str) -> Step:
    _save(context, {"unit": unit, "scores": {}, "aspect": 0})
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton(context.text(update, f"appraisal.{r}"), callback_data=f"rate:{r}") for r in RATINGS]]
    )
    name = unit_name(context.runtime, context.locale(update), unit)
    await update.effective_message.reply_text(context.text(update, "appraisal.ask_rating", unit=name), reply_markup=keyboard)
    return Step.RATING


async def _ask_score(update: Update, context: BotContext) -> Step:
    aspect = SCORE_ASPECTS[_answers(context)["aspect"]]
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(str(n), callback_data=f"score:{n}") for n in SCORE_RANGE],
            [
                InlineKeyboardButton(context.text(update, "appraisal.skip"), callback_data="score:skip"),
                InlineKeyboardButton(context.text(update, "appraisal.skip_scores"), callback_data="score:none"),
            ],
        ]
    )
    await update.effective_message.reply_text(
        context.text(update, "appraisal.ask_score", aspect=context.text(update, f"appraisal.aspect_{aspect}")),
        reply_markup=keyboard,
    )
    return Step.SCORING


async def _ask_comment(update: Update, context: BotContext) -> Step:
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton(context.text(update, "appraisal.skip"), callback_data="comment:skip")]]
    )
    key = "appraisal.ask_comment_unsatisfied" if _answers(context).get("rating") == "unsatisfied" else "appraisal.ask_comment"
    await update.effective_message.reply_text(context.text(update, key), reply_markup=keyboard)
    return Step.COMMENTING


async def on_start_appraisal(update: Update, context: BotContext) -> Step:
    """Lists the units to appraise."""
    if update.callback_query:
        await update.callback_query.answer()
    context.user_data[ANSWERS] = {}
    choices = units(context.runtime, context.locale(update))
    if not choices:
        await update.effective_message.reply_text(context.text(update, "appraisal.no_units"))
        return ConversationHandler.END
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(name, callback_data=f"unit:{code}")] for code, name in choices])
    await update.effective_message.reply_text(context.text(update, "appraisal.choose_unit"), reply_markup=keyboard)
    return Step.CHOOSING_UNIT


async def on_deep_link(update: Update, context: BotContext) -> int:
    """Opens the appraisal of the unit named by the QR code's link."""
    code = context.args[0].removeprefix(DEEP_LINK) if context.args else ""
    if code not in context.runtime.settings.units:
        await update.effective_message.reply_text(context.text(update, "appraisal.unknown_unit"))
        return await on_start_appraisal(update, context)
    return await _ask_rating(update, context, code)


async def on_unit(update: Update, context: BotContext) -> int:
    """Stores the unit and asks for the overall rating."""
    query = update.callback_query
    await query.answer()
    code = query.data.split(":", 1)[1]
    try:
        name = unit_name(context.runtime, context.locale(update), code)
    except UnknownUnit:
        await update.effective_message.reply_text(context.text(update, "appraisal.unknown_unit"))
        return Step.CHOOSING_UNIT
    await query.edit_message_text(f"{context.text(update, 'appraisal.choose_unit')} {name}")
    return await _ask_rating(update, context, code)


async def _abandoned(update: Update, context: BotContext) -> bool:
    """Whether the resident left this appraisal for another conversation (which cleared its answers)."""
    if context.user_data.get(ANSWERS, {}).get("unit"):
        return False
    if update.callback_query:
        await update.callback_query.answer(context.text(update, "error.stale_button"), show_alert=True)
    return True


async def on_rating(update: Update, context: BotContext) -> Step:
    """Stores the rating and asks for the first score."""
    query = update.callback_query
    if await _abandoned(update, context):
        return ConversationHandler.END
    await query.answer()
    rating = query.data.split(":", 1)[1]
    if rating not in RATINGS:
        return Step.RATING
    answers = _answers(context)
    answers["rating"] = rating
    _save(context, answers)
    await query.edit_message_text(f"{query.message.text}\n{context.text(update, f'appraisal.{rating}')}")
    return await _ask_score(update, context)


async def on_score(update: Update, context: BotContext) -> Step:
    """Stores one score (or skips it, or all) and asks for the next, then for a comment."""
    query = update.callback_query
    if await _abandoned(update, context):
        return ConversationHandler.END
    await query.answer()
    choice = query.data.split(":", 1)[1]
    answers = _answers(context)
    aspect = SCORE_ASPECTS[answers["aspect"]]
    if choice in SCORE_CHOICES:
        answers["scores"][aspect] = SCORE_CHOICES[choice]
        shown = choice
    else:
        shown = context.text(update, "appraisal.skipped")
    await query.edit_message_text(f"{query.message.text} {shown}")
    answers["aspect"] = len(SCORE_ASPECTS) if choice == "none" else answers["aspect"] + 1
    _save(context, answers)
    if answers["aspect"] < len(SCORE_ASPECTS):
        return await _ask_score(update, context)
    return await _ask_comment(update, context)


async def on_comment(update: Update, context: BotContext) -> int:
    """Stores the comment and finishes."""
    if await _abandoned(update, context):
        # The resident went on to 我要反映 meanwhile: the text belongs to that description.
        from handlers.hotline import DRAFT, on_part

        if context.user_data.get(DRAFT, {}).get("kind"):
            await on_part(update, context)
        return ConversationHandler.END
    text = update.effective_message.text.strip()
    limit = context.runtime.settings.tickets.max_text_chars // 2
    if len(text) > limit:
        await update.effective_message.reply_text(context.text(update, "hotline.too_long", limit=limit))
        return Step.COMMENTING
    return await _finish(update, context, text)


async def on_skip_comment(update: Update, context: BotContext) -> int:
    """Finishes without a comment."""
    if await _abandoned(update, context):
        return ConversationHandler.END
    await update.callback_query.answer()
    await update.callback_query.edit_message_reply_markup(reply_markup=None)
    return await _finish(update, context, None)


async def _finish(update: Update, context: BotContext, comment: str | None) -> int:
    answers = _answers(context)
    rt = context.runtime
    locale = context.locale(update)
    try:
        accepted = await submit_appraisal(
            rt,
            Appraisal(
                update.effective_user.id,
                update.effective_chat.id,
                locale,
                answers["unit"],
                answers["rating"],
                dict(answers.get("scores", {})),
                comment,
            ),
        )
    except Exception:
        log.exception("storing an appraisal failed")
        await update.effective_message.reply_text(context.text(update, "error.generic"))
        return Step.COMMENTING
    context.user_data.pop(ANSWERS, None)
    await context.reply_surely(update, context.text(update, "appraisal.thanks"), what="appraisal.thanks")
    if accepted is not None:
        await context.reply_surely(
            update,
            context.text(
                update,
                "appraisal.ticket",
                number=accepted.number,
                department=rt.department_name(locale, accepted.department_code),
                deadline=rt.format_moment(locale, accepted.deadline_at),
            ),
            what="appraisal.ticket",
        )
    return ConversationHandler.END


async def cmd_cancel(update: Update, context: BotContext) -> int:
    """Leaves the appraisal without storing anything."""
    context.user_data.pop(ANSWERS, None)
    await update.effective_message.reply_text(context.text(update, "appraisal.cancelled"))
    return ConversationHandler.END


async def on_timeout(update: Update, context: BotContext) -> None:
    """Tells a resident who went quiet that the appraisal was put aside."""
    context.user_data.pop(ANSWERS, None)
    if update.effective_chat:
        await context.bot.send_message(update.effective_chat.id, context.text(update, "appraisal.timed_out"))


def build(timeout_minutes: float | None = None) -> ConversationHandler:
    """The appraisal conversation; persistent, so a restart resumes it (its timeout is not persisted)."""
    private = filters.ChatType.PRIVATE
    return SharedConversationHandler(
        name="appraisal",
        persistent=True,
        entry_points=[
            CommandHandler("start", on_deep_link, private & filters.Regex(rf"^/start {DEEP_LINK}")),
            CommandHandler("appraise", on_start_appraisal, private),
            CallbackQueryHandler(on_start_appraisal, pattern=f"^{MENU_APPRAISE}$"),
        ],
        states={
            Step.CHOOSING_UNIT: [CallbackQueryHandler(on_unit, pattern="^unit:")],
            Step.RATING: [CallbackQueryHandler(on_rating, pattern="^rate:")],
            Step.SCORING: [CallbackQueryHandler(on_score, pattern="^score:")],
            Step.COMMENTING: [
                MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_comment),
                CallbackQueryHandler(on_skip_comment, pattern="^comment:skip$"),
            ],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, on_timeout)],
        },
        fallbacks=[CommandHandler("cancel", cmd_cancel)],
        allow_reentry=True,
        conversation_timeout=timeout_minutes * 60 if timeout_minutes else None,
    )
