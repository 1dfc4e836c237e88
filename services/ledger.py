"""台账: every ticket of a period as one line, written as XLSX (streamed) or CSV.

The ledger holds no resident identity at all: no name, phone, Telegram id or resident number, so
anonymous reporters stay anonymous whoever reads it. Discipline reports are in it only for readers
whose scope includes them (the command line, supervisors, the discipline department's head); a head
sees only their department. Void tickets (spam, 无效) are no work orders and are left out.
The XLSX has a second sheet with the period's figures and their definitions (domain/statistics.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from domain.statistics import RANKING_RULE, Figures, Period, is_overdue
from domain.tickets import TicketState
from services.figures import PeriodFigures, department_name, period_figures, period_for, supervising_reader, unit_name
from services.runtime import Runtime
from storage.repositories import TicketScope

HEADERS = (
    "编号", "受理时间", "来源", "类别", "承办部门", "责任人", "诉求内容",
    "整改措施/办理结果", "办理期限", "办结时间", "是否超期", "回访结果",
)
WIDTHS = (20, 18, 8, 14, 22, 10, 60, 50, 18, 18, 9, 10)
DATE_COLUMNS = frozenset({1, 8, 9})
MOMENT_FORMAT = "yyyy-mm-dd hh:mm"
CHUNK = 2000
CLOSED_STATES = (TicketState.CLOSED, TicketState.SURVEYED)

Progress = Callable[[int, int], None]


class LedgerIncomplete(Exception):
    """销号制 broken: a closed ticket without a responsible officer or a result. The export stops."""


class LedgerLines:
    """Turns the repository's ledger rows into ledger lines (local, naive datetimes; Chinese labels)."""

    def __init__(self, rt: Runtime, locale: str = "zh") -> None:
        self.rt, self.locale, self.now = rt, locale, rt.now()
        self._departments: dict[str, str] = {}
        self._labels: dict[str, str] = {}

    def line(self, row: Any) -> list[Any]:
        (_, number, received_at, source, category, department, officer, text, result,
         deadline_at, closed_at, state, survey_result) = row
        closed = state in CLOSED_STATES and closed_at is not None
        if closed and (not officer or not (result or "").strip()):
            raise LedgerIncomplete(f"{number} is closed without a responsible officer or a result")
        if department not in self._departments:
            self._departments[department] = department_name(self.rt, self.locale, department)
        return [
            number,
            self._local(received_at),
            self._label(f"ledger.source_{source}", source),
            self._label(f"category.{category}", category),
            self._departments[department],
            officer or "",
            text,
            result or "",
            self._local(deadline_at),
            self._local(closed_at) if closed else None,
            self._label("ledger.yes" if is_overdue(deadline_at, closed_at if closed else None, self.now) else "ledger.no", ""),
            self._label(f"ledger.survey_{survey_result}", survey_result) if survey_result else "",
        ]

    def _local(self, moment: datetime | None) -> datetime | None:
        # Spreadsheets know no time zones: the bureau's local wall-clock time is what people read.
        return None if moment is None else self.rt.local(moment).replace(tzinfo=None)

    def _label(self, key: str, fallback: str) -> str:
        if key not in self._labels:
            try:
                self._labels[key] = self.rt.texts.get(self.locale, key)
            except KeyError:
                self._labels[key] = fallback
        return self._labels[key]


async def export_ledger(
    rt: Runtime,
    out: IO[bytes],
    *,
    fmt: str,
    period: Period,
    scope: TicketScope,
    bounded: bool = True,
    progress: Progress | None = None,
) -> int:
    """Writes the ledger of tickets received in `period` (all of them when not `bounded`); returns the line count."""
    start, end = (period.start, period.end) if bounded else (None, None)
    async with rt.db.unit_of_work() as uow:
        total = await uow.tickets.count_ledger(start, end, scope)
    lines = LedgerLines(rt)
    writer = _XlsxWriter(out) if fmt == "xlsx" else _CsvWriter(out)
    done = 0
    try:
        async with rt.db.unit_of_work() as uow:
            async for rows in uow.tickets.ledger_chunks(start, end, scope, CHUNK):
                for row in rows:
                    writer.write(lines.line(row))
                done += len(rows)
                if progress:
                    progress(done, total)
        figures = await period_figures(rt, period, scope) if fmt == "xlsx" else None
    except BaseException:
        writer.abort()
        raise
    writer.close(rt, figures)
    return done


class _CsvWriter:
    def __init__(self, out: IO[bytes]) -> None:
        # UTF-8 with a byte-order mark, so that Excel opens the Chinese text correctly.
        self._text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        self._csv = csv.writer(self._text)
        self._csv.writerow(HEADERS)

    def write(self, line: list[Any]) -> None:
        self._csv.writerow([value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else value for value in line])

    def close(self, rt: Runtime, figures: PeriodFigures | None) -> None:
        self._text.flush()
        self._text.detach()  # the caller owns the binary file and closes it

    def abort(self) -> None:
        self.close(None, None)  # type: ignore[arg-type]


