"""Fixtures for the local Bot API fake's own tests."""

from collections.abc import AsyncIterator, Callable

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from local_botapi import LocalBotApi


def _plain_http_request() -> HTTPXRequest:
    """The fake speaks plain HTTP; skipping certificate loading saves ~0.1 s per client."""
    return HTTPXRequest(httpx_kwargs={"verify": False})


@pytest.fixture
def plain_http_request() -> Callable[[], HTTPXRequest]:
    return _plain_http_request


@pytest.fixture
async def api() -> AsyncIterator[LocalBotApi]:
    async with LocalBotApi(token="123456:TEST", bot_username="OpenDoorTestBot") as server:
        yield server


@pytest.fixture
async def bot(api: LocalBotApi) -> AsyncIterator[Bot]:
    client = Bot(
        api.token,
        base_url=api.base_url,
        base_file_url=api.base_file_url,
        request=_plain_http_request(),
        get_updates_request=_plain_http_request(),
    )
    async with client:
        yield client
