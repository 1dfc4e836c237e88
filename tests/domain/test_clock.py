from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.clock import Clock, FakeClock, SystemClock

START = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)


def test_the_system_clock_tells_the_current_time_in_utc():
    before = datetime.now(UTC)
    now = SystemClock().now()

    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)


def test_both_clocks_satisfy_the_clock_protocol():
    assert isinstance(SystemClock(), Clock)
    assert isinstance(FakeClock(START), Clock)


def test_a_fake_clock_stands_still_until_told():
    clock = FakeClock(START)

    assert clock.now() == START
    assert clock.now() == START


def test_a_fake_clock_stores_its_start_in_utc():
    clock = FakeClock(datetime(2026, 3, 6, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai")))

    assert clock.now().tzinfo is UTC
    assert clock.now() == START


def test_a_fake_clock_refuses_a_naive_start():
    with pytest.raises(ValueError, match="naive"):
        FakeClock(datetime(2026, 3, 6, 12, 0))


def test_advance_by_a_timedelta_returns_the_new_now():
    clock = FakeClock(START)

    assert clock.advance(timedelta(minutes=90)) == START + timedelta(minutes=90)
    assert clock.now() == START + timedelta(minutes=90)


def test_advance_accepts_timedelta_keywords():
    clock = FakeClock(START)

    clock.advance(hours=5)
    clock.advance(days=1, minutes=30)

    assert clock.now() == START + timedelta(days=1, hours=5, minutes=30)


def test_advance_by_nothing_keeps_the_time():
    clock = FakeClock(START)

    assert clock.advance() == START


def test_advance_refuses_to_go_backwards_and_leaves_the_time_alone():
    clock = FakeClock(START)

    with pytest.raises(ValueError, match="backwards"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(hours=-1)
    assert clock.now() == START


def test_advance_refuses_a_timedelta_together_with_keywords():
    with pytest.raises(TypeError):
        FakeClock(START).advance(timedelta(hours=1), minutes=5)


def test_set_jumps_forward():
    clock = FakeClock(START)
    later = START + timedelta(days=3)

    clock.set(later)

    assert clock.now() == later


def test_set_to_the_current_moment_is_allowed():
    clock = FakeClock(START)

    clock.set(START)

    assert clock.now() == START


def test_set_converts_other_zones_to_utc():
    clock = FakeClock(START)

    clock.set(datetime(2026, 3, 7, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai")))

    assert clock.now() == datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_set_refuses_to_go_backwards_and_leaves_the_time_alone():
    clock = FakeClock(START)

    with pytest.raises(ValueError, match="backwards"):
        clock.set(START - timedelta(microseconds=1))
    assert clock.now() == START


def test_set_refuses_a_naive_moment():
    with pytest.raises(ValueError, match="naive"):
        FakeClock(START).set(datetime(2026, 3, 7, 12, 0))
