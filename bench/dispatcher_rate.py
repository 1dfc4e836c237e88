"""Benchmark: how fast the outbox dispatcher empties a big queue under Telegram's flood limits.

Queues notices to many residents, in the order the bot would produce them, then runs the real
dispatcher with a real python-telegram-bot `Bot` against the local Bot API server with its flood
limits on (30 messages/s overall, 1/s per person: 429 above that) until every notice is sent.
Prints the total time, the sustained rate against the 30/s cap, the 429s received, and peak RSS.

    .venv/bin/python -m bench.dispatcher_rate                                # 10,000 to 2,000: ~6 minutes
    .venv/bin/python -m bench.dispatcher_rate --messages 600 --residents 120  # ~20 s

It prints figures; it is not a test. The fake server runs in the same process and event loop, so
CPU time and RSS include it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/dispatcher_rate.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import Bot  # noqa: E402

from bot.assembly import build_runtime  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from domain.ratelimit import OVERALL  # noqa: E402
from local_botapi import LocalBotApi, SimUser  # noqa: E402
from scheduler.dispatcher import OutboxDispatcher  # noqa: E402
from services.outbox import queue_message  # noqa: E402
from services.runtime import Runtime  # noqa: E402
from storage.models import OutboxRow  # noqa: E402
from storage.repositories import OutboxRepository  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
# The notices one complaint brings its resident, in order.
NOTICES = ("已受理", "已派单", "已签收", "已答复", "已办结")
QUEUE_BATCH = 1_000  # rows per transaction while filling the queue
PROGRESS_SECONDS = 30


@dataclass(frozen=True)
class Notice:
    at: float  # when the bot would have queued it (seconds into the simulated day)
    resident: int
    step: int


def realistic_order(residents: int, per_resident: int, rng: random.Random) -> list[Notice]:
    """Each resident complains at some moment of the day, and their notices follow minutes to hours apart."""
    notices = []
    for resident in range(residents):
        at = rng.uniform(0, 8 * 3600)
        for step in range(per_resident):
            notices.append(Notice(at, resident, step))
            at += rng.expovariate(1 / 1800)  # half an hour on average until the next step
    return sorted(notices, key=lambda notice: notice.at)


def burst_order(residents: int, per_resident: int, _rng: random.Random) -> list[Notice]:
    """All of a resident's notices back to back: the hardest order for looking ahead past waiting chats."""
    return [Notice(0, resident, step) for resident in range(residents) for step in range(per_resident)]


ORDERS: dict[str, Callable[[int, int, random.Random], list[Notice]]] = {
    "realistic": realistic_order,
    "bursts": burst_order,
}


def text_of(notice: Notice) -> str:
    return f"您的工单{NOTICES[notice.step % len(NOTICES)]}（第{notice.step + 1}条）"


async def fill_queue(rt: Runtime, people: list[SimUser], notices: list[Notice]) -> None:
    for start in range(0, len(notices), QUEUE_BATCH):
        async with rt.db.unit_of_work() as uow:
            for notice in notices[start : start + QUEUE_BATCH]:
                person = people[notice.resident]
                await queue_message(
                    uow, key=f"bench:{notice.resident}:{notice.step}", chat_id=person.id,
                    text=text_of(notice), purpose="bench", now=rt.now(),
                )
            await uow.commit()


def count_page_reads() -> Callable[[], int]:
    """Counts the dispatcher's reads of the queue, to show they are by the page, not by the row."""
    reads = 0
    original = OutboxRepository.pending_after

    async def counted(self: OutboxRepository, after_id: int, limit: int = 200) -> Sequence[OutboxRow]:
        nonlocal reads
        reads += 1
        return await original(self, after_id, limit)

    OutboxRepository.pending_after = counted  # type: ignore[method-assign]
    return lambda: reads


