"""Time limits (办理时限), written like "5d" (working days) or "4h" (working hours of office time)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from domain.calendar import OfficeHours, WorkingCalendar, add_working_hours, deadline_after

_PATTERN = re.compile(r"^\s*(\d+)\s*([dh])\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class WorkLimit:
    amount: int
    unit: Literal["d", "h"]

    def __post_init__(self) -> None:
        if self.amount < 1:
            raise ValueError("a time limit must be at least 1 working day or hour")

    @classmethod
    def parse(cls, text: str | int | WorkLimit) -> WorkLimit:
        """Reads "5d" or "4h"; a bare number means working days."""
        if isinstance(text, WorkLimit):
            return text
        if isinstance(text, int):
            return cls(text, "d")
        match = _PATTERN.match(text)
        if not match:
            raise ValueError(f"expected a limit like '5d' (working days) or '4h' (working hours), got {text!r}")
        return cls(int(match.group(1)), match.group(2).lower())  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    def in_hours(self, office: OfficeHours) -> float:
        if self.unit == "h":
            return self.amount
        return self.amount * _office_day_hours(office)

    def due_after(self, start: datetime, calendar: WorkingCalendar, office: OfficeHours) -> datetime:
        """Days end at office closing on the n-th working day after receipt; hours count office time only."""
        if self.unit == "d":
            return deadline_after(start, self.amount, calendar, office)
        return add_working_hours(start, self.amount, calendar, office)


def reopen_limit(original: WorkLimit, fraction: float, minimum: WorkLimit, office: OfficeHours) -> WorkLimit:
    """The limit after a reopen: a fraction of the original, rounded up, but never below `minimum`.

    The department already knows the case, so it gets less time; but a resident who was not
    satisfied deserves a real answer, not a rushed one, hence the floor.
    """
    shortened = WorkLimit(max(1, math.ceil(original.amount * fraction)), original.unit)
    return minimum if minimum.in_hours(office) > shortened.in_hours(office) else shortened


def _office_day_hours(office: OfficeHours) -> float:
    start = office.start.hour + office.start.minute / 60
    end = office.end.hour + office.end.minute / 60
    return end - start
