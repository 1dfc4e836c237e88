"""The send limiter: Telegram's flood limits as a pure rule, on a fake time source (no sleeps)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.ratelimit import GROUP_CHAT, OVERALL, PRIVATE_CHAT, Limit, SendLimiter, is_group_chat
from tests.fakes import FakeSeconds

RESIDENT = 1001
OTHER_RESIDENT = 1002
GROUP = -1005


@pytest.fixture
def time() -> FakeSeconds:
    return FakeSeconds(start=1000.0)


@pytest.fixture
def limiter(time: FakeSeconds) -> SendLimiter:
    return SendLimiter(time)


def send_now(limiter: SendLimiter, chat_id: int) -> None:
    """A send whose answer comes back at once."""
    limiter.finish(limiter.start(chat_id))


def test_telegrams_limits_are_30_a_second_overall_1_a_second_per_person_and_20_a_minute_per_group() -> None:
    assert (OVERALL, PRIVATE_CHAT, GROUP_CHAT) == (Limit(30, 1.0), Limit(1, 1.0), Limit(20, 60.0))
    assert is_group_chat(GROUP) and not is_group_chat(RESIDENT)


def test_the_first_message_to_anyone_may_go_at_once(limiter: SendLimiter) -> None:
    assert limiter.wait(RESIDENT) == 0.0
    assert limiter.wait(GROUP) == 0.0


def test_a_person_gets_one_message_a_second(limiter: SendLimiter, time: FakeSeconds) -> None:
    send_now(limiter, RESIDENT)
    assert limiter.wait(RESIDENT) == 1.0
    time.advance(0.4)
    assert limiter.wait(RESIDENT) == pytest.approx(0.6)
    time.advance(0.6)
    assert limiter.wait(RESIDENT) == 0.0


def test_other_people_may_be_sent_to_while_one_waits(limiter: SendLimiter) -> None:
    send_now(limiter, RESIDENT)
    assert limiter.wait(RESIDENT) == 1.0
    assert limiter.wait(OTHER_RESIDENT) == 0.0


def test_no_more_than_thirty_messages_go_out_in_any_second(limiter: SendLimiter, time: FakeSeconds) -> None:
    for chat_id in range(1, 31):
        assert limiter.wait(chat_id) == 0.0
        send_now(limiter, chat_id)
        time.advance(1 / 32)  # steps a float holds exactly, so the sums below are exact too
    assert limiter.wait(31) == 2 / 32  # until the first of the thirty is a second old
    assert limiter.overall_wait() == 2 / 32
    assert limiter.chat_wait(31) == 0.0
    time.advance(2 / 32)
    assert limiter.wait(31) == 0.0
    send_now(limiter, 31)
    assert limiter.wait(32) == 1 / 32  # and then until the second of them is


def test_a_group_gets_twenty_messages_a_minute(limiter: SendLimiter, time: FakeSeconds) -> None:
    for _ in range(20):
        assert limiter.wait(GROUP) == 0.0
        send_now(limiter, GROUP)
        time.advance(0.5)
    assert limiter.wait(GROUP) == pytest.approx(50.0)  # the first went out 10 s ago
    assert limiter.wait(RESIDENT) == 0.0


def test_a_message_counts_from_when_its_answer_arrived_not_when_it_left(
    limiter: SendLimiter, time: FakeSeconds
) -> None:
    send = limiter.start(RESIDENT)
    time.advance(0.3)  # the round trip: Telegram counted it somewhere in these 0.3 s
    limiter.finish(send)
    assert limiter.wait(RESIDENT) == 1.0


def test_a_chat_with_a_message_in_flight_waits_for_its_answer(limiter: SendLimiter, time: FakeSeconds) -> None:
    send = limiter.start(RESIDENT)
    assert limiter.wait(RESIDENT) == math.inf
    time.advance(5)
    assert limiter.wait(RESIDENT) == math.inf
    limiter.finish(send)
    assert limiter.wait(RESIDENT) == 1.0


def test_messages_in_flight_count_against_the_overall_limit(limiter: SendLimiter) -> None:
    sends = [limiter.start(chat_id) for chat_id in range(1, 31)]
    assert limiter.overall_wait() == math.inf  # only an answer can make room
    limiter.finish(sends[0])
    assert limiter.overall_wait() == 1.0


def test_a_message_that_may_not_go_yet_cannot_be_started(limiter: SendLimiter) -> None:
    send_now(limiter, RESIDENT)
    with pytest.raises(RuntimeError, match="may not start"):
        limiter.start(RESIDENT)


def test_finishing_a_send_twice_counts_it_once(limiter: SendLimiter, time: FakeSeconds) -> None:
    send = limiter.start(RESIDENT)
    limiter.finish(send)
    time.advance(1)
    limiter.finish(send)
    assert limiter.wait(RESIDENT) == 0.0


def test_flood_control_holds_back_one_chat_for_as_long_as_telegram_asks(
    limiter: SendLimiter, time: FakeSeconds
) -> None:
    limiter.hold_chat(GROUP, 7)
    assert limiter.wait(GROUP) == 7.0
    assert limiter.wait(RESIDENT) == 0.0
    time.advance(7)
    assert limiter.wait(GROUP) == 0.0


def test_a_shorter_hold_does_not_cut_a_longer_one(limiter: SendLimiter) -> None:
    limiter.hold_chat(RESIDENT, 7)
    limiter.hold_chat(RESIDENT, 2)
    limiter.hold_all(5)
    limiter.hold_all(1)
    assert limiter.wait(RESIDENT) == 7.0
    assert limiter.wait(OTHER_RESIDENT) == 5.0


def test_holding_everything_holds_every_chat(limiter: SendLimiter, time: FakeSeconds) -> None:
    limiter.hold_all(3)
    assert limiter.wait(RESIDENT) == limiter.wait(GROUP) == limiter.overall_wait() == 3.0
    assert limiter.chat_wait(RESIDENT) == 0.0
    time.advance(3)
    assert limiter.wait(RESIDENT) == 0.0


def test_quiet_chats_are_forgotten_but_busy_ones_keep_their_limits(limiter: SendLimiter, time: FakeSeconds) -> None:
    for chat_id in range(1, 3_000):
        send_now(limiter, chat_id)
        time.advance(1 / 16)
    assert limiter.chat_wait(2_999) == 1 - 1 / 16
    assert limiter.chat_wait(1) == 0.0
    # White-box, on purpose: the map must not grow with every chat the bot ever wrote to.
    assert len(limiter._chats) <= 1_100


# A send: to which chat, how long until its answer, and when within that round trip Telegram counts it.
sends_strategy = st.lists(
    st.tuples(
        st.sampled_from([1, 2, 3, -1, -2] + list(range(10, 60))),
        st.floats(min_value=0.0, max_value=0.5),
        st.floats(min_value=0.0, max_value=1.0),
    ),
    min_size=1,
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(sends=sends_strategy, max_in_flight=st.integers(min_value=1, max_value=12))
def test_whenever_telegram_counts_a_message_it_never_sees_a_limit_exceeded(
    sends: list[tuple[int, float, float]], max_in_flight: int
) -> None:
    time = FakeSeconds()
    limiter = SendLimiter(time)
    in_flight: list[tuple[float, object]] = []  # (answer time, send)
    counted: list[tuple[float, int]] = []  # (when Telegram counted it, chat)

    def answer_due() -> None:
        for due, send in sorted(in_flight, key=lambda item: item[0]):
            if due <= time.now:
                limiter.finish(send)  # type: ignore[arg-type]
                in_flight.remove((due, send))

    for chat_id, round_trip, counted_at in sends:
        answer_due()
        while (wait := limiter.wait(chat_id)) > 0 or len(in_flight) >= max_in_flight:
            next_answer = min((due for due, _ in in_flight), default=math.inf)
            # On to the next answer, or sooner if the limiter allows this chat sooner.
            time.now = max(time.now, min(time.now + wait, next_answer) if wait > 0 else next_answer)
            answer_due()
        counted.append((time.now + round_trip * counted_at, chat_id))
        in_flight.append((time.now + round_trip, limiter.start(chat_id)))
    assert_no_window_over_its_limit(counted)


def assert_no_window_over_its_limit(counted: list[tuple[float, int]]) -> None:
    """Telegram's check at each message: those it counted within the period up to it, itself included."""
    assert most_in_any_period([t for t, _ in counted], OVERALL.seconds) <= OVERALL.messages
    for chat_id in {chat_id for _, chat_id in counted}:
        limit = GROUP_CHAT if is_group_chat(chat_id) else PRIVATE_CHAT
        assert most_in_any_period([t for t, c in counted if c == chat_id], limit.seconds) <= limit.messages, chat_id


def most_in_any_period(moments: list[float], seconds: float) -> int:
    moments = sorted(moments)
    most = oldest = 0
    for newest, now in enumerate(moments):
        # Written as in the limiter (t + period <= now: out), so float rounding cannot tell the two apart.
        while moments[oldest] + seconds <= now:
            oldest += 1
        most = max(most, newest - oldest + 1)
    return most
