"""GET /health: the operator's and the load balancer's first question, as JSON (503 when not ok)."""

from __future__ import annotations

from aiohttp import web

from services.health import health
from web import RUNTIME


async def get_health(request: web.Request) -> web.Response:
    report = await health(request.app[RUNTIME])
    return web.json_response(report, status=200 if report["ok"] else 503, dumps=_dumps)


def _dumps(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", get_health)
