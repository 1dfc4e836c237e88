"""Webhooks: the fake POSTs each update to the bot's URL with the secret header, retries until a 2xx."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, Conflict

from local_botapi import LocalBotApi
from local_botapi.webhook import SECRET_HEADER

SECRET = "s3cret_token-for-tests"


@dataclass
class Receiver:
    """A webhook endpoint that records what it gets and answers with the statuses it is told to."""

    url: str = ""
    received: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # then 200 for ever

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((await request.json(), request.headers.get(SECRET_HEADER)))
        return web.Response(status=self.answers.pop(0) if self.answers else 200)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    app = web.Application()
    app.router.add_post("/hook", endpoint.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    endpoint.url = f"http://{host}:{port}/hook"
    yield endpoint
    await runner.cleanup()


def texts(receiver: Receiver) -> list[str]:
    return [update["message"]["text"] for update, _ in receiver.received]


async def test_each_update_is_posted_to_the_webhook_with_the_secret_header(
    api: LocalBotApi, bot: Bot, receiver: Receiver
) -> None:
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    resident = api.user("王女士")

    await resident.send("第一条")
    await resident.send("第二条")
    await api.wait_for(lambda: len(receiver.received) == 2, what="both updates delivered")

    assert texts(receiver) == ["第一条", "第二条"]
    assert {secret for _, secret in receiver.received} == {SECRET}
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_updates_waiting_before_the_webhook_was_set_are_delivered_in_order(
    api: LocalBotApi, bot: Bot, receiver: Receiver
) -> None:
    resident = api.user("王女士")
    for text in ("一", "二", "三"):
        await resident.send(text)

    await bot.set_webhook(receiver.url)
    await api.wait_for(lambda: len(receiver.received) == 3, what="the backlog delivered")

    assert texts(receiver) == ["一", "二", "三"]
    assert [secret for _, secret in receiver.received] == [None, None, None]


async def test_an_update_the_bot_refuses_is_sent_again_until_it_is_accepted(
    api: LocalBotApi, bot: Bot, receiver: Receiver
) -> None:
    receiver.answers = [500, 403]
    await bot.set_webhook(receiver.url, secret_token=SECRET)
    resident = api.user("王女士")

    await resident.send("有人吗")
    await api.wait_for(lambda: len(receiver.received) == 3, what="two refusals, then acceptance")
    await resident.send("第二条")
    await api.wait_for(lambda: len(receiver.received) == 4, what="the next update")

    assert texts(receiver) == ["有人吗", "有人吗", "有人吗", "第二条"]
    assert [d.status for d in api.webhook_deliveries] == [500, 403, 200, 200]
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"


async def test_a_webhook_nobody_answers_keeps_its_updates_pending(api: LocalBotApi, bot: Bot) -> None:
    await bot.set_webhook("http://127.0.0.1:9/nobody-listens")
    await api.user("王女士").send("有人吗")

    await api.wait_for(lambda: len(api.webhook_deliveries) >= 2, what="a retry")

    assert {d.status for d in api.webhook_deliveries} == {None}
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1
    assert info.last_error_message.startswith("Connection failed")


async def test_a_lost_answer_means_the_same_update_arrives_twice(
    api: LocalBotApi, bot: Bot, receiver: Receiver
) -> None:
    await bot.set_webhook(receiver.url)
    api.lose_webhook_answers(1)

    await api.user("王女士").send("只发了一次")
    await api.wait_for(lambda: len(receiver.received) == 2, what="the update delivered twice")

    first, second = (update for update, _ in receiver.received)
    assert first == second
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_get_updates_fails_with_409_while_a_webhook_is_set_and_works_after_deleting_it(
    api: LocalBotApi, bot: Bot, receiver: Receiver
) -> None:
    await bot.set_webhook(receiver.url, secret_token=SECRET)

    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()

    await bot.delete_webhook()
    await api.user("王女士").send("轮询")
    assert [u.message.text for u in await bot.get_updates()] == ["轮询"]
    assert receiver.received == []


async def test_a_secret_token_with_unallowed_characters_is_refused(bot: Bot, receiver: Receiver) -> None:
    with pytest.raises(BadRequest, match="[Ss]ecret token contains unallowed characters"):
        await bot.set_webhook(receiver.url, secret_token="no spaces allowed")


async def test_the_secret_token_is_not_kept_in_the_request_log(
    api: LocalBotApi, bot: Bot, receiver: Receiver
) -> None:
    await bot.set_webhook(receiver.url, secret_token=SECRET)

    (call,) = api.calls("setWebhook")
    assert call.params["secret_token"] == "<hidden>"
    assert SECRET not in repr(api.requests)
