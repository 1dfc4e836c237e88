"""`python -m bot demo`: the whole story, offline, against a local Bot API server.

A fresh temporary database, a clock that jumps forward on cue, a scripted resident and officer.
It prints a transcript a person can read, and ends with the ticket's timeline.
"""

from __future__ import annotations

import logging
import re
import tempfile
from datetime import datetime, time
from pathlib import Path

from pydantic import SecretStr

from bot.assembly import build_application, build_runtime, start_polling, stop_polling
from bot.settings import Settings
from domain.clock import FakeClock
from local_botapi import BotMessage, LocalBotApi, SimUser
from scheduler.sweep import sweep
from services.deadlines import Reminder
from services.officers import create_invite
from services.runtime import Runtime
from services.timeline import ticket_timeline

DEMO_TOKEN = "100000:OFFLINE-DEMO"
COMPLAINT = "我去年被人打伤后报了案，派出所一直有案不立，打电话问了好几次也没人管。"
REPLY = "经核查，已责成派出所依法受理，并将在三日内告知您结果。"
RESULT = "已立案侦查，办理情况已电话告知当事人。"


class Transcript:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def heading(self, text: str) -> None:
        print(f"\n── {text} " + "─" * max(0, 60 - len(text) * 2))

    def says(self, who: SimUser, text: str) -> None:
        print(f"👤 {who.first_name}: {text}")

    def presses(self, who: SimUser, button: str) -> None:
        print(f"👆 {who.first_name} 点击 [{button}]")

    def receives(self, who: SimUser, message: BotMessage) -> None:
        body = message.text.replace("\n", "\n" + " " * 6)
        buttons = "  ".join(f"[{b}]" for row in message.buttons for b in row)
        print(f"🤖 → {who.first_name}: {body}" + (f"\n      {buttons}" if buttons else ""))

    def clock(self, moment: datetime) -> None:
        print(f"⏩ 时间快进到 {self.rt.format_moment('zh', moment)}")


async def _converse(t: Transcript, who: SimUser, text: str) -> BotMessage:
    t.says(who, text)
    await who.send(text)
    return await _receive(t, who)


async def _press(t: Transcript, who: SimUser, button: str, message: BotMessage | None = None) -> None:
    t.presses(who, button)
    press = await who.press(button, message=message)
    answer = await press.answered()
    if answer.text:
        print(f"💬 ({who.first_name} 看到提示) {answer.text}")


async def _receive(t: Transcript, who: SimUser) -> BotMessage:
    message = await who.next_message()
    t.receives(who, message)
    return message


async def _jump(t: Transcript, rt: Runtime, clock: FakeClock, moment: datetime, who: SimUser) -> None:
    clock.set(moment)
    t.clock(moment)
    await sweep(rt)
    await _receive(t, who)


def _demo_start(rt: Runtime) -> datetime:
    """Ten o'clock on the next working morning, local time."""
    today = rt.local(datetime.now(rt.hours.tz)).date()
    day = today if rt.calendar.is_working_day(today) else rt.calendar.next_working_day(today)
    return datetime.combine(day, time(10, 0), tzinfo=rt.hours.tz)


async def run_demo(settings: Settings) -> int:
    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="opendoor-demo-") as workdir:
        async with LocalBotApi(token=DEMO_TOKEN, bot_username="OpenDoorDemoBot", bot_name="开门评") as api:
            demo_settings = settings.model_copy(
                update={
                    "telegram": settings.telegram.model_copy(
                        update={
                            "token": SecretStr(DEMO_TOKEN),
                            "base_url": api.base_url,
                            "base_file_url": api.base_file_url,
                            "poll_timeout_seconds": 10,
                        }
                    ),
                    "web": settings.web.model_copy(update={"serve_with_bot": False}),
                    "database": settings.database.model_copy(
                        update={"url": f"sqlite+aiosqlite:///{Path(workdir) / 'demo.sqlite3'}"}
                    ),
                }
            )
            rt = build_runtime(demo_settings)
            clock = FakeClock(_demo_start(rt))
            rt.clock = clock  # the demo's time moves only when the story says so
            application = build_application(rt)
            await start_polling(application)
            try:
                await _story(Transcript(rt), rt, clock, api)
            finally:
                await stop_polling(application)
                await rt.db.dispose()
    return 0


async def _story(t: Transcript, rt: Runtime, clock: FakeClock, api: LocalBotApi) -> None:
    print("开门评 · 离线演示（本地 Bot API 服务器，临时数据库，快进时钟）")
    t.heading("管理员为法制、控申部门的民警生成邀请码")
    code = await create_invite(rt, "petition")
    print(f"$ python -m bot invite --department petition\n{code}")
    officer = api.user("李警官", language_code="zh-hans")
    resident = api.user("王女士", language_code="zh-hans")
    await _converse(t, officer, f"/register {code}")

    t.heading("群众反映问题")
    await _converse(t, resident, "/start")
    await _press(t, resident, "📝 我要反映")
    await _receive(t, resident)
    await _press(t, resident, "投诉")
    await _receive(t, resident)
    await _converse(t, resident, COMPLAINT)
    await _press(t, resident, "✅ 确认提交")
    accepted = await _receive(t, resident)
    number = re.search(r"KM-\d{8}-\d{4}", accepted.text).group(0)  # type: ignore[union-attr]

    t.heading("民警收到工单并签收")
    card = await _receive(t, officer)
    unsigned = card.text
    await _press(t, officer, "签收", card)
    await api.wait_for(lambda: card.text != unsigned, what="the card to show it is signed for")
    t.receives(officer, card)
    await _receive(t, resident)

    t.heading("时限临近与超期")
    async with rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(number)
        # The reminders the ticket got at dispatch, then the overdue notice at the deadline.
        schedule = [
            r.due_at
            for r in await uow.reminders.due(ticket.deadline_at)  # type: ignore[union-attr]
            if r.ticket_id == ticket.id and r.kind in (Reminder.REMIND, Reminder.OVERDUE)  # type: ignore[union-attr]
        ]
    for moment in schedule:
        await _jump(t, rt, clock, moment, officer)

    t.heading("民警答复并办结")
    await _press(t, officer, "回复", card)
    await _receive(t, officer)
    await _converse(t, officer, REPLY)
    await _receive(t, resident)
    await _press(t, officer, "办结", card)
    await _receive(t, officer)
    await _converse(t, officer, RESULT)
    await _receive(t, resident)

    t.heading(f"工单 {number} 的全过程")
    for entry in await ticket_timeline(rt, number):
        who = entry.officer or {"resident": "群众", "system": "系统"}.get(entry.actor, entry.actor)
        note = entry.note
        if note in rt.settings.departments:
            note = rt.department_name("zh", note)
        note = f" — {note}" if note else ""
        action = rt.texts.get("zh", f"event.{entry.action}")
        print(f"{rt.format_moment('zh', entry.at)}  {who:<4} {action}{note}")
