"""Whatever a resident sends, at whatever step of a conversation: the bot answers, and never fails."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from local_botapi import SimUser
from tests.fuzz.conftest import FUZZ, ErrorLog, FuzzBot
from tests.fuzz.inputs import Input, Say, Tamper, answered, inputs, perform

# Where a resident may be when the odd input comes: the presses (button labels) that lead there.
STEPS = {
    "nowhere": [],
    "menu": ["/start"],
    "choosing a kind": ["/start", "📝 我要反映"],
    "writing": ["/start", "📝 我要反映", "投诉"],
    "summary shown": ["/start", "📝 我要反映", "投诉", "楼下KTV每天晚上噪音很大，吵到凌晨两点。"],
    "sharing the phone": ["/start", "📝 我要反映", "投诉", "楼下KTV每天晚上噪音很大，吵到凌晨两点。", "📱 留手机号"],
    "choosing a unit": ["/start", "⭐ 网上评议"],
    "rating": ["/start", "⭐ 网上评议", "西山派出所"],
    "scoring": ["/start", "⭐ 网上评议", "西山派出所", "不满意"],
    "commenting": ["/start", "⭐ 网上评议", "西山派出所", "满意", "不打分了"],
}
# Five inputs at most: with the way there, a resident stays under the flood limit (8 in 10 s).
odd_inputs = st.lists(inputs, min_size=1, max_size=5)


async def go_to(resident: SimUser, step: str, sent: list[dict[str, Any]]) -> None:
    for move in STEPS[step]:
        if move.startswith("/") or not any(move in row for m in resident.messages for row in m.buttons):
            sent.append(await resident.send(move))
        else:
            await (await resident.press(move)).answered()
        await resident.next_message()


@FUZZ
@given(step=st.sampled_from(sorted(STEPS)), things=odd_inputs)
# Inputs that once failed (kept, whatever hypothesis draws): an unknown command went unanswered, a kind
# no button offers and a score in superscript digits raised.
@example(step="menu", things=[Say("/0")])
@example(step="choosing a kind", things=[Tamper(0, "x")])
@example(step="scoring", things=[Tamper(0, "²")])
async def test_whatever_a_resident_sends_at_any_step_gets_an_answer_and_nothing_fails(
    fuzz_bot: FuzzBot, errors: ErrorLog, step: str, things: list[Input]
) -> None:
    logged = len(errors.records)
    resident = fuzz_bot.api.user("居民")
    sent: list[dict[str, Any]] = []
    await go_to(resident, step, sent)
    for thing in things:
        seen = len(resident.messages)
        done = await perform(fuzz_bot, resident, sent, thing)
        if done is not None:
            await answered(fuzz_bot, resident, thing, done, seen)
        await fuzz_bot.settle()
    assert errors.since(logged) == []
