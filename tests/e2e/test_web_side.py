"""The running bot also serves the web side: GET /health (the same report as the CLI) and the dashboard."""

from __future__ import annotations

import aiohttp

from tests.conftest import LiveBot


async def test_the_running_bot_serves_its_health_on_the_web_side(live_bot: LiveBot) -> None:
    runner = live_bot.application.bot_data["web"]
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession() as session, session.get(f"http://{host}:{port}/health") as response:
        report = await response.json()
    assert response.status == 200
    assert report["ok"] and report["database"] == "ok"
    assert report["calendar"]["years"] == {"2026": True, "2027": False}
    assert "pending" in report["outbox"]


async def test_the_running_bot_serves_the_dashboard_next_to_it(live_bot: LiveBot) -> None:
    runner = live_bot.application.bot_data["web"]
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://{host}:{port}/dashboard/", allow_redirects=False) as response:
            assert response.status == 302 and response.headers["Location"].startswith("/dashboard/login")
        async with session.get(f"http://{host}:{port}/dashboard/login") as response:
            assert response.status == 200 and "督办平台登录" in await response.text()
