"""POST <webhook_path>: the updates Telegram sends (`python -m bot run --webhook`).

The secret-token header is checked before the body is even read (403 without it). A body that is
not a JSON update gets 400. A good update is handed to the bot and answered once it is handled:
200 also for a second delivery of an update already handled (Telegram must stop sending it), 503
while another worker is still handling it or this one is starting or stopping (Telegram sends it
again later), 500 if handling failed (likewise).
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from aiohttp import web

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class Received(Enum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"  # handled before: acknowledged, not handled again
    BUSY = "busy"  # another worker is handling it right now
    NOT_READY = "not ready"  # this worker is starting or stopping


STATUS = {Received.HANDLED: 200, Received.DUPLICATE: 200, Received.BUSY: 503, Received.NOT_READY: 503}


class UnreadableUpdate(ValueError):
    """The body is JSON but not a Telegram update."""


class UpdateIntake(Protocol):
    async def receive(self, body: dict[str, Any]) -> Received: ...


@dataclass(frozen=True)
class Webhook:
    path: str
    secret: str
    intake: UpdateIntake


WEBHOOK = web.AppKey("webhook", Webhook)


async def post_update(request: web.Request) -> web.Response:
    webhook = request.app[WEBHOOK]
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), webhook.secret.encode()):
        return web.Response(status=403, text="forbidden")
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, ValueError):
        return web.Response(status=400, text="the body is not JSON")
    if not isinstance(body, dict) or type(body.get("update_id")) is not int:
        return web.Response(status=400, text="the body is not a Telegram update")
    try:
        received = await webhook.intake.receive(body)
    except UnreadableUpdate as error:
        return web.Response(status=400, text=str(error))
    except Exception:
        log.exception("update %s could not be handled", body["update_id"])
        return web.Response(status=500, text="the update could not be handled; send it again")
    return web.Response(status=STATUS[received], text=received.value)


def add_routes(app: web.Application, webhook: Webhook) -> None:
    app[WEBHOOK] = webhook
    app.router.add_post(webhook.path, post_update)
