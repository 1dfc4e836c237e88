"""`run --webhook`: Telegram (the local Bot API server) posts updates to the web side, which checks the
secret, refuses what is not an update, and hands each update to the bot exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import select
from telegram.error import Conflict

from domain.clock import FakeClock
from storage.models import ProcessedUpdateRow
from tests.e2e.test_resident_hotline import NOISE, confirm, start_item
from tests.workers import WEBHOOK_PATH, WEBHOOK_SECRET, Worker, Workers, running_workers


@pytest.fixture
async def one_worker(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Workers]:
    async with running_workers(tmp_path, clock, count=1) as workers:
        yield workers


async def post(worker: Worker, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.post(worker.url + WEBHOOK_PATH, data=body, headers=headers) as response:
            return response.status, await response.text()


GOOD_UPDATE = b'{"update_id": 900001, "message": {"message_id": 1, "date": 0, "chat": {"id": 42, "type": "private"}, "text": "hi"}}'


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}], ids=["no secret", "wrong secret"])
async def test_a_request_without_the_right_secret_header_is_refused_with_403(one_worker: Workers, headers: dict[str, str]) -> None:
    (worker,) = one_worker.workers

    status, _ = await post(worker, GOOD_UPDATE, headers)

    assert status == 403
    async with worker.rt.db.unit_of_work() as uow:
        assert (await uow.session.exec(select(ProcessedUpdateRow))).all() == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2, 3]",
        b'{"message": {"text": "no update id"}}',
        b'{"update_id": "7"}',
        b'{"update_id": 7, "message": "not a message"}',
    ],
    ids=["broken JSON", "not UTF-8", "a list", "no update_id", "update_id not a number", "a message that is a string"],
)
async def test_a_body_that_is_not_an_update_gets_400_and_the_worker_goes_on(one_worker: Workers, body: bytes) -> None:
    (worker,) = one_worker.workers

    status, _ = await post(worker, body, {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})

    assert status == 400
    resident = one_worker.api.user("王女士")
    await resident.send("/start")
    assert "我要反映" in str((await resident.next_message()).buttons)


async def test_a_resident_reports_through_the_webhook_from_start_to_ticket_number(one_worker: Workers) -> None:
    api = one_worker.api
    (worker,) = one_worker.workers
    officer = await worker.register_officer("张警官", "business")
    resident = api.user("王女士")

    await start_item(resident)
    await resident.send(NOISE)
    assert (await resident.next_message()).text.endswith(f"内容：{NOISE}")
    number = await confirm(resident)

    card = await officer.next_message()
    assert card.text.startswith(f"📋 新工单 {number}")
    assert api.state.webhook_url == one_worker.balancer.url + WEBHOOK_PATH
    assert api.state.webhook_secret == WEBHOOK_SECRET
    assert {delivery.status for delivery in api.webhook_deliveries} == {200}
    with pytest.raises(Conflict):
        await worker.application.bot.get_updates()


async def test_an_update_delivered_twice_is_handled_once(one_worker: Workers) -> None:
    api = one_worker.api
    (worker,) = one_worker.workers
    resident = api.user("王女士")
    api.lose_webhook_answers(1)

    await resident.send("/start")
    # The worker answers only once it has dealt with an update, so two answered deliveries mean both are done.
    await api.wait_for(lambda: len(api.webhook_deliveries) == 2, what="the update delivered a second time")

    first, second = api.webhook_deliveries
    assert first.update_id == second.update_id and (first.status, second.status) == (200, 200)
    assert len(resident.messages) == 1
    async with worker.rt.db.unit_of_work() as uow:
        claim = await uow.session.get(ProcessedUpdateRow, first.update_id)
    assert claim is not None and claim.handled_at is not None


async def test_the_webhook_is_left_registered_when_a_worker_stops(tmp_path: Path, clock: FakeClock) -> None:
    async with running_workers(tmp_path, clock, count=1) as workers:
        (worker,) = workers.workers
        await worker.stop()

        assert workers.api.state.webhook_url == workers.balancer.url + WEBHOOK_PATH
        assert workers.api.calls("deleteWebhook") == []
