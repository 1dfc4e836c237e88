"""开门评警 by menu or QR deep link, the QR command, and 查询进度 with additions to an open ticket."""

from __future__ import annotations

import re
from pathlib import Path

import segno
from sqlmodel import select

from bot.cli import main
from storage.models import AppraisalRow
from tests.conftest import LiveBot
from tests.e2e.test_resident_hotline import NOISE, confirm, start_item


async def appraisals(live_bot: LiveBot) -> list[AppraisalRow]:
    async with live_bot.rt.db.unit_of_work() as uow:
        return list((await uow.session.exec(select(AppraisalRow))).all())


async def test_an_appraisal_from_the_menu_stores_rating_and_scores(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await resident.send("/start")
    menu = await resident.next_message()
    assert menu.buttons == [["⭐ 网上评议"], ["📝 我要反映"], ["🔎 查询进度"], ["❓ 帮助"]]
    await resident.press("⭐ 网上评议")
    units = await resident.next_message()
    assert ["西山派出所"] in units.buttons
    await resident.press("西山派出所")
    rating = await resident.next_message()
    assert rating.text == "您对西山派出所的总体评价：" and rating.buttons == [["满意", "基本满意", "不满意"]]
    await resident.press("满意")
    assert (await resident.next_message()).text.startswith("请为“服务态度”打分")
    await resident.press("5")
    assert (await resident.next_message()).text.startswith("请为“办事效率”打分")
    await resident.press("跳过")
    await resident.next_message()
    await resident.press("不打分了")
    await resident.next_message()
    await resident.press("跳过")
    assert (await resident.next_message()).text.startswith("感谢您的评议")

    [stored] = await appraisals(live_bot)
    assert (stored.unit_code, stored.rating, stored.scores, stored.comment, stored.ticket_id) == (
        "xishan_station", "satisfied", {"attitude": 5}, None, None
    )


async def test_a_dissatisfied_appraisal_by_qr_code_with_a_comment_becomes_a_ticket(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("陈警官", "discipline")
    resident = live_bot.api.user("王女士")
    await resident.send("/start appraise_panlong_station")
    assert (await resident.next_message()).text == "您对盘龙派出所的总体评价："
    await resident.press("不满意")
    await resident.next_message()
    await resident.press("不打分了")
    assert "哪里不满意" in (await resident.next_message()).text
    await resident.send("窗口民警办户口时暗示要好处费，态度很差。")
    assert (await resident.next_message()).text.startswith("感谢您的评议")
    accepted = await resident.next_message()
    number = re.search(r"KM-\d{8}-\d{4}", accepted.text).group(0)
    card = await officer.next_message()
    assert number in card.text and "盘龙派出所" in card.text

    [stored] = await appraisals(live_bot)
    async with live_bot.rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(number)
    assert stored.rating == "unsatisfied" and stored.ticket_id == ticket.id and ticket.source == "appraisal"


def test_the_qr_command_writes_the_deep_link_of_a_unit(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENDOOR_TELEGRAM__BOT_USERNAME", "OpenDoorTestBot")
    out = tmp_path / "xishan.png"
    assert main(["qr", "--unit", "xishan_station", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    expected = segno.make_qr("https://t.me/OpenDoorTestBot?start=appraise_xishan_station", error="q")
    assert expected.designator  # the same link the bot's deep link handler opens
    assert main(["qr", "--unit", "nowhere", "--out", str(out)]) == 2


async def test_status_shows_own_tickets_only_and_a_reply_adds_to_the_ticket(live_bot: LiveBot) -> None:
    officer = await live_bot.register_officer("张警官", "business")
    resident = live_bot.api.user("王女士")
    await start_item(resident)
    await resident.send(NOISE)
    await resident.next_message()
    number = await confirm(resident)
    await officer.next_message()

    await resident.send(f"/status {number}")
    status = await resident.next_message()
    assert status.text.startswith(f"工单 {number}\n状态：已派单\n承办部门：")
    assert "受理" in status.text and "派单" in status.text and "自动分类" not in status.text

    await resident.send("/status")
    mine = await resident.next_message()
    assert mine.buttons == [[f"{number}｜已派单"]]

    stranger = live_bot.api.user("路人")
    await stranger.send(f"/status {number}")
    assert (await stranger.next_message()).text.startswith(f"没有找到您的工单 {number}")

    await resident.send_raw(text="门口还堆了很多酒瓶。", reply_to_message=status.payload)
    assert (await resident.next_message()).text == f"已补充到工单 {number}，并转给承办民警。"
    notice = await officer.next_message()
    assert number in notice.text and "酒瓶" in notice.text


async def rate_without_scores(resident, rating: str) -> None:
    await resident.send("/start")
    await resident.next_message()
    await resident.press("⭐ 网上评议")
    await resident.next_message()
    await resident.press("西山派出所")
    await resident.next_message()
    await resident.press(rating)
    await resident.next_message()
    await resident.press("不打分了")
    await resident.next_message()


async def test_a_basically_satisfied_appraisal_keeps_its_comment_and_creates_no_ticket(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await rate_without_scores(resident, "基本满意")
    await resident.send("办事还算快，就是排队久了点。")
    assert (await resident.next_message()).text.startswith("感谢您的评议")
    [stored] = await appraisals(live_bot)
    assert (stored.rating, stored.comment, stored.ticket_id) == ("basically_satisfied", "办事还算快，就是排队久了点。", None)


async def test_an_unsatisfied_appraisal_without_a_comment_counts_but_creates_no_ticket(live_bot: LiveBot) -> None:
    resident = live_bot.api.user("王女士")
    await rate_without_scores(resident, "不满意")
    await resident.press("跳过")
    assert (await resident.next_message()).text.startswith("感谢您的评议")
    [stored] = await appraisals(live_bot)
    assert (stored.rating, stored.comment, stored.ticket_id) == ("unsatisfied", None, None)
