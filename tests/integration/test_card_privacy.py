"""What a task card reveals about the resident, depending on who reads it."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.permissions import Actor, Role
from services.cards import CardReader, contact_line
from storage.models import TicketRow

HANDLING = CardReader(1, "zh", Actor(1, "petition", Role.OFFICER, True))
SUPERVISOR = CardReader(2, "zh", Actor(2, "leadership", Role.SUPERVISOR, True))


def ticket(mode: str, name: str | None = None, phone: str | None = None) -> TicketRow:
    now = datetime(2026, 11, 23, 2, tzinfo=UTC)
    return TicketRow(
        number="KM-20261123-0001", source="hotline", kind="complaint", text="…", resident_id=1, category="petition",
        confidence=0.9, state="dispatched", department_code="petition", received_at=now, deadline_at=now,
        contact_mode=mode, contact_name=name, contact_phone=phone,
    )


def test_the_handling_department_sees_a_real_name_reporters_phone(runtime) -> None:
    assert contact_line(runtime, HANDLING, ticket("real_name", "王女士", "13800000000")) == "反映人：王女士，电话 13800000000"


def test_anyone_else_sees_only_that_the_reporter_gave_a_name(runtime) -> None:
    line = contact_line(runtime, SUPERVISOR, ticket("real_name", "王女士", "13800000000"))
    assert "13800000000" not in line and "王女士" not in line


def test_an_anonymous_reporter_is_anonymous_to_everyone(runtime) -> None:
    for reader in (HANDLING, SUPERVISOR):
        assert contact_line(runtime, reader, ticket("anonymous")) == "反映人：匿名"


def test_a_real_name_reporter_without_a_phone_is_shown_as_such_to_the_handling_department(runtime) -> None:
    assert contact_line(runtime, HANDLING, ticket("real_name")) == "反映人：实名，未留联系电话"
