"""What an operator (or a load balancer) asks first: is the database there, is anything piling up,
does the working-day calendar know the years we are computing deadlines in?"""

from __future__ import annotations

from typing import Any

from domain.calendar import coverage_warning
from services.runtime import Runtime
from storage.repositories import PENDING


async def health(rt: Runtime) -> dict[str, Any]:
    """A JSON-ready report; `ok` is False when the database cannot be read."""
    now = rt.now()
    this_year = rt.local(now).year
    years = [this_year, this_year + 1]
    report: dict[str, Any] = {
        "ok": True,
        "calendar": {
            "years": {str(year): rt.calendar.covers(year) for year in years},
            "warning": coverage_warning(rt.calendar, years),
        },
    }
    try:
        async with rt.db.unit_of_work() as uow:
            backlog = await uow.outbox.backlog()
            report["database"] = "ok"
            report["outbox"] = {"pending": backlog.get(PENDING, 0), **{k: v for k, v in backlog.items() if k != PENDING}}
            report["reminders_due"] = await uow.reminders.count_due(now)
    except Exception as error:  # the report must still come back, saying what is wrong
        report["ok"] = False
        report["database"] = f"error: {error.__class__.__name__}: {error}"
    if rt.leadership is not None:
        # A worker that does not lead is healthy all the same: it serves the webhook and the dashboard.
        report["worker"] = rt.leadership.describe()
    return report
