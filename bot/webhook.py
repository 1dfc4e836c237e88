"""Updates from Telegram's webhook, each handled once however many workers it reaches and however often.

An update is claimed in the database (its update_id) before it is handled, the claim is confirmed
every third of `[workers] update_claim_seconds` while it is handled, and it is marked finished
afterwards. Only then does Telegram get its 200: a worker killed while handling an update never
acknowledged it, so Telegram delivers it again, and once the dead worker's claim has gone
unconfirmed for `update_claim_seconds` another worker takes it over. (What the dead worker did
before it died, say a reply it sent, may then happen twice: at least once, never lost.) A second
delivery of an update already handled is acknowledged and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application

from services.runtime import Runtime
from storage.coordination import Claim, UpdateClaims
from web.webhook import Received, UnreadableUpdate

log = logging.getLogger(__name__)


class WebhookIntake:
    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], rt: Runtime, worker: str) -> None:
        self.application = application
        self.rt = rt
        self.claims = UpdateClaims(rt.db, worker)

    async def receive(self, body: dict[str, Any]) -> Received:
        update = self._read(body)
        if not self.application.running:
            return Received.NOT_READY
        now = self.rt.now()
        stale_before = now - timedelta(seconds=self.rt.settings.workers.update_claim_seconds)
        match await self.claims.claim(update.update_id, now, stale_before):
            case Claim.DONE:
                log.info("update %s was handled before; this delivery is skipped", update.update_id)
                return Received.DUPLICATE
            case Claim.BUSY:
                return Received.BUSY
        keeping = asyncio.create_task(self._keep_claim(update.update_id), name=f"claim-{update.update_id}")
        try:
            # Through the application's update processor, as polled updates go: one at a time, with
            # the conversations re-read before and the persistence written after (WriteThroughUpdates).
            await self.application.update_processor.process_update(update, self.application.process_update(update))
        except BaseException:
            # Not handled after all: let the next delivery have it. Shielded, so that even a
            # cancelled request gives its claim back.
            await asyncio.shield(self.claims.release(update.update_id))
            raise
        finally:
            keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeping
        await self.claims.finish(update.update_id, self.rt.now())
        return Received.HANDLED

    async def _keep_claim(self, update_id: int) -> None:
        """While the update is handled (waiting its turn included), tells the others this worker lives."""
        every = self.rt.settings.workers.update_claim_seconds / 3
        while True:
            await asyncio.sleep(every)
            try:
                await self.claims.renew(update_id, self.rt.now())
            except Exception:  # another try in a moment; only a claim left unconfirmed too long is lost
                log.warning("the claim on update %s could not be confirmed", update_id, exc_info=True)

    def _read(self, body: dict[str, Any]) -> Update:
        try:
            update = Update.de_json(body, self.application.bot)
        except Exception as error:
            raise UnreadableUpdate(f"not a Telegram update: {error.__class__.__name__}") from None
        if update is None:
            raise UnreadableUpdate("not a Telegram update")
        return update


async def set_webhook(application: Application[Any, Any, Any, Any, Any, Any], rt: Runtime) -> None:
    """Tells Telegram where to send updates. Every worker does so at start-up (it is idempotent); none
    deletes the webhook when it stops, since the others go on receiving."""
    telegram = rt.settings.telegram
    await application.bot.set_webhook(
        telegram.webhook_url,
        secret_token=telegram.webhook_secret.get_secret_value(),
        max_connections=telegram.webhook_max_connections,
    )
    log.info("webhook set: Telegram sends updates to %s", telegram.webhook_url)
