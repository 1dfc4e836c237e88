"""Typed settings, loaded once from config.toml and passed down.

Any key can be overridden by an environment variable ``OPENDOOR_<SECTION>__<KEY>``
(for example ``OPENDOOR_TELEGRAM__TOKEN`` or ``OPENDOOR_DATABASE__URL``), so secrets
never have to live in the repository.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, ClassVar, Mapping
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator, model_validator

from domain.limits import WorkLimit
from domain.tickets import TicketKind

ENV_PREFIX = "OPENDOOR_"
ENV_NESTING = "__"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = REPO_ROOT / "config.toml"
TELEGRAM_BOT_API = "https://api.telegram.org/bot"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelegramSettings(Section):
    token: SecretStr = SecretStr("")
    base_url: str = TELEGRAM_BOT_API
    base_file_url: str = "https://api.telegram.org/file/bot"
    poll_timeout_seconds: int = 30
    # The bot's @username without the @, for deep links and QR codes (`python -m bot qr`).
    bot_username: str = ""
    # `python -m bot run --webhook`: Telegram POSTs updates to webhook_url, which the load balancer
    # forwards to webhook_path on the web side; only requests carrying webhook_secret are accepted.
    webhook_url: str = ""
    webhook_path: str = "/telegram/webhook"
    webhook_secret: SecretStr = SecretStr("")
    webhook_max_connections: int = Field(default=40, ge=1, le=100)

    @field_validator("webhook_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("webhook_path must start with /, e.g. /telegram/webhook")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _allowed_secret(cls, value: SecretStr) -> SecretStr:
        # Telegram's own rule for secret_token; checked here so a bad one fails at start-up, not in setWebhook.
        if value.get_secret_value() and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("webhook_secret must be 1-256 characters A-Z, a-z, 0-9, _ and -")
        return value


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///var/opendoor.sqlite3"
    echo: bool = False


class Department(Section):
    name: str
    name_en: str
    receives_tickets: bool = True
    aliases: list[str] = []


class RoutingSettings(Section):
    # category -> department code
    departments: dict[str, str]
    confidence_threshold: float = Field(ge=0, le=1)
    triage_department: str


Limit = Annotated[WorkLimit, BeforeValidator(WorkLimit.parse)]


class LimitSettings(Section):
    sign_for: Limit
    reply: dict[str, Limit]
    by_kind: dict[str, Limit] = {}
    reopen_fraction: float = Field(gt=0, le=1)
    reopen_minimum: Limit
    max_extension_days: int = Field(ge=1)

    def reply_limit(self, category: str, kind: str) -> WorkLimit:
        """The most specific limit: "category.kind", then the kind alone, then the category."""
        return self.by_kind.get(f"{category}.{kind}") or self.by_kind.get(kind) or self.reply[category]


class CalendarSettings(Section):
    timezone: str
    office_start: time
    office_end: time
    extra_holidays: list[date] = []
    extra_workdays: list[date] = []

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SchedulerSettings(Section):
    escalate_after_days: int = Field(ge=1)
    sweep_seconds: float = Field(gt=0)
    reminder_fractions: list[float]
    dispatcher_idle_seconds: float = Field(gt=0)
    dispatcher_max_attempts: int = Field(ge=1)
    dispatcher_in_flight_seconds: float = Field(default=30.0, gt=0)

    @field_validator("reminder_fractions")
    @classmethod
    def _fractions_inside_limit(cls, value: list[float]) -> list[float]:
        if any(not 0 < f < 1 for f in value):
            raise ValueError("reminder fractions must lie strictly between 0 and 1")
        return sorted(value)


class WebSettings(Section):
    serve_with_bot: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    secure_cookies: bool = True
    session_hours: int = Field(default=12, ge=1)
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    page_size: int = Field(default=30, ge=5, le=500)
    figures_cache_seconds: int = Field(default=60, ge=0)


class WorkersSettings(Section):
    """Several bot processes on one database: one leader runs the scheduler and the outbox dispatcher."""

    leader_poll_seconds: float = Field(default=5.0, gt=0)
    leader_lease_seconds: float = Field(default=20.0, gt=0)
    update_claim_seconds: float = Field(default=15.0, gt=0)
    processed_updates_keep_hours: float = Field(default=48.0, gt=0)

    @model_validator(mode="after")
    def _lease_outlasts_two_polls(self) -> "WorkersSettings":
        if self.leader_lease_seconds <= 2 * self.leader_poll_seconds:
            raise ValueError("leader_lease_seconds must be more than twice leader_poll_seconds")
        return self


class SurveySettings(Section):
    send_at: time
    reminder_after_days: int = Field(ge=1)
    unanswered_after_days: int = Field(ge=1)


class DigestSettings(Section):
    send_at: time
    working_days_only: bool
    due_soon_hours: int = Field(ge=1)


class ClassifierSettings(Section):
    """Files of the routing classifier; relative paths are relative to config.toml."""

    PATH_KEYS: ClassVar[tuple[str, ...]] = (
        "keywords_path", "userdict_path", "dictionary_path", "variants_path",
        "model_dir", "business_units_path", "training_dir",
    )

    keywords_path: Path
    userdict_path: Path
    dictionary_path: Path = REPO_ROOT / "data" / "segdict.txt"
    variants_path: Path = REPO_ROOT / "data" / "variants.toml"
    model_dir: Path = REPO_ROOT / "data" / "models"
    business_units_path: Path = REPO_ROOT / "data" / "business_units.toml"
    training_dir: Path = REPO_ROOT / "data" / "training"
    retrain_weekday: str = "sun"
    retrain_at: time = time(3, 0)


class TicketSettings(Section):
    number_prefix: str
    max_text_chars: int = Field(ge=10)


class Unit(Section):
    """A police unit residents can appraise (开门评警)."""

    name: str
    name_en: str


class ResidentSettings(Section):
    """Limits of the resident conversations."""

    flood_max_messages: int = Field(default=8, ge=1)
    flood_per_seconds: float = Field(default=10.0, gt=0)
    conversation_timeout_minutes: float = Field(default=30.0, gt=0)
    max_attachments: int = Field(default=10, ge=0)


class Open311Service(Section):
    """One Open311 service type and the ticket kind a request for it becomes."""

    name: str
    kind: str
    description: str = ""
    group: str = ""
    keywords: list[str] = []

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        kinds = [kind.value for kind in TicketKind]
        if value not in kinds:
            raise ValueError(f"unknown ticket kind {value!r}; use one of {kinds}")
        return value


class Open311Settings(Section):
    """The Open311 GeoReport v2 endpoint other government systems read and create tickets through."""

    api_keys: list[SecretStr] = []
    jurisdiction_id: str = ""
    services: dict[str, Open311Service] = {}

    @field_validator("services")
    @classmethod
    def _one_service_per_kind(cls, value: dict[str, Open311Service]) -> dict[str, Open311Service]:
        kinds = [service.kind for service in value.values()]
        doubled = sorted({kind for kind in kinds if kinds.count(kind) > 1})
        if doubled:
            raise ValueError(f"each ticket kind may have one Open311 service only; doubled: {doubled}")
        return value


def department_names(settings: "Settings") -> dict[str, list[str]]:
    """Every name a resident might use for each department (for spotting the unit a report names)."""
    return {code: [d.name, *d.aliases] for code, d in settings.departments.items()}


class Settings(Section):
    telegram: TelegramSettings = TelegramSettings()
    database: DatabaseSettings = DatabaseSettings()
    departments: dict[str, Department]
    routing: RoutingSettings
    limits: LimitSettings
    calendar: CalendarSettings
    scheduler: SchedulerSettings
    survey: SurveySettings
    web: WebSettings = WebSettings()
    workers: WorkersSettings = WorkersSettings()
    digest: DigestSettings
    classifier: ClassifierSettings
    tickets: TicketSettings
    units: dict[str, Unit] = {}
    resident: ResidentSettings = ResidentSettings()
    open311: Open311Settings = Open311Settings()
    default_locale: str = "zh"

    @model_validator(mode="after")
    def _routes_to_known_departments(self) -> "Settings":
        targets = [*self.routing.departments.values(), self.routing.triage_department]
        unknown = sorted(set(targets) - set(self.departments))
        if unknown:
            raise ValueError(f"routing names departments missing from [departments]: {unknown}")
        missing = sorted(set(self.routing.departments) - set(self.limits.reply))
        if missing:
            raise ValueError(f"[limits] reply has no limit for categories: {missing}")
        return self


class ConfigError(Exception):
    """The configuration cannot be used; the message tells the operator what to fix."""


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Reads config.toml, applies OPENDOOR_* overrides and validates the result."""
    path = Path(path or os.environ.get("OPENDOOR_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"配置文件不存在 (config file not found): {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"配置文件格式错误 (invalid TOML) in {path}: {error}") from None
    _apply_env_overrides(raw, os.environ if environ is None else environ)
    _resolve_paths(raw, path.parent)
    try:
        return Settings.model_validate(raw)
    except ValueError as error:
        raise ConfigError(f"配置无效 (invalid configuration) in {path}:\n{error}") from None


def _apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or ENV_NESTING not in name:
            continue
        keys = name[len(ENV_PREFIX):].lower().split(ENV_NESTING)
        target = raw
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = _parse_env_value(value)


def _parse_env_value(value: str) -> Any:
    # Lists and numbers arrive as JSON; anything else (tokens, URLs) stays a plain string.
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
    return value


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Makes relative file paths in the config relative to the config file, not the cwd."""
    classifier = raw.get("classifier", {})
    for key in ClassifierSettings.PATH_KEYS:
        if key in classifier:
            classifier[key] = str((base / classifier[key]).resolve())
    database = raw.get("database", {})
    url = database.get("url", "")
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        database["url"] = prefix + str((base / url[len(prefix):]).resolve())
