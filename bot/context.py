"""A typed context so handlers say `context.runtime` instead of fishing in bot_data."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, CallbackContext, ExtBot

from i18n import locale_for
from services.outbox import send_later
from services.runtime import Runtime

log = logging.getLogger(__name__)

RUNTIME_KEY = "runtime"


class BotContext(CallbackContext[ExtBot[None], dict, dict, dict]):
    @property
    def runtime(self) -> Runtime:
        return self.application.bot_data[RUNTIME_KEY]

    def locale(self, update: Update) -> str:
        """The user's locale: Telegram's language_code, else the configured default."""
        user = update.effective_user
        return locale_for(user.language_code if user else None, self.runtime.settings.default_locale)

    def text(self, update: Update, key: str, **params: object) -> str:
        return self.runtime.texts.get(self.locale(update), key, **params)

    async def reply_surely(self, update: Update, text: str, *, what: str) -> None:
        """Replies in the update's chat; when Telegram fails that for now, the reply goes out later
        through the outbox, as notices do.

        For the answer to something already done (a ticket filed, a reply relayed): one lost message
        must neither lose the ticket's number nor leave the conversation waiting for the same input
        again, which would then be acted on twice. `what` names the reply among the update's replies.
        """
        try:
            await update.effective_message.reply_text(text)
        except (BadRequest, Forbidden):
            raise  # a request Telegram will never take: the outbox could do no better
        except TelegramError as error:
            log.warning("update %s: %s could not be sent now (%s); it goes through the outbox", update.update_id, what, error)
            await send_later(
                self.runtime, key=f"reply:{update.update_id}:{what}", chat_id=update.effective_chat.id, text=text, purpose=what
            )


def attach_runtime(application: Application, runtime: Runtime) -> None:
    application.bot_data[RUNTIME_KEY] = runtime
