"""Sources of the current time. Every moment handed out is timezone-aware and in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock for tests and the offline demo: time moves only when told, and only forwards."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by `delta`, or by `timedelta(**kwargs)` (e.g. `advance(hours=5)`); return the new now."""
        step = _step(delta, kwargs)
        if step < timedelta(0):
            raise ValueError(f"FakeClock cannot go backwards (advance by {step})")
        self._now += step
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to `moment`, which must not be earlier than now."""
        target = _aware_utc(moment)
        if target < self._now:
            raise ValueError(f"FakeClock cannot go backwards from {self._now.isoformat()} to {target.isoformat()}")
        self._now = target


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone; pass an aware datetime")
    return moment.astimezone(UTC)


def _step(delta: timedelta | None, kwargs: dict[str, float]) -> timedelta:
    if delta is not None and kwargs:
        raise TypeError("pass either a timedelta or timedelta keyword arguments, not both")
    return delta if delta is not None else timedelta(**kwargs)
