"""Benchmark: every dashboard page over HTTP against a database of a million tickets.

Fills a database with N tickets (default 1,000,000 over twelve months, as bench/ledger_export.py
makes them) plus appraisals and a supervisor account, signs in through the real login form and times
each page as a browser would ask for it (HTTP in the same process, page rendered). Prints the first
(cold) and the median of the following requests per page, and beside them a bare
`SELECT count(*) FROM tickets` on the same database in the same run as the baseline. The target is
≤ 500 ms per page.

    .venv/bin/python -m bench.dashboard_pages                         # 1,000,000 tickets, SQLite
    .venv/bin/python -m bench.dashboard_pages --tickets 100000
    .venv/bin/python -m bench.dashboard_pages --postgres                 # a throwaway PostgreSQL cluster
    .venv/bin/python -m bench.dashboard_pages --url postgresql+asyncpg://…/db   # an empty PostgreSQL database
    .venv/bin/python -m bench.dashboard_pages --keep var/bench/dashboard.sqlite3  # fill once, reuse

It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from sqlalchemy import func, insert  # noqa: E402
from sqlmodel import select  # noqa: E402

from bench.ledger_export import fill  # noqa: E402
from bot.assembly import build_runtime, prepare_storage  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from domain.clock import FakeClock  # noqa: E402
from services.web_accounts import add_user  # noqa: E402
from storage.models import AppraisalRow, TicketRow  # noqa: E402
from web.app import build_web_app  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
PASSWORD = "bench-password-1"
REPEATS = 5
APPRAISALS = 20_000
PAGES = (
    ("overview (this month)", "/dashboard/"),
    ("overview (2026-06)", "/dashboard/?period=2026-06"),
    ("tickets, first page", "/dashboard/tickets"),
    ("tickets, overdue", "/dashboard/tickets?state=overdue"),
    ("tickets, department + month", "/dashboard/tickets?department=petition&period=2026-10"),
    ("tickets, page 2,000", "/dashboard/tickets?page=2000"),
    ("tickets, text search", "/dashboard/tickets?q=消防通道"),
    ("tickets, number search", "/dashboard/tickets?q=KM-20260611"),
    ("ticket detail", None),
    ("ranking (this month)", "/dashboard/ranking"),
    ("appraisals", "/dashboard/appraisals"),
    ("trend chart PNG", "/dashboard/trend.png"),
)


async def prepare(url: str, tickets: int, keep: bool) -> None:
    settings = load_settings(environ={"OPENDOOR_DATABASE__URL": url})
    rt = build_runtime(settings, FakeClock(NOW))
    await prepare_storage(rt)
    async with rt.db.unit_of_work() as uow:
        existing = (await uow.session.exec(select(func.count()).select_from(TicketRow))).one()
    if existing == 0:
        began = time.perf_counter()
        await fill(url, tickets)
        async with rt.db.unit_of_work() as uow:
            await uow.session.execute(insert(AppraisalRow), [
                dict(resident_id=1, unit_code=("xishan_station", "panlong_station")[index % 2],
                     rating=("satisfied", "basically_satisfied", "unsatisfied")[index % 3], scores={}, comment=None,
                     created_at=datetime(2025, 12, 1, 9, tzinfo=TZ) + (NOW - datetime(2025, 12, 1, 9, tzinfo=TZ)) * index / APPRAISALS)
                for index in range(APPRAISALS)
            ])
            await uow.commit()
        await add_user(rt, "bench", PASSWORD, role="supervisor", department="leadership")
        print(f"filled {tickets:,} tickets in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    elif keep:
        print(f"reusing {existing:,} tickets", file=sys.stderr)
    await rt.db.dispose()


async def measure(url: str) -> None:
    settings = load_settings(environ={"OPENDOOR_DATABASE__URL": url, "OPENDOOR_WEB__SECURE_COOKIES": "false"})
    rt = build_runtime(settings, FakeClock(NOW))
    await prepare_storage(rt)
    async with rt.db.unit_of_work() as uow:
        count = (await uow.session.exec(select(func.count()).select_from(TicketRow))).one()
        baseline = []
        for _ in range(REPEATS):
            began = time.perf_counter()
            await uow.session.exec(select(func.count()).select_from(TicketRow))
            baseline.append(time.perf_counter() - began)
        sample = (await uow.session.exec(select(TicketRow.number).where(TicketRow.id == count // 2))).one()
    print(f"{count:,} tickets on {rt.db.engine.dialect.name}; baseline SELECT count(*): {statistics.median(baseline) * 1000:.1f} ms")
    async with TestClient(TestServer(build_web_app(rt))) as client:
        form = await (await client.get("/dashboard/login")).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        signed = await client.post("/dashboard/login", data={"csrf_token": token, "username": "bench", "password": PASSWORD})
        assert "工作概览" in await signed.text(), "could not sign in"
        print(f"{'page':32} {'first':>9} {'median':>9} {'max':>9}")
        worst = 0.0
        for name, path in PAGES:
            path = path or f"/dashboard/tickets/{sample}"
            times = []
            for _ in range(REPEATS + 1):
                began = time.perf_counter()
                response = await client.get(path)
                await response.read()
                times.append(time.perf_counter() - began)
                assert response.status == 200, (path, response.status)
            median = statistics.median(times[1:])
            worst = max(worst, median)
            print(f"{name:32} {times[0] * 1000:8.0f}ms {median * 1000:8.0f}ms {max(times[1:]) * 1000:8.0f}ms")
        print(f"slowest page (median): {worst * 1000:.0f} ms (target ≤ 500 ms)")
    await rt.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--url", help="database URL (an empty database is filled; default: a temporary SQLite file)")
    parser.add_argument("--keep", type=Path, help="SQLite file to fill once and reuse on later runs")
    parser.add_argument("--postgres", action="store_true", help="on a throwaway PostgreSQL cluster (Debian's binaries)")
    args = parser.parse_args()
    cluster = None
    if args.postgres:
        from tests.postgres import ThrowawayCluster, find_binaries

        cluster = ThrowawayCluster(find_binaries())
        cluster.start()
    with tempfile.TemporaryDirectory() as folder:
        if cluster is not None:
            url = cluster.url(cluster.create_database(migrated=False))
        elif args.url:
            url = args.url
        else:
            path = args.keep or Path(folder) / "dashboard.sqlite3"
            path.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite+aiosqlite:///{path.resolve()}"
        try:
            asyncio.run(prepare(url, args.tickets, keep=args.keep is not None))
            asyncio.run(measure(url))
        finally:
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    main()
