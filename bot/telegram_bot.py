"""The bot's Bot API client: PTB's ExtBot, taking one of Telegram's answers calmly."""

from __future__ import annotations

import logging
from typing import Any

from telegram.error import BadRequest
from telegram.ext import ExtBot

log = logging.getLogger(__name__)

# Telegram's answer to answering a button press a second time, or too late.
ALREADY_ANSWERED = "query is too old"


class OpenDoorBot(ExtBot[None]):
    async def answer_callback_query(self, callback_query_id: str, *args: Any, **kwargs: Any) -> bool:
        """Answers a button press; one already answered (or too old to answer) is no error.

        Telegram sends an update again when the worker that had it died before acknowledging it,
        and the worker handling it the second time finds the press answered by the first. Answering
        only stops the button's spinner: the handler must go on (say, to give the resident the
        ticket number the first worker filed), not fail with "something went wrong".
        """
        try:
            return await super().answer_callback_query(callback_query_id, *args, **kwargs)
        except BadRequest as error:
            if ALREADY_ANSWERED not in error.message.lower():
                raise
            log.info("button press %s was answered already: %s", callback_query_id, error.message)
            return False
