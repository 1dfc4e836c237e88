"""A live bot shared by all the examples of one fuzz test, and a watch on what it logs."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

from domain.clock import FakeClock
from local_botapi import SimUser
from services.officers import deactivate_officer
from tests.conftest import LiveBot, running_bot

# Few examples, each a whole conversation with the live bot; the same ones in every run. To hunt for
# longer: FUZZ_EXAMPLES=300 .venv/bin/python -m pytest tests/fuzz
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 25)),
    deadline=None,
    derandomize=True,
    database=None,
    # Explaining a failure replays it dozens of times against the live bot; the shrunk example is enough.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    # One live bot serves every example of a test (starting one per example would take seconds);
    # each example plays people of its own, so examples do not meet.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


class FuzzBot(LiveBot):
    """The live bot, named briefly where hypothesis prints a failing example's arguments."""

    def __repr__(self) -> str:
        return "<the live bot>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis prints it
        printer.text(repr(self))

    @asynccontextmanager
    async def officer(self, name: str, department: str, role: str = "officer") -> AsyncIterator[SimUser]:
        """An officer for one example, deactivated after it: otherwise every later ticket's card would
        go to every officer an earlier example registered, and cards would queue up behind each other."""
        officer = await self.register_officer(name, department, role)
        try:
            yield officer
        finally:
            async with self.rt.db.unit_of_work() as uow:
                row = await uow.officers.by_telegram_id(officer.id)
            assert row is not None
            await deactivate_officer(self.rt, row.id or 0)

    async def settle(self, timeout: float = 10.0) -> None:
        """Waits until the bot has fetched every update sent so far and finished handling it (error
        handler included), so that what it logs belongs to this example."""
        processor = self.application.update_processor
        quiet = 0
        async with asyncio.timeout(timeout):
            while quiet < 3:  # idle three looks in a row: no update between the queue and its handling
                idle = (
                    self.api.state.updates.pending_count == 0
                    and self.application.update_queue.empty()
                    and processor.current_concurrent_updates == 0
                )
                quiet = quiet + 1 if idle else 0
                await asyncio.sleep(0.01)


@pytest.fixture
async def fuzz_bot(tmp_path: Path, clock: FakeClock) -> AsyncIterator[FuzzBot]:
    async with running_bot(tmp_path, clock) as bot:
        yield FuzzBot(bot.api, bot.application, bot.rt, bot.clock)


class ErrorLog(logging.Handler):
    """Everything logged at ERROR or above while the test runs: the error handler logs every update
    it is reached with, so an empty log means no update failed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def since(self, start: int) -> list[str]:
        return [
            f"{record.name}: {record.getMessage()}\n{self.format(record) if record.exc_info else ''}"
            for record in self.records[start:]
        ]


@pytest.fixture
def errors() -> Iterator[ErrorLog]:
    log = ErrorLog()
    log.setFormatter(logging.Formatter())
    root = logging.getLogger()
    root.addHandler(log)
    yield log
    root.removeHandler(log)
