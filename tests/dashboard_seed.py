"""A month of tickets for the dashboard's tests (HTTP and browser alike), made through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.officers import create_invite, register_officer
from services.runtime import Runtime
from services.tasks import close_ticket, sign_for
from services.web_accounts import add_user
from storage.models import AppraisalRow, TicketEventRow, TicketRow

TZ = ZoneInfo("Asia/Shanghai")
PASSWORD = "correct-horse-42"
CLOSED_NUMBER = "KM-20261102-0001"
OVERDUE_NUMBER = "KM-20261110-0001"
ANONYMOUS_NUMBER = "KM-20261120-0001"
DISCIPLINE_NUMBER = "KM-20261121-0001"
HOSTILE_NUMBER = "KM-20261122-0001"
RESIDENT_PHONE = "13800000001"
RESIDENT_TELEGRAM_ID = 555001
CLOSING_RESULT = "已立案侦查，并当面向群众说明办理情况"
PETITION_OFFICER = "李警官"
# Routine closed business tickets, enough for several pages.
ROUTINE = 36


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=TZ)


@dataclass(frozen=True)
class Seeded:
    supervisor: str = "boss"
    business_head: str = "bizhead"
    business_officer: str = "cop"


async def seed_dashboard(rt: Runtime) -> Seeded:
    """November 2026 as the dashboard sees it on Monday 23 November: one ticket closed through the desk,
    one overdue, one anonymous, a discipline report naming the business department, a hostile text,
    routine closed business tickets, two appraisals, and three accounts."""
    for user, department in ((1001, "petition"), (1002, "business")):
        code = await create_invite(rt, department, "officer")
        await register_officer(
            rt, code, telegram_user_id=user, chat_id=user,
            display_name=PETITION_OFFICER if department == "petition" else "赵警官", locale="zh",
        )
    async with rt.db.unit_of_work() as uow:
        resident = await uow.residents.upsert(RESIDENT_TELEGRAM_ID, RESIDENT_TELEGRAM_ID, "zh", at(1))
        business_officer = await uow.officers.by_telegram_id(1002)
        common = dict(kind="complaint", resident_id=resident.id, confidence=0.93, source="hotline")
        tickets = [
            TicketRow(
                number=CLOSED_NUMBER, text="报案三个月了派出所一直有案不立，也没有给我报警回执。", category="petition",
                department_code="petition", state="dispatched", received_at=at(2), deadline_at=at(30, 18),
                contact_name="王秀英", contact_phone=RESIDENT_PHONE, deciding_words=["有案不立", "报警回执"], **common,
            ),
            TicketRow(
                number=OVERDUE_NUMBER, text="户口迁移材料被退回三次，每次说法都不一样", category="business",
                department_code="business", state="dispatched", received_at=at(10), deadline_at=at(16, 18), **common,
            ),
            TicketRow(
                number=ANONYMOUS_NUMBER, text="身份证补办要跑好几趟，希望能网上办理", category="business",
                department_code="business", state="dispatched", received_at=at(20), deadline_at=at(30, 18),
                contact_mode="anonymous", **{**common, "kind": "suggestion"},
            ),
            TicketRow(
                number=DISCIPLINE_NUMBER, text="业务窗口的民警吃拿卡要，收了红包才给办", category="discipline",
                department_code="discipline", state="dispatched", received_at=at(21), deadline_at=at(30, 18),
                named_unit="business", **{**common, "kind": "report"},
            ),
            TicketRow(
                number=HOSTILE_NUMBER, text='<script>alert("x")</script> 请处理', category="business",
                department_code="business", state="dispatched", received_at=at(22), deadline_at=at(30, 18), **common,
            ),
        ]
        for index in range(ROUTINE):
            day = 3 + index % 17
            tickets.append(
                TicketRow(
                    number=f"KM-202611{day:02d}-{100 + index:04d}", text=f"窗口办事排队时间长（第{index + 1}件）",
                    category="business", department_code="business", state="surveyed", received_at=at(day),
                    deadline_at=at(day) + timedelta(days=7), closed_at=at(day) + timedelta(days=2),
                    result="已增开窗口并答复", responsible_officer_id=business_officer.id, survey_result="satisfied",
                    surveyed_at=at(day) + timedelta(days=3), **common,
                )
            )
        for ticket in tickets:
            await uow.tickets.add(ticket)
            await uow.events.append(
                TicketEventRow(ticket_id=ticket.id or 0, at=ticket.received_at, actor="resident", action="submitted", public=True),
                flush=False,
            )
        await uow.appraisals.add(AppraisalRow(resident_id=resident.id or 0, unit_code="xishan_station", rating="satisfied", scores={"attitude": 5}, created_at=at(7)))
        await uow.appraisals.add(AppraisalRow(resident_id=resident.id or 0, unit_code="panlong_station", rating="unsatisfied", comment="窗口人太少", created_at=at(8)))
        await uow.commit()
        closed = await uow.tickets.by_number(CLOSED_NUMBER)
    await sign_for(rt, closed.id or 0, 1001)
    await close_ticket(rt, closed.id or 0, 1001, CLOSING_RESULT)
    seeded = Seeded()
    await add_user(rt, seeded.supervisor, PASSWORD, role="supervisor", department="leadership", display_name="王督办")
    await add_user(rt, seeded.business_head, PASSWORD, role="head", department="business", display_name="业务负责人")
    await add_user(rt, seeded.business_officer, PASSWORD, role="officer", department="business", display_name="赵警官")
    return seeded
