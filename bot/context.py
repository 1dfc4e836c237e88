"""A typed context so handlers say `context.runtime` instead of fishing in bot_data."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot

from i18n import locale_for
from services.runtime import Runtime

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


def attach_runtime(application: Application, runtime: Runtime) -> None:
    application.bot_data[RUNTIME_KEY] = runtime
