"""Cross-cutting guards in front of every conversation: emergencies, flooding, group chats, odd message types."""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram import Update
from telegram.ext import ApplicationHandlerStop, BaseHandler, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from domain.emergency import EmergencyDetector
from domain.faq import FaqMatcher
from domain.flood import FloodLimiter
from services.hotline import is_officer

TOOLS_KEY = "resident_tools"
# What a private chat may carry that no resident conversation can use.
UNSUPPORTED = (
    filters.Sticker.ALL
    | filters.VOICE
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.AUDIO
    | filters.ANIMATION
    | filters.POLL
    | filters.Dice.ALL
    | filters.GAME
)
RESIDENT_COMMANDS = ["start", "help", "report", "status", "cancel", "appraise", "mytickets"]


@dataclass
class ResidentTools:
    """The detectors the resident side shares; the FAQ matcher is built on first use (it loads jieba)."""

    emergency: EmergencyDetector
    flood: FloodLimiter
    _faq: FaqMatcher | None = field(default=None, repr=False)

    @property
    def faq(self) -> FaqMatcher:
        if self._faq is None:
            self._faq = FaqMatcher.from_file()
        return self._faq


def tools(context: BotContext) -> ResidentTools:
    """The shared detectors, created once per application."""
    found = context.application.bot_data.get(TOOLS_KEY)
    if found is None:
        resident = context.runtime.settings.resident
        found = ResidentTools(
            emergency=EmergencyDetector.from_file(),
            flood=FloodLimiter(resident.flood_max_messages, resident.flood_per_seconds),
        )
        context.application.bot_data[TOOLS_KEY] = found
    return found


async def on_possible_emergency(update: Update, context: BotContext) -> None:
    """Tells a resident whose words signal danger now to call 110/119/120, then lets the message go on."""
    message = update.effective_message
    text = message.text or message.caption or ""
    emergency = tools(context).emergency.detect(text)
    if emergency is None or await is_officer(context.runtime, update.effective_user.id):
        return
    await message.reply_text(context.text(update, "guard.emergency", numbers=" / ".join(emergency.services)))


async def on_any_private_message(update: Update, context: BotContext) -> None:
    """Refuses messages beyond the flood limit, warning once per burst; a description in progress keeps them."""
    verdict = tools(context).flood.allow(update.effective_user.id)
    if verdict.allowed:
        return
    from handlers.hotline import keep_quietly  # the hotline conversation owns its draft

    kept = keep_quietly(update, context)
    if verdict.first_refusal:
        key = "guard.flood_kept" if kept else "guard.flood"
        await update.effective_message.reply_text(
            context.text(update, key, seconds=max(1, round(verdict.retry_after)))
        )
    raise ApplicationHandlerStop


async def on_group_command(update: Update, context: BotContext) -> None:
    """Points a resident command sent in a group to the private chat, in one short line."""
    await update.effective_message.reply_text(
        context.text(update, "guard.private_only", bot=context.bot.username or "")
    )
    raise ApplicationHandlerStop


async def on_edited(update: Update, context: BotContext) -> None:
    """Says that an edit changes nothing noted, so that an edited description is not taken twice."""
    await update.effective_message.reply_text(context.text(update, "guard.edited"))
    raise ApplicationHandlerStop


async def on_unsupported(update: Update, context: BotContext) -> None:
    """Says which kinds of message the bot understands; whatever was entered before stays."""
    await update.effective_message.reply_text(context.text(update, "guard.unsupported"))
    raise ApplicationHandlerStop


def build() -> dict[int, list[BaseHandler]]:
    """The guards by handler group (lower groups run first)."""
    private = filters.ChatType.PRIVATE
    return {
        -5: [MessageHandler(private & (filters.TEXT | filters.CAPTION) & ~filters.COMMAND, on_possible_emergency)],
        -4: [MessageHandler(private, on_any_private_message)],
        -3: [
            # Without this, an edited message would reach the conversations as a new one: a corrected
            # description would be added again, an officer's corrected text relayed again.
            MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, on_edited),
            CommandHandler(RESIDENT_COMMANDS, on_group_command, filters.ChatType.GROUPS),
            MessageHandler(private & UNSUPPORTED, on_unsupported),
        ],
    }
