"""回访: the resident taps 满意 / 基本满意 / 不满意 under a closed ticket."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot.context import BotContext
from domain.tickets import SurveyOutcome
from services.survey import CALLBACK_PREFIX, SurveyRefused, answer_survey, parse_survey_callback


async def on_survey_answer(update: Update, context: BotContext) -> None:
    """Records the rating, shows it in place of the buttons, and says what happens next."""
    query = update.callback_query
    parsed = parse_survey_callback(query.data or "")
    if parsed is None:
        await query.answer(context.text(update, "error.stale_button"), show_alert=True)
        return
    ticket_id, answer = parsed
    rt = context.runtime
    try:
        result = await answer_survey(rt, ticket_id, update.effective_user.id, answer)
    except SurveyRefused as refusal:
        await query.answer(context.text(update, refusal.reason), show_alert=True)
        return
    await query.answer()
    chosen = context.text(update, "survey.chosen", answer=context.text(update, f"survey.{answer.value}"))
    await query.edit_message_text(f"{query.message.text}\n{chosen}")
    if result.outcome == SurveyOutcome.REOPENED and result.deadline_at is not None:
        deadline = rt.format_moment(context.locale(update), result.deadline_at)
        follow_up = context.text(update, "survey.reopened", number=result.number, deadline=deadline)
    else:
        follow_up = context.text(update, f"survey.{'escalated' if result.outcome == SurveyOutcome.ESCALATED else 'thanks'}", number=result.number)
    await update.effective_message.reply_text(follow_up)


def build() -> CallbackQueryHandler:
    return CallbackQueryHandler(on_survey_answer, pattern=f"^{CALLBACK_PREFIX}:")