class _XlsxWriter:
    """openpyxl in write-only mode: rows go to disk as they come, so memory does not grow with the ledger."""

    def __init__(self, out: IO[bytes]) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self._out = out
        self._cell = WriteOnlyCell
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet("台账")
        self.sheet.freeze_panes = "A2"
        for index, width in enumerate(WIDTHS, 1):
            self.sheet.column_dimensions[get_column_letter(index)].width = width
        bold = Font(bold=True)
        header = []
        for title in HEADERS:
            cell = WriteOnlyCell(self.sheet, value=title)
            cell.font = bold
            header.append(cell)
        self.sheet.append(header)

    def write(self, line: list[Any]) -> None:
        for index in DATE_COLUMNS:
            if line[index] is not None:
                cell = self._cell(self.sheet, value=line[index])
                cell.number_format = MOMENT_FORMAT
                line[index] = cell
        self.sheet.append(line)

    def close(self, rt: Runtime, figures: PeriodFigures | None) -> None:
        if figures is not None:
            _figures_sheet(rt, self.book.create_sheet("指标"), figures)
        self.book.save(self._out)

    def abort(self) -> None:
        """Closes the half-written sheet and removes its temporary file."""
        self.sheet.close()
        Path(self.sheet._writer.out).unlink(missing_ok=True)


FIGURE_HEADERS = ("范围", "受理量", "办结量", "办结率", "应办结", "按期办结", "按期办结率", "回访率", "满意率",
                  "平均办理工作日", "90%办理工作日")


def _figure_line(name: str, f: Figures) -> list[Any]:
    return [name, f.received, f.closed, f.completion_rate, f.due, f.closed_on_time, f.on_time_rate, f.survey_rate,
            f.satisfaction, None if f.average_days is None else round(f.average_days, 1), f.p90_days]


def _figures_sheet(rt: Runtime, sheet: Any, figures: PeriodFigures) -> None:
    """The period's figures, with the definitions, so the ledger explains its own numbers."""
    from openpyxl.cell import WriteOnlyCell

    def percent_line(values: list[Any], columns: tuple[int, ...] = (3, 6, 7, 8)) -> list[Any]:
        cells = []
        for index, value in enumerate(values):
            if index in columns and value is not None:
                value = WriteOnlyCell(sheet, value=value)
                value.number_format = "0.0%"
            cells.append(value)
        return cells

    sheet.column_dimensions["A"].width = 28
    sheet.append([f"统计期间：{figures.period.label}"])
    sheet.append(list(FIGURE_HEADERS))
    sheet.append(percent_line(_figure_line("全部", figures.total)))
    groups = (
        ("部门", figures.by_department, lambda code: department_name(rt, "zh", code)),
        ("类别", figures.by_category, lambda code: _text(rt, f"category.{code}", code)),
        ("来源", figures.by_source, lambda code: _text(rt, f"ledger.source_{code}", code)),
        ("单位", figures.by_unit, lambda code: unit_name(rt, "zh", code)),
    )
    for title, by, name in groups:
        for code, f in by.items():
            sheet.append(percent_line(_figure_line(f"{title}：{name(code)}", f)))
    sheet.append([])
    sheet.append(["绩效考评", "名次", "得分", "按期办结率", "满意率", "群众评议满意率", "评议数"])
    for ranked in figures.ranking:
        sheet.append(percent_line(
            [unit_name(rt, "zh", ranked.unit), ranked.rank, round(ranked.score, 1), ranked.on_time_rate,
             ranked.satisfaction, ranked.appraisal_satisfaction, ranked.appraisals],
            (3, 4, 5),
        ))
    sheet.append([])
    for rule in (
        "办结率 = 期内受理且已办结（截至导出时）÷ 期内受理（作废工单不计）",
        "按期办结率 = 按期办结 ÷ 期限在期内且已到期或已办结的工单；超期未办结计为超期",
        "回访率 = 已评价（满意、基本满意、不满意）÷ 已办结；未回访不算评价",
        "满意率 = （满意 + 基本满意）÷ 已评价",
        "办理时长 = 受理日到办结日之间的工作日数（法定节假日、调休按国家日历）",
        RANKING_RULE,
    ):
        sheet.append([rule])


def _text(rt: Runtime, key: str, fallback: str) -> str:
    try:
        return rt.texts.get("zh", key)
    except KeyError:
        return fallback



@dataclass(frozen=True)
class LedgerFile:
    filename: str
    data: bytes
    caption: str


async def ledger_answer(rt: Runtime, telegram_user_id: int, spec: str | None) -> LedgerFile:
    """/ledger: the period's ledger as an XLSX file, in the reader's scope."""
    reader = await supervising_reader(rt, telegram_user_id)
    period = period_for(rt, spec, usage_key="ledger.usage")
    buffer = io.BytesIO()
    count = await export_ledger(rt, buffer, fmt="xlsx", period=period, scope=reader.scope)
    label = period.label.replace("/", "_")
    caption = rt.texts.get(reader.locale, "ledger.caption", period=period.label, count=count)
    return LedgerFile(f"台账-{label}.xlsx", buffer.getvalue(), caption)
