"""Assembles the aiohttp application; each feature module adds its own routes."""

from __future__ import annotations

from aiohttp import web

from services.runtime import Runtime
from web import RUNTIME, dashboard, health, open311, webhook as telegram_webhook


def build_web_app(rt: Runtime, *, webhook: telegram_webhook.Webhook | None = None) -> web.Application:
    """The web application serving `rt`'s database: /health, the Open311 routes and the dashboard,
    and Telegram's webhook when the bot receives its updates that way."""
    app = web.Application()
    app[RUNTIME] = rt
    health.add_routes(app)
    open311.add_routes(app)
    dashboard.add_routes(app)
    if webhook is not None:
        telegram_webhook.add_routes(app, webhook)
    return app
