"""`python -m bot demo` tells the whole story offline; if it breaks, a newcomer's first look breaks."""

from __future__ import annotations

import pytest

from bot.demo import run_demo
from bot.settings import load_settings


async def test_the_demo_plays_the_story_through_reminders_overdue_and_closure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run_demo(load_settings(environ={})) == 0
    transcript = capsys.readouterr().out
    for moment in (
        "🤖 → 李警官: 登记成功：法制、控申部门",
        "🤖 → 王女士: 已受理，感谢您的反映。",
        "🤖 → 李警官: 📋 新工单",
        "责任人：李警官",
        "🤖 → 李警官: ⏰ 提醒：工单",
        "🤖 → 李警官: ⚠️ 催办：工单",
        "🤖 → 王女士: 关于您的工单",
        "🤖 → 王女士: 您的工单",
    ):
        assert moment in transcript, moment
    timeline = transcript.split("的全过程", 1)[1]
    for action in ("受理", "派单", "签收", "时限提醒", "超期催办", "答复", "办结"):
        assert action in timeline