async def report_progress(api: LocalBotApi, total: int, started: float) -> None:
    while True:
        await asyncio.sleep(PROGRESS_SECONDS)
        sent = sum(1 for call in api.calls("sendMessage") if call.status == 200)
        print(f"  … {sent}/{total} sent after {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def check_order(people: list[SimUser], per_resident: int) -> tuple[bool, float]:
    """Whether every resident got their notices complete and in order, and the smallest gap within a chat."""
    in_order = True
    smallest_gap = float("inf")
    for n, person in enumerate(people):
        messages = person.messages
        expected = [text_of(Notice(0, n, step)) for step in range(per_resident)]
        in_order &= [m.text for m in messages] == expected
        smallest_gap = min([smallest_gap] + [b.sent_at - a.sent_at for a, b in zip(messages, messages[1:])])
    return in_order, smallest_gap


async def run(messages: int, residents: int, order: str, seed: int) -> None:
    per_resident = max(1, messages // residents)
    notices = ORDERS[order](residents, per_resident, random.Random(seed))
    total = len(notices)
    with tempfile.TemporaryDirectory(prefix="opendoor-bench-") as tmp:
        async with LocalBotApi(token=TOKEN) as api:
            api.enforce_rate_limits = True
            settings = load_settings(
                environ={
                    "OPENDOOR_DATABASE__URL": f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}",
                    "OPENDOOR_TELEGRAM__TOKEN": TOKEN,
                    "OPENDOOR_TELEGRAM__BASE_URL": api.base_url,
                    "OPENDOOR_TELEGRAM__BASE_FILE_URL": api.base_file_url,
                }
            )
            rt = build_runtime(settings)
            await rt.db.migrate()
            people = [api.user(f"居民{n}") for n in range(residents)]
            queued_started = time.perf_counter()
            await fill_queue(rt, people, notices)
            queued_in = time.perf_counter() - queued_started
            page_reads = count_page_reads()
            print(f"queued {total} notices to {residents} residents ({order} order) in {queued_in:.1f} s")

            async with Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as bot:
                dispatcher = OutboxDispatcher(rt, bot)
                rss_before_mb = peak_rss_mb()
                cpu_before = time.process_time()
                started = time.perf_counter()
                progress = asyncio.create_task(report_progress(api, total, started))
                try:
                    delivered = await dispatcher.drain()
                finally:
                    progress.cancel()
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu_before
            await rt.db.dispose()

            sends = [call.at for call in api.calls("sendMessage") if call.status == 200]
            in_order, smallest_gap = check_order(people, per_resident)

    sustained = (len(sends) - 1) / (sends[-1] - sends[0]) if len(sends) > 1 else 0.0
    cap = OVERALL.messages / OVERALL.seconds
    print(f"delivered          {delivered}/{total}")
    print(f"total time         {elapsed:.1f} s")
    print(f"overall rate       {delivered / elapsed:.2f} msg/s = {delivered / elapsed / cap:.3f} of the {cap:.0f}/s cap")
    print(f"sustained rate     {sustained:.2f} msg/s = {sustained / cap:.3f} of the cap (first to last accepted send)")
    print(f"429s received      {api.stats['429']}")
    print(f"per-chat order     {'kept' if in_order else 'BROKEN'}; smallest gap within a chat {smallest_gap:.3f} s")
    print(f"queue page reads   {page_reads()} (for {total} rows)")
    print(f"CPU time           {cpu:.1f} s ({cpu / elapsed:.0%} of one core, fake server included)")
    print(f"peak RSS           {peak_rss_mb():.0f} MB (fake server included; {rss_before_mb:.0f} MB before sending)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="notices to queue (default 10000)")
    parser.add_argument("--residents", type=int, default=2_000, help="residents they go to (default 2000)")
    parser.add_argument("--order", choices=sorted(ORDERS), default="realistic", help="queue order (default realistic)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(run(args.messages, args.residents, args.order, args.seed))


if __name__ == "__main__":
    main()
