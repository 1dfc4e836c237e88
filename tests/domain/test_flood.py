"""The per-resident flood limit: a sliding window on a fake time source, one warning per burst, bounded memory."""

from __future__ import annotations

import pytest

from domain.flood import FloodLimiter, FloodVerdict
from tests.fakes import FakeSeconds

RESIDENT = 1001
OTHER_RESIDENT = 1002


@pytest.fixture
def time() -> FakeSeconds:
    return FakeSeconds(start=5000.0)


@pytest.fixture
def limiter(time: FakeSeconds) -> FloodLimiter:
    return FloodLimiter(max_messages=3, per_seconds=10.0, clock=time)


ALLOWED = FloodVerdict(allowed=True, retry_after=0.0, first_refusal=False)


def test_messages_up_to_the_limit_are_allowed(limiter: FloodLimiter) -> None:
    assert [limiter.allow(RESIDENT) for _ in range(3)] == [ALLOWED] * 3


def test_the_first_message_over_the_limit_is_refused_with_a_warning_and_the_time_to_wait(
    limiter: FloodLimiter, time: FakeSeconds
) -> None:
    for _ in range(3):
        limiter.allow(RESIDENT)
        time.advance(1.0)
    assert limiter.allow(RESIDENT) == FloodVerdict(allowed=False, retry_after=pytest.approx(7.0), first_refusal=True)


def test_later_messages_of_the_same_burst_are_refused_silently(limiter: FloodLimiter, time: FakeSeconds) -> None:
    for _ in range(3):
        limiter.allow(RESIDENT)
    refusals = [limiter.allow(RESIDENT) for _ in range(5)]
    assert [verdict.first_refusal for verdict in refusals] == [True, False, False, False, False]
    assert not any(verdict.allowed for verdict in refusals)


def test_the_window_slides_so_a_message_is_allowed_once_the_oldest_one_has_aged_out(
    limiter: FloodLimiter, time: FakeSeconds
) -> None:
    limiter.allow(RESIDENT)
    time.advance(4.0)
    limiter.allow(RESIDENT)
    limiter.allow(RESIDENT)
    time.advance(5.9)
    assert not limiter.allow(RESIDENT).allowed
    time.advance(0.1)  # exactly ten seconds after the first message
    assert limiter.allow(RESIDENT).allowed
    assert limiter.allow(RESIDENT).retry_after == pytest.approx(4.0)


def test_refused_messages_do_not_push_the_next_chance_further_away(limiter: FloodLimiter, time: FakeSeconds) -> None:
    for _ in range(3):
        limiter.allow(RESIDENT)
    for _ in range(9):
        time.advance(1.0)
        limiter.allow(RESIDENT)
    time.advance(1.0)
    assert limiter.allow(RESIDENT).allowed


def test_a_new_burst_after_an_accepted_message_is_warned_about_again(limiter: FloodLimiter, time: FakeSeconds) -> None:
    for _ in range(3):
        limiter.allow(RESIDENT)
    assert limiter.allow(RESIDENT).first_refusal
    time.advance(10.0)
    for _ in range(3):
        assert limiter.allow(RESIDENT).allowed
    assert limiter.allow(RESIDENT).first_refusal


def test_each_resident_has_a_window_of_their_own(limiter: FloodLimiter) -> None:
    for _ in range(4):
        limiter.allow(RESIDENT)
    assert limiter.allow(OTHER_RESIDENT) == ALLOWED


def test_idle_residents_are_forgotten_so_memory_stays_bounded(time: FakeSeconds) -> None:
    limiter = FloodLimiter(max_messages=1, per_seconds=1.0, clock=time)
    for user in range(10_000):
        limiter.allow(user)
        time.advance(0.01)  # about a hundred people a second write once each
    assert limiter.tracked() <= 2048


def test_pruning_keeps_everyone_still_inside_their_window(time: FakeSeconds) -> None:
    limiter = FloodLimiter(max_messages=1, per_seconds=3600.0, clock=time)
    for user in range(3000):
        limiter.allow(user)
    assert limiter.tracked() == 3000
    assert not limiter.allow(0).allowed


@pytest.mark.parametrize(("max_messages", "per_seconds"), [(0, 10.0), (3, 0.0), (3, -1.0)])
def test_a_limit_that_allows_nothing_is_refused(max_messages: int, per_seconds: float) -> None:
    with pytest.raises(ValueError, match="flood limit"):
        FloodLimiter(max_messages, per_seconds, clock=FakeSeconds())
