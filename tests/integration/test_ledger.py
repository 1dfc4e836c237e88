"""The ledger (台账) read back as a spreadsheet and as CSV: columns, dates, privacy and scope."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.assembly import build_runtime, prepare_storage
from bot.cli import main
from domain.clock import FakeClock
from domain.statistics import period_of
from services.figures import admin_scope, scope_of
from services.ledger import HEADERS, LedgerIncomplete, export_ledger
from services.runtime import Runtime
from storage.models import AppraisalRow, OfficerRow, TicketRow
from tests.conftest import make_settings

TZ = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=TZ)


async def seed(rt: Runtime) -> dict[str, OfficerRow]:
    """Three tickets of November: a closed real-name one, an open anonymous one, a discipline report."""
    async with rt.db.unit_of_work() as uow:
        resident = await uow.residents.upsert(555001, 555001, "zh", at(1))
        officers = {
            "li": await uow.officers.add(OfficerRow(telegram_user_id=1, chat_id=1, display_name="李警官", department_code="petition", role="officer", locale="zh", created_at=at(1))),
            "head": await uow.officers.add(OfficerRow(telegram_user_id=2, chat_id=2, display_name="张主任", department_code="petition", role="head", locale="zh", created_at=at(1))),
            "ji": await uow.officers.add(OfficerRow(telegram_user_id=3, chat_id=3, display_name="纪检员", department_code="discipline", role="officer", locale="zh", created_at=at(1))),
        }
        common = dict(kind="complaint", resident_id=resident.id, confidence=0.9, source="hotline")
        await uow.tickets.add(TicketRow(
            number="KM-20261102-0001", text="派出所有案不立", category="petition", department_code="petition",
            state="surveyed", responsible_officer_id=officers["li"].id, received_at=at(2), deadline_at=at(20, 18),
            closed_at=at(5, 15), result="已立案侦查，并向群众说明", survey_result="satisfied", surveyed_at=at(6),
            contact_name="王秀英", contact_phone="13800000001", **common,
        ))
        await uow.tickets.add(TicketRow(
            number="KM-20261103-0001", text="邻居半夜装修扰民", category="business", department_code="petition",
            state="dispatched", received_at=at(3), deadline_at=at(10, 18), contact_mode="anonymous",
            unit_code="public_order", **{**common, "source": "appraisal"},
        ))
        await uow.tickets.add(TicketRow(
            number="KM-20261104-0001", text="民警吃拿卡要", category="discipline", department_code="discipline",
            state="signed", responsible_officer_id=officers["ji"].id, received_at=at(4), deadline_at=at(25, 18),
            named_unit="petition", **common,
        ))
        await uow.appraisals.add(AppraisalRow(resident_id=resident.id, unit_code="xishan_station", rating="satisfied", created_at=at(7)))
        await uow.commit()
    return officers


async def export(rt: Runtime, path: Path, fmt: str, scope=None) -> int:  # type: ignore[no-untyped-def]
    with path.open("wb") as out:
        return await export_ledger(
            rt, out, fmt=fmt, period=period_of("2026-11", rt.now(), TZ), scope=scope or admin_scope(rt)
        )


async def test_the_xlsx_ledger_has_every_column_real_dates_a_frozen_header_and_the_figures(runtime: Runtime, tmp_path: Path) -> None:
    await seed(runtime)
    path = tmp_path / "ledger.xlsx"
    assert await export(runtime, path, "xlsx") == 3
    book = load_workbook(path)
    assert book.sheetnames == ["台账", "指标"]
    sheet = book["台账"]
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["G"].width == 60
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == HEADERS
    closed = dict(zip(HEADERS, rows[1]))
    assert closed["编号"] == "KM-20261102-0001"
    assert closed["受理时间"] == datetime(2026, 11, 2, 10, 0)  # local wall-clock time, a real date
    assert sheet["B2"].number_format == "yyyy-mm-dd hh:mm"
    assert (closed["来源"], closed["类别"], closed["承办部门"]) == ("热线", "信访 / 执法问题", "法制、控申部门")
    assert (closed["责任人"], closed["整改措施/办理结果"]) == ("李警官", "已立案侦查，并向群众说明")
    assert (closed["办理期限"], closed["办结时间"]) == (datetime(2026, 11, 20, 18), datetime(2026, 11, 5, 15))
    assert (closed["是否超期"], closed["回访结果"]) == ("否", "满意")
    open_one = dict(zip(HEADERS, rows[2]))
    # Still open on 23 Nov past its 10 Nov deadline: overdue, no closing time, no result.
    assert (open_one["来源"], open_one["是否超期"], open_one["办结时间"], open_one["责任人"]) == ("评议", "是", None, None)
    assert rows[3][0] == "KM-20261104-0001"  # the command line is the administrator: discipline included
    figures = [row for row in book["指标"].iter_rows(values_only=True)]
    assert figures[1][:4] == ("范围", "受理量", "办结量", "办结率")
    assert figures[2][:3] == ("全部", 3, 1)
    assert any(row[0] and "按期办结率×40%" in row[0] for row in figures)


async def test_the_ledger_never_names_the_resident(runtime: Runtime, tmp_path: Path) -> None:
    await seed(runtime)
    await export(runtime, tmp_path / "ledger.xlsx", "xlsx")
    await export(runtime, tmp_path / "ledger.csv", "csv")
    cells = [str(v) for row in load_workbook(tmp_path / "ledger.xlsx")["台账"].iter_rows(values_only=True) for v in row]
    text = (tmp_path / "ledger.csv").read_text(encoding="utf-8-sig")
    for identity in ("王秀英", "13800000001", "555001"):
        assert identity not in text and all(identity not in cell for cell in cells)


async def test_the_csv_ledger_has_every_column_with_excel_readable_utf8(runtime: Runtime, tmp_path: Path) -> None:
    await seed(runtime)
    path = tmp_path / "ledger.csv"
    assert await export(runtime, path, "csv") == 3
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert list(rows[0]) == list(HEADERS)
    assert rows[0]["受理时间"] == "2026-11-02 10:00" and rows[0]["办结时间"] == "2026-11-05 15:00"
    assert rows[1]["是否超期"] == "是" and rows[1]["办结时间"] == ""


async def test_a_head_ledger_holds_only_the_department_without_discipline_reports(runtime: Runtime, tmp_path: Path) -> None:
    officers = await seed(runtime)
    path = tmp_path / "head.csv"
    assert await export(runtime, path, "csv", scope_of(runtime, officers["head"])) == 2
    numbers = [row["编号"] for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))]
    assert numbers == ["KM-20261102-0001", "KM-20261103-0001"]


async def test_a_closed_ticket_without_a_result_stops_the_export(runtime: Runtime, tmp_path: Path) -> None:
    await seed(runtime)
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number("KM-20261104-0001")
        await uow.tickets.move(ticket.id, "signed", state="closed", closed_at=at(6), result=" ")
        await uow.commit()
    with pytest.raises(LedgerIncomplete, match="KM-20261104-0001"):
        await export(runtime, tmp_path / "broken.xlsx", "xlsx")


def test_the_command_line_exports_a_range_of_days_with_a_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path)

    async def prepare() -> None:
        rt = build_runtime(settings, FakeClock(at(23)))
        await prepare_storage(rt)
        await seed(rt)
        await rt.db.dispose()

    asyncio.run(prepare())
    monkeypatch.setenv("OPENDOOR_DATABASE__URL", settings.database.url)
    out = tmp_path / "range.xlsx"
    assert main(["export-ledger", "--format", "xlsx", "--out", str(out), "--from", "2026-11-03", "--to", "2026-11-03"]) == 0
    rows = list(load_workbook(out)["台账"].iter_rows(values_only=True))
    assert [row[0] for row in rows[1:]] == ["KM-20261103-0001"]
    assert "1/1" in capsys.readouterr().err
    csv_out = tmp_path / "all.csv"
    assert main(["export-ledger", "--out", str(csv_out)]) == 0
    assert len(csv_out.read_text(encoding="utf-8-sig").splitlines()) == 4  # the header and all three
    assert main(["export-ledger", "--out", str(csv_out), "--from", "2026-11-05", "--to", "2026-11-01"]) == 2
