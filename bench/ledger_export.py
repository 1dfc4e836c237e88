"""Benchmark: the ledger (台账) export of a big database, as the command line runs it.

Fills a temporary SQLite database with N tickets (default 100,000; a mix of open, closed, surveyed
and late ones over twelve months, with realistic Chinese texts), then runs
`python -m bot export-ledger` as a child process for XLSX and for CSV and prints, for each, the
wall time, the child's peak RSS and the file size. The export pages through the database and
streams rows to the file, so the peak RSS should stay flat as N grows (the budget is 300 MB).

    .venv/bin/python -m bench.ledger_export                    # 100,000 tickets
    .venv/bin/python -m bench.ledger_export --tickets 20000

It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # run as `python bench/ledger_export.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from bot.assembly import build_runtime, prepare_storage  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from storage.models import OfficerRow, ResidentRow, TicketRow  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Shanghai")
BATCH = 5000
TEXTS = (
    "我去年被人打伤后报了案，派出所一直有案不立，打电话问了好几次也没人管，希望领导重视。",
    "小区门口每天晚上都有人违停，消防通道被堵死，多次反映没有效果。",
    "办理户口迁移的时候窗口工作人员态度很差，来回跑了三趟还没办成。",
    "建议在学校门口上下学时段增加巡逻警力，保障孩子们的安全。",
    "请问港澳通行证续签需要带哪些材料？网上预约一直约不上。",
)


async def fill(url: str, tickets: int) -> None:
    settings = load_settings(environ={"OPENDOOR_DATABASE__URL": url})
    rt = build_runtime(settings)
    await prepare_storage(rt)
    rng = random.Random(7)
    start = datetime(2025, 12, 1, 9, tzinfo=TZ)
    departments = ["business", "petition", "discipline", "triage"]
    async with rt.db.unit_of_work() as uow:
        uow.session.add(ResidentRow(telegram_user_id=1, chat_id=1, locale="zh", created_at=start))
        for number, department in enumerate(departments, 1):
            uow.session.add(OfficerRow(telegram_user_id=100 + number, chat_id=100 + number, display_name=f"民警{number}",
                                       department_code=department, role="officer", locale="zh", created_at=start))
        await uow.commit()
    for first in range(0, tickets, BATCH):
        rows = []
        for index in range(first, min(first + BATCH, tickets)):
            received = start + timedelta(minutes=index * 5 * 60 * 24 * 365 // tickets // 5)
            department = departments[index % 4]
            deadline = received + timedelta(days=7)
            fate = rng.random()
            closed = received + timedelta(days=rng.randint(1, 10)) if fate < 0.85 else None
            rows.append(dict(
                number=f"KM-{received:%Y%m%d}-{index:06d}", source="appraisal" if index % 10 == 0 else "hotline",
                kind="complaint", text=TEXTS[index % len(TEXTS)], resident_id=1,
                category={"business": "business", "petition": "petition", "discipline": "discipline", "triage": "other"}[department],
                confidence=0.9, deciding_words=[], department_code=department,
                state=("surveyed" if fate < 0.6 else "closed") if closed else "signed",
                responsible_officer_id=departments.index(department) + 1, received_at=received, deadline_at=deadline,
                closed_at=closed, result="已核实处理，并电话告知群众处理结果。" if closed else None,
                survey_result=rng.choice(["satisfied", "basically_satisfied", "unsatisfied"]) if fate < 0.6 else ("unanswered" if closed else None),
                contact_mode="anonymous" if index % 3 == 0 else "real_name",
            ))
        async with rt.db.unit_of_work() as uow:
            await uow.session.execute(insert(TicketRow), rows)
            await uow.commit()
    await rt.db.dispose()


def export(url: str, fmt: str, out: Path) -> tuple[float, float]:
    """Runs the command line export; returns (seconds, peak RSS of the child in MB)."""
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bot", "export-ledger", "--format", fmt, "--out", str(out)],
        cwd=ROOT, env={**os.environ, "OPENDOOR_DATABASE__URL": url}, check=True,
    )
    seconds = time.perf_counter() - began
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        began = time.perf_counter()
        asyncio.run(fill(url, args.tickets))
        print(f"filled {args.tickets:,} tickets in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        # RUSAGE_CHILDREN reports the largest child so far: run CSV first, then XLSX, and report each.
        for fmt in ("csv", "xlsx"):
            out = Path(folder) / f"ledger.{fmt}"
            seconds, peak = export(url, fmt, out)
            print(
                f"{fmt}: {args.tickets:,} rows in {seconds:.1f} s ({args.tickets / seconds:,.0f} rows/s), "
                f"peak RSS {peak:.0f} MB (largest child so far), file {out.stat().st_size / 1e6:.1f} MB"
            )


if __name__ == "__main__":
    main()
