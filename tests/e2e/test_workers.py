"""Two webhook workers on one database behind a load balancer: a conversation goes on in whichever
worker gets the next update, exactly one worker leads (runs the scheduler and the dispatcher), and
when the leader stops or dies the other takes over and every notice still goes out once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from domain.clock import FakeClock
from local_botapi import SimUser
from storage.models import OutboxRow
from storage.repositories import PENDING
from tests.e2e.test_resident_hotline import NOISE, confirm, start_item
from tests.workers import Worker, Workers, running_workers

LEASE_SECONDS = 20  # tests.workers.WORKER_SETTINGS


@pytest.fixture
async def two_workers(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Workers]:
    async with running_workers(tmp_path, clock, count=2) as workers:
        yield workers


def on_postgresql(worker: Worker) -> bool:
    return worker.rt.db.engine.dialect.name == "postgresql"


async def report(workers: Workers, resident: SimUser, text: str) -> str:
    """The resident files a complaint, each step through the next worker in turn; returns its number."""
    workers.route_to(None)
    await start_item(resident)
    await resident.send(text)
    await resident.next_message()
    return await confirm(resident)


async def cards_for(officer: SimUser, numbers: list[str]) -> list[str]:
    """Waits for a card per number and returns the text of every message the officer got."""
    for _ in numbers:
        await officer.next_message()
    return [message.text or "" for message in officer.messages]


async def outbox_pending(worker: Worker) -> int:
    """Rows still to send once the worker, which must lead, has finished what it is sending."""
    await worker.application.bot_data["dispatcher"].drain()
    async with worker.rt.db.unit_of_work() as uow:
        return len((await uow.session.exec(select(OutboxRow).where(OutboxRow.status == PENDING))).all())


async def test_a_conversation_begun_on_one_worker_goes_on_on_the_other(two_workers: Workers) -> None:
    a, b = two_workers.workers
    officer = await a.register_officer("张警官", "business")
    resident = two_workers.api.user("王女士")

    two_workers.route_to(a)
    await resident.send("/start")
    await resident.next_message()
    await resident.press("📝 我要反映")
    await resident.next_message()
    two_workers.route_to(b)
    await resident.press("投诉")
    await resident.next_message()
    two_workers.route_to(a)
    await resident.send(NOISE)
    summary = await resident.next_message()
    two_workers.route_to(b)
    await resident.send("一直吵到凌晨两点。")
    longer = await resident.next_message()
    two_workers.route_to(a)
    number = await confirm(resident)

    assert summary.text.endswith(f"内容：{NOISE}")
    assert f"{NOISE}\n一直吵到凌晨两点。" in longer.text
    assert {backend for backend, _ in two_workers.balancer.forwarded} == {a.url, b.url}
    card = await officer.next_message()
    assert card.text.startswith(f"📋 新工单 {number}")


async def test_an_officer_who_pressed_a_button_on_one_worker_types_the_reply_into_the_other(two_workers: Workers) -> None:
    a, b = two_workers.workers
    officer = await a.register_officer("张警官", "business")
    resident = two_workers.api.user("王女士")
    number = await report(two_workers, resident, NOISE)
    card = await officer.next_message()

    two_workers.route_to(a)
    await (await officer.press("签收", message=card)).answered()
    await resident.next_message()  # told that an officer signed for it
    await two_workers.api.wait_for(lambda: "状态：已签收" in (card.text or ""), what="the card to show 已签收")
    await officer.press("回复", message=card)
    prompt = await officer.next_message()
    two_workers.route_to(b)
    await officer.send("已联系KTV，今晚起十点后停止营业。")
    relayed = await resident.next_message()

    assert prompt.text.startswith("请输入给群众的答复")
    assert number in relayed.text and "已联系KTV，今晚起十点后停止营业。" in relayed.text


async def test_exactly_one_worker_leads_and_health_says_which(two_workers: Workers) -> None:
    a, b = two_workers.workers

    reports = [await a.health(), await b.health()]

    assert [r["ok"] for r in reports] == [True, True]
    assert [r["worker"]["leader"] for r in reports] == [True, False]
    assert reports[0]["worker"]["id"] != reports[1]["worker"]["id"]
    assert two_workers.leaders() == [a]
    assert "dispatcher" in a.application.bot_data and "dispatcher" not in b.application.bot_data


async def test_when_the_leader_stops_the_other_takes_over_and_each_notice_goes_out_once(two_workers: Workers) -> None:
    a, b = two_workers.workers
    officer = await b.register_officer("张警官", "business")
    resident = two_workers.api.user("王女士")
    first = await report(two_workers, resident, NOISE)
    await cards_for(officer, [first])

    await a.stop()
    two_workers.balancer.backends.remove(a.url)
    await b.leadership.wait_until_leader(timeout=5)
    second = await report(two_workers, resident, "小区门口的路灯坏了一个多月，晚上很黑。")
    texts = await cards_for(officer, [second])

    assert two_workers.leaders() == [b]
    assert [t.startswith(f"📋 新工单 {first}") for t in texts].count(True) == 1
    assert [t.startswith(f"📋 新工单 {second}") for t in texts].count(True) == 1
    assert await outbox_pending(b) == 0
    assert (await b.health())["worker"]["leader"] is True


async def test_when_the_leader_dies_the_other_takes_over_once_its_lease_runs_out(two_workers: Workers, clock: FakeClock) -> None:
    a, b = two_workers.workers
    if on_postgresql(a):
        pytest.skip("SQLite's lease; on PostgreSQL the advisory lock goes with the dead leader's connection (next test)")
    officer = await b.register_officer("张警官", "business")
    resident = two_workers.api.user("王女士")

    await a.crash()
    two_workers.balancer.backends.remove(a.url)
    await b.leadership.check()
    assert not b.leadership.is_leader  # the dead leader's lease has not run out yet
    number = await report(two_workers, resident, NOISE)  # its card waits in the outbox meanwhile
    async with b.rt.db.unit_of_work() as uow:
        assert await uow.outbox.backlog() == {PENDING: 1}
    clock.advance(seconds=LEASE_SECONDS + 1)
    await b.leadership.wait_until_leader(timeout=5)
    texts = await cards_for(officer, [number])

    assert [t.startswith(f"📋 新工单 {number}") for t in texts].count(True) == 1
    assert await outbox_pending(b) == 0


async def test_when_the_leader_dies_on_postgresql_the_other_takes_over_at_its_next_check(two_workers: Workers) -> None:
    a, b = two_workers.workers
    if not on_postgresql(a):
        pytest.skip("the advisory lock is PostgreSQL's; run with --database=postgresql (tests/postgres.py's throwaway cluster)")
    officer = await b.register_officer("张警官", "business")
    resident = two_workers.api.user("王女士")

    await a.crash()  # its lock connection is dropped without unlocking, as when the process is killed
    two_workers.balancer.backends.remove(a.url)
    await b.leadership.wait_until_leader(timeout=5)
    number = await report(two_workers, resident, NOISE)
    texts = await cards_for(officer, [number])

    assert [t.startswith(f"📋 新工单 {number}") for t in texts].count(True) == 1
    assert await outbox_pending(b) == 0


async def test_a_conversation_that_moved_on_to_another_worker_is_not_timed_out_by_the_first(tmp_path: Path, clock: FakeClock) -> None:
    # Half a second of silence ends a conversation; the worker that set a timeout may no longer hold it.
    async with running_workers(tmp_path, clock, OPENDOOR_RESIDENT__CONVERSATION_TIMEOUT_MINUTES="0.008") as workers:
        a, b = workers.workers
        resident = workers.api.user("王女士")
        workers.route_to(a)
        await resident.send("/start")
        await resident.next_message()
        await resident.press("📝 我要反映")  # a's timeout starts here ...
        await resident.next_message()
        workers.route_to(b)
        await resident.press("投诉")  # ... and b's here, a little later
        await resident.next_message()

        timed_out = await resident.next_message()
        await resident.expect_no_message()

        assert timed_out.text.startswith("您有一项反映长时间没有完成")
        assert [m.text for m in resident.messages].count(timed_out.text) == 1
