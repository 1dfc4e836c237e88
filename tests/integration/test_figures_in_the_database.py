"""The database's grouped figures equal the domain's ticket-by-ticket definition, edge cases included.

The figures of a period are counted by the database in groups (a million tickets stay fast) and
judged by domain/statistics.py; here several hundred random tickets — around local midnights,
void, open past the deadline, closed late, surveyed or not — are counted both ways.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.statistics import TicketRecord, days_period, figures, figures_by, period_of
from services.figures import admin_scope, period_figures
from services.runtime import Runtime
from storage.models import TicketRow

TZ = ZoneInfo("Asia/Shanghai")
STATES_OPEN = ("dispatched", "signed", "answered", "reopened", "triage")
SURVEYS = (None, "satisfied", "basically_satisfied", "unsatisfied", "unanswered")


def random_tickets(count: int, seed: int) -> list[TicketRow]:
    rng = random.Random(seed)
    first = datetime(2026, 10, 25, tzinfo=TZ)
    tickets = []
    for index in range(count):
        # Many moments fall within minutes of a local midnight, where a wrong time zone would show.
        day = first + timedelta(days=rng.randint(0, 40))
        received = day + timedelta(minutes=rng.choice([0, 1, 59, 60 * 8 - 1, 60 * 8, 60 * 12, 60 * 24 - 1]))
        deadline = received + timedelta(days=rng.randint(0, 12), minutes=rng.randint(0, 60 * 24))
        fate = rng.random()
        closed = received + timedelta(days=rng.randint(0, 15), minutes=rng.randint(0, 600)) if fate < 0.6 else None
        state = "void" if fate > 0.95 else ("surveyed" if closed and rng.random() < 0.5 else "closed") if closed else rng.choice(STATES_OPEN)
        tickets.append(
            TicketRow(
                number=f"KM-T-{index:05d}", source=rng.choice(["hotline", "appraisal", "open311"]), kind="complaint",
                text="测试", resident_id=1, category=rng.choice(["business", "petition", "discipline", "other"]),
                confidence=0.9, state=state, department_code=rng.choice(["business", "petition", "discipline", "triage"]),
                received_at=received, deadline_at=deadline, closed_at=closed,
                survey_result=rng.choice(SURVEYS) if closed else None,
                unit_code=rng.choice([None, "household", "traffic", "xishan_station"]),
            )
        )
    return tickets


def record(row: TicketRow) -> TicketRecord:
    return TicketRecord(
        row.received_at, row.deadline_at, row.closed_at, row.state, row.department_code, row.category, row.source,
        row.unit_code, row.survey_result,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_grouped_figures_equal_the_ticket_by_ticket_definition(runtime: Runtime, seed: int) -> None:
    async with runtime.db.unit_of_work() as uow:
        await uow.residents.upsert(1, 1, "zh", datetime(2026, 10, 1, tzinfo=TZ))
        for ticket in random_tickets(400, seed):
            await uow.tickets.add(ticket)
        await uow.commit()
        rows = [record(row) for row in await uow.tickets.received_between(
            datetime(2020, 1, 1, tzinfo=TZ), datetime(2030, 1, 1, tzinfo=TZ), limit=10_000
        )]
    now, calendar, tz = runtime.now(), runtime.calendar, runtime.hours.tz
    periods = [
        period_of("2026-11", now, tz), period_of("2026-10", now, tz), period_of("week", now, tz),
        period_of("today", now, tz), days_period(now.date() - timedelta(days=20), now.date() - timedelta(days=3), tz),
    ]
    for period in periods:
        counted = await period_figures(runtime, period, admin_scope(runtime))
        assert _sorted(counted.total) == _sorted(figures(rows, period, now, calendar, tz)), period.label
        for name, key in (
            ("by_department", lambda t: t.department), ("by_category", lambda t: t.category),
            ("by_source", lambda t: t.source), ("by_unit", lambda t: t.unit),
        ):
            expected = figures_by(rows, key, period, now, calendar, tz)
            assert {k: _sorted(v) for k, v in getattr(counted, name).items()} == {k: _sorted(v) for k, v in expected.items()}, (period.label, name)


def _sorted(f):  # type: ignore[no-untyped-def]
    """Handling days come in group order from the database; the figures only use them as a multiset."""
    from dataclasses import replace

    return replace(f, handling_days=tuple(sorted(f.handling_days)))
