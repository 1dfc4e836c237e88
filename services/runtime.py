"""Everything a service function needs, built once at start-up and passed down explicitly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.settings import Settings
from domain.calendar import OfficeHours, WorkingCalendar, next_office_moment
from domain.classifier import TextClassifier
from domain.clock import Clock
from i18n import Texts
from storage.database import Database

if TYPE_CHECKING:
    from scheduler.leader import Leadership


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    calendar: WorkingCalendar
    hours: OfficeHours
    classifier: TextClassifier
    texts: Texts
    # Called after a commit that queued outgoing messages, so the dispatcher sends them at once.
    wake_dispatcher: Callable[[], None] = field(default=lambda: None)
    # Set while the bot runs: this process's name and whether it leads the processes sharing the
    # database (runs the scheduler and the dispatcher); GET /health reports it.
    leadership: Leadership | None = None
    # Outbox rows Telegram took but the database did not record as sent (it failed just then):
    # row id -> the message id Telegram gave. Kept here, not on the dispatcher, since a leader that
    # loses its database connection steps down and builds a new dispatcher when it leads again;
    # recorded before anything else is sent, and never sent again meanwhile.
    unrecorded_deliveries: dict[int, int | None] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock.now()

    def next_office_moment(self, moment: datetime) -> datetime:
        return next_office_moment(moment, self.calendar, self.hours)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.hours.tz)

    def format_moment(self, locale: str, moment: datetime) -> str:
        return self.local(moment).strftime(self.texts.get(locale, "format.moment"))

    def department_name(self, locale: str, code: str) -> str:
        department = self.settings.departments[code]
        return department.name_en if locale == "en" else department.name
