"""Flood limits (opt-in) and injected faults, driven by an injectable clock."""

from datetime import timedelta

import pytest
from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from local_botapi import LocalBotApi


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(api: LocalBotApi) -> FakeClock:
    fake = FakeClock()
    api.clock = fake
    return fake


async def test_rate_limits_are_off_by_default(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")

    for _ in range(5):
        await bot.send_message(resident.id, "通知")

    assert len(resident.messages) == 5


async def test_a_second_message_to_a_private_chat_within_a_second_gets_429(
    api: LocalBotApi, bot: Bot, clock: FakeClock
) -> None:
    api.enforce_rate_limits = True
    resident = api.user("王女士")
    await bot.send_message(resident.id, "第一条")

    clock.advance(0.5)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(resident.id, "第二条")

    assert caught.value.retry_after == timedelta(seconds=1)
    assert api.stats["429"] == 1
    clock.advance(0.5)
    await bot.send_message(resident.id, "第二条")
    assert [m.text for m in resident.messages] == ["第一条", "第二条"]


async def test_other_chats_are_not_slowed_by_one_busy_chat(api: LocalBotApi, bot: Bot) -> None:
    api.enforce_rate_limits = True
    first, second = api.user("王女士"), api.user("张先生")

    await bot.send_message(first.id, "通知")
    await bot.send_message(second.id, "通知")

    assert api.stats["429"] == 0


async def test_a_group_accepts_twenty_messages_a_minute(
    api: LocalBotApi, bot: Bot, clock: FakeClock
) -> None:
    api.enforce_rate_limits = True
    group = api.group("治安大队工作群")
    for number in range(20):
        await bot.send_message(group.id, f"工单 {number}")
        clock.advance(0.1)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(group.id, "工单 20")

    # The first message leaves the 60 s window 58 s from now.
    assert caught.value.retry_after == timedelta(seconds=58)


async def test_more_than_thirty_messages_a_second_overall_get_429(
    api: LocalBotApi, bot: Bot
) -> None:
    api.enforce_rate_limits = True
    residents = [api.user(f"居民{number}") for number in range(31)]
    for resident in residents[:30]:
        await bot.send_message(resident.id, "通知")

    with pytest.raises(RetryAfter):
        await bot.send_message(residents[30].id, "通知")


async def test_message_dates_come_from_the_injected_clock(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")

    sent = await bot.send_message(resident.id, "你好")
    incoming = await resident.send("你好")

    assert sent.date.timestamp() == incoming["date"] == 1_700_000_000


async def test_a_fault_for_any_method_hits_the_next_call_whatever_it_is(
    api: LocalBotApi, bot: Bot
) -> None:
    api.inject_fault(status=503, count=2)

    with pytest.raises(NetworkError, match="Service Unavailable"):
        await bot.get_me()
    with pytest.raises(NetworkError, match="Service Unavailable"):
        await bot.get_my_commands()
    await bot.get_me()

    assert [r.status for r in api.requests[-3:]] == [503, 503, 200]


async def test_a_fault_can_carry_a_custom_description(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    api.inject_fault("sendMessage", status=400, description="Bad Request: CHAT_WRITE_FORBIDDEN")

    with pytest.raises(BadRequest, match="Chat_write_forbidden"):
        await bot.send_message(resident.id, "你好")


async def test_cleared_faults_no_longer_fire(api: LocalBotApi, bot: Bot) -> None:
    api.inject_fault("getMe", status=500, count=10)
    api.clear_faults()

    await bot.get_me()


async def test_random_faults_hit_about_their_share_of_the_chosen_methods_only(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    plan = api.inject_random_faults(0.3, methods=["sendMessage"], statuses=[500, 429], seed=1)

    for number in range(100):
        try:
            await bot.send_message(resident.id, f"通知 {number}")
        except (NetworkError, RetryAfter):
            pass
    await bot.get_me()

    failed = [r for r in api.calls("sendMessage") if r.status != 200]
    assert 20 <= len(failed) <= 40
    assert {r.status for r in failed} == {500, 429}
    assert sum(plan.drawn.values()) == len(failed) == 100 - len(resident.messages)
    assert api.calls("getMe")[-1].status == 200


async def test_random_faults_with_the_same_seed_fail_the_same_calls(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")

    async def statuses_of_ten_sends() -> list[int | None]:
        api.inject_random_faults(0.5, methods=["sendMessage"], statuses=[502, 503], seed=7)
        for _ in range(10):
            try:
                await bot.send_message(resident.id, "通知")
            except NetworkError:
                pass
        api.clear_faults()
        return [r.status for r in api.calls("sendMessage")[-10:]]

    first = await statuses_of_ten_sends()
    assert await statuses_of_ten_sends() == first
    assert {502, 503, 200} <= set(first)


async def test_a_random_timeout_holds_the_call_until_the_client_gives_up(api: LocalBotApi, bot: Bot) -> None:
    resident = api.user("王女士")
    api.inject_random_faults(1.0, methods=["editMessageText"], statuses=["timeout"], delay=30)
    sent = await bot.send_message(resident.id, "原文")

    with pytest.raises(TimedOut):
        await bot.edit_message_text("改过", resident.id, sent.message_id, read_timeout=0.2)

    assert resident.messages[0].text == "原文"
    assert api.stats["timeout"] == 1


async def test_planned_faults_come_before_random_ones_and_clearing_ends_both(api: LocalBotApi, bot: Bot) -> None:
    api.inject_random_faults(1.0, statuses=[500])
    api.inject_fault("getMe", status=429, retry_after=2)

    with pytest.raises(RetryAfter):
        await bot.get_me()
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.get_me()
    api.clear_faults()
    await bot.get_me()


async def test_a_fault_for_one_chat_leaves_the_others_alone(api: LocalBotApi, bot: Bot) -> None:
    first, second = api.user("王女士"), api.user("张先生")
    api.inject_fault("sendMessage", status=502, chat_id=second.id)

    await bot.send_message(first.id, "通知")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(second.id, "通知")
    await bot.send_message(second.id, "通知")

    assert [r.status for r in api.calls("sendMessage")] == [200, 502, 200]
