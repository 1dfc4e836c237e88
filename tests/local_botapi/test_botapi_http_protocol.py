"""The HTTP envelope, as any client (not only PTB) sees it."""

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from local_botapi import LocalBotApi


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    api: LocalBotApi,
    method: str,
    *,
    token: str | None = None,
    **kwargs: Any,
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{api.base_url}{token or api.token}/{method}", **kwargs) as response:
        return response.status, await response.json()


async def test_json_bodies_are_accepted(api: LocalBotApi, http: aiohttp.ClientSession) -> None:
    resident = api.user("王女士")

    status, body = await call(
        http, api, "sendMessage", json={"chat_id": resident.id, "text": "你好"}
    )

    assert status == 200 and body["ok"] is True
    assert body["result"]["text"] == "你好"
    assert body["result"]["from"] == {
        "id": 123456,
        "is_bot": True,
        "first_name": "开门评",
        "username": "OpenDoorTestBot",
    }


async def test_form_values_are_coerced_and_nested_objects_decoded(
    api: LocalBotApi, http: aiohttp.ClientSession
) -> None:
    resident = api.user("王女士")
    keyboard = {"inline_keyboard": [[{"text": "签收", "callback_data": "sign"}]]}

    status, body = await call(
        http,
        api,
        "sendMessage",
        data={"chat_id": str(resident.id), "text": "请确认", "reply_markup": json.dumps(keyboard)},
    )

    assert status == 200
    assert body["result"]["reply_markup"] == keyboard
    assert api.requests[-1].params["chat_id"] == str(resident.id)


async def test_method_names_are_case_insensitive(
    api: LocalBotApi, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, api, "GETME")

    assert status == 200 and body["result"]["username"] == "OpenDoorTestBot"
    assert api.requests[-1].method == "getMe"


async def test_unknown_methods_are_not_found(
    api: LocalBotApi, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, api, "sendPaidMedia")

    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})


async def test_a_wrong_token_is_unauthorized(
    api: LocalBotApi, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, api, "getMe", token="123456:WRONG")

    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})


async def test_429_answers_carry_retry_after(
    api: LocalBotApi, http: aiohttp.ClientSession
) -> None:
    api.inject_fault("getMe", status=429, retry_after=7)

    status, body = await call(http, api, "getMe")

    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }


async def test_callback_data_longer_than_64_bytes_is_rejected(
    api: LocalBotApi, http: aiohttp.ClientSession
) -> None:
    resident = api.user("王女士")
    keyboard = {"inline_keyboard": [[{"text": "签收", "callback_data": "工单" * 11}]]}

    status, body = await call(
        http,
        api,
        "sendMessage",
        json={"chat_id": resident.id, "text": "x", "reply_markup": keyboard},
    )

    assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")


async def test_chats_can_be_addressed_by_username(
    api: LocalBotApi, http: aiohttp.ClientSession
) -> None:
    group = api.group("公开群", kind="supergroup", username="open_door_public")

    status, body = await call(
        http, api, "sendMessage", json={"chat_id": "@open_door_public", "text": "公告"}
    )

    assert status == 200 and body["result"]["chat"]["id"] == group.id


async def test_unknown_files_are_not_found(api: LocalBotApi, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{api.base_file_url}{api.token}/documents/nothing.pdf") as response:
        assert response.status == 404


async def test_a_missing_required_parameter_is_a_bad_request(
    api: LocalBotApi, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, api, "sendMessage", json={"text": "x"})

    assert (status, body["description"]) == (400, "Bad Request: chat_id is empty")
