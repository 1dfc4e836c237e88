"""Scheduler sweep with many open tickets in SQLite: start-up, per-sweep time, peak memory.

Targets (issue 5): start-up rebuild ≤ 5 s, sweep ≤ 200 ms, peak memory ≤ 300 MB with 100,000 open
tickets. The baseline, measured in the same run, is the bare SQL query for due reminders: the floor
any sweep has to pay.

    .venv/bin/python -m bench.scheduler_sweep [--tickets 100000] [--sweeps 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.assembly import build_runtime, prepare_storage  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from domain.clock import FakeClock  # noqa: E402
from scheduler.sweep import sweep  # noqa: E402
from storage.database import Database  # noqa: E402

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
KINDS = ("sign_for", "remind", "remind", "overdue", "escalate")


def _naive(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def populate(path: Path, tickets: int, residents: int = 2000) -> int:
    """Fills the database directly (setup, not measured): open tickets, each with its reminder rows."""
    rng = random.Random(7)
    db = sqlite3.connect(path)
    now = _naive(START)
    db.executemany(
        "INSERT INTO residents (id, telegram_user_id, chat_id, locale, created_at) VALUES (?, ?, ?, 'zh', ?)",
        [(n, 10_000 + n, 10_000 + n, now) for n in range(1, residents + 1)],
    )
    ticket_rows, reminder_rows = [], []
    for n in range(1, tickets + 1):
        received = START - timedelta(days=rng.uniform(0, 20))
        deadline = received + timedelta(days=rng.choice((7, 21)))
        ticket_rows.append(
            (n, f"KM-B-{n:06d}", "hotline", "complaint", "测试内容", rng.randint(1, residents), "business", 0.9, "[]",
             rng.choice(("dispatched", "signed")), "business", _naive(received), _naive(deadline))
        )
        span = deadline - received
        for kind, fraction in zip(KINDS, (0.1, 0.5, 0.8, 1.0, 1.2)):
            due = received + span * fraction
            # What fell due in the last two hours is left undone: the bot was down, start-up must catch up.
            reminder_rows.append((n, kind, _naive(due), now if due < START - timedelta(hours=2) else None))
    db.executemany(
        "INSERT INTO tickets (id, number, source, kind, text, resident_id, category, confidence, deciding_words,"
        " state, department_code, received_at, deadline_at, reopen_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
        ticket_rows,
    )
    db.executemany("INSERT INTO reminders (ticket_id, kind, due_at, done_at) VALUES (?, ?, ?, ?)", reminder_rows)
    db.commit()
    db.close()
    return len(reminder_rows)


def bare_due_query(path: Path, moment: datetime) -> float:
    db = sqlite3.connect(path)
    started = time.perf_counter()
    db.execute(
        "SELECT id, ticket_id, kind, due_at FROM reminders WHERE done_at IS NULL AND due_at <= ? ORDER BY due_at, id"
        " LIMIT 500",
        (_naive(moment),),
    ).fetchall()
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


async def main(tickets: int, sweeps: int) -> None:
    with tempfile.TemporaryDirectory(prefix="opendoor-bench-") as workdir:
        path = Path(workdir) / "bench.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        database = Database(url)
        await database.migrate()
        await database.dispose()
        started = time.perf_counter()
        reminders = populate(path, tickets)
        print(f"setup: {tickets:,} open tickets, {reminders:,} reminder rows in {time.perf_counter() - started:.1f} s")

        settings = load_settings(environ={"OPENDOOR_DATABASE__URL": url})
        clock = FakeClock(START)
        started = time.perf_counter()
        rt = build_runtime(settings, clock)
        await prepare_storage(rt)
        fired = await sweep(rt)
        rebuild = time.perf_counter() - started
        print(f"start-up (runtime, migrations, first sweep firing {fired} reminders): {rebuild:.2f} s  (target ≤ 5 s)")

        durations, baselines, total_fired = [], [], 0
        for _ in range(sweeps):
            clock.advance(minutes=1)
            baselines.append(bare_due_query(path, clock.now()))
            started = time.perf_counter()
            total_fired += await sweep(rt)
            durations.append(time.perf_counter() - started)
        await rt.db.dispose()
        median, worst = statistics.median(durations), max(durations)
        floor = statistics.median(baselines)
        print(
            f"sweep over {sweeps} minutes ({total_fired} reminders fired): median {median * 1000:.1f} ms, "
            f"max {worst * 1000:.1f} ms  (target ≤ 200 ms)"
        )
        print(f"baseline bare due-reminder query: median {floor * 1000:.2f} ms; sweep/baseline = {median / floor:.1f}×")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory (RSS): {peak_mb:.0f} MB  (target ≤ 300 MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--sweeps", type=int, default=30)
    arguments = parser.parse_args()
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    asyncio.run(main(arguments.tickets, arguments.sweeps))
