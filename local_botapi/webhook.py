"""Webhook delivery: with a webhook set, the server POSTs each new update to it, as Telegram does.

One update is in flight at a time. An answer other than 2xx (or none: a refused connection, a
timeout) leaves the update pending, and it is sent again after a pause that doubles with each
failure in a row. Every attempt is recorded in `ServerState.webhook_deliveries`. While a webhook
is set, getUpdates fails with 409 (see `methods.get_updates`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

from local_botapi.state import ServerState

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Long enough never to end a wait for the next update in a test; the loop simply waits again.
IDLE_WAIT_SECONDS = 3600.0


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the webhook. `status` is None when no answer came back."""

    update_id: int
    status: int | None
    error: str | None
    at: float

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class WebhookRetry:
    """Pauses after failed deliveries: `first` seconds, doubling up to `longest`."""

    first: float = 0.05
    longest: float = 2.0
    timeout: float = 10.0  # seconds to wait for the bot's answer

    def pause(self, failures: int) -> float:
        return min(self.longest, self.first * 2 ** max(failures - 1, 0))


class WebhookPusher:
    """Sends pending updates to `state.webhook_url` for as long as the server runs."""

    def __init__(self, state: ServerState, retry: WebhookRetry) -> None:
        self.state = state
        self.retry = retry

    async def run(self) -> None:
        failures = 0
        timeout = aiohttp.ClientTimeout(total=self.retry.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                await self.state.changed.wait_until(lambda: self._next() is not None, IDLE_WAIT_SECONDS)
                update = self._next()
                if update is None:
                    continue
                delivery = await self._post(session, update)
                self.state.webhook_deliveries.append(delivery)
                if delivery.accepted:
                    failures = 0
                    self._acknowledge(update)
                else:
                    failures += 1
                    self.state.webhook_last_error = (self.state.now(), delivery.error or "")
                self.state.changed.notify()
                if failures:
                    await asyncio.sleep(self.retry.pause(failures))

    def _next(self) -> dict[str, Any] | None:
        if not self.state.webhook_url:
            return None
        return self.state.updates.first_pending()

    def _acknowledge(self, update: dict[str, Any]) -> None:
        if self.state.lost_webhook_answers > 0:
            # The answer "got lost on the way back": Telegram cannot know the bot has the update.
            self.state.lost_webhook_answers -= 1
            return
        self.state.updates.acknowledge(update["update_id"])

    async def _post(self, session: aiohttp.ClientSession, update: dict[str, Any]) -> WebhookDelivery:
        headers = {SECRET_HEADER: self.state.webhook_secret} if self.state.webhook_secret else {}
        update_id = update["update_id"]
        try:
            async with session.post(self.state.webhook_url, json=update, headers=headers) as response:
                await response.read()
                error = None if 200 <= response.status < 300 else f"Wrong response from the webhook: {response.status} {response.reason}"
                return WebhookDelivery(update_id, response.status, error, self.state.clock())
        except (aiohttp.ClientError, TimeoutError) as failure:
            return WebhookDelivery(update_id, None, f"Connection failed: {failure!r}", self.state.clock())
