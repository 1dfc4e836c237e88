"""A real headless Chromium (Debian's chromium + chromium-driver), driven by Selenium, against the dashboard.

Selenium blocks, and the dashboard is served from the test's own event loop, so every browser step
runs in a worker thread (`await browser.run(...)`). Without Chromium the tests skip, except when
OPENDOOR_REQUIRE_BROWSER=1 (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from services.runtime import Runtime
from web.app import build_web_app

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
T = TypeVar("T")


def _require_browser() -> None:
    if CHROMIUM and CHROMEDRIVER:
        return
    message = "Debian's chromium and chromium-driver are needed (apt-get install chromium chromium-driver)"
    if os.environ.get("OPENDOOR_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Browser:
    driver: Any
    base_url: str
    downloads: Path

    async def run(self, step: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(step, *args)

    async def open(self, path: str) -> None:
        await self.run(self.driver.get, self.base_url + path)

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        await self.run(self.driver.save_screenshot, str(target))
        return target


@pytest.fixture
async def dashboard_url(runtime: Runtime) -> AsyncIterator[str]:
    runner = web.AppRunner(build_web_app(runtime))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    # "localhost" is a secure context to Chromium, so the Secure session cookie works over plain HTTP here.
    yield f"http://localhost:{port}"
    await runner.cleanup()


@pytest.fixture
async def browser(dashboard_url: str, tmp_path: Path) -> AsyncIterator[Browser]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000", "--lang=zh-CN",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    service = Service(executable_path=CHROMEDRIVER or "")
    driver = await asyncio.to_thread(webdriver.Chrome, options=options, service=service)
    try:
        yield Browser(driver, dashboard_url, downloads)
    finally:
        await asyncio.to_thread(driver.quit)
