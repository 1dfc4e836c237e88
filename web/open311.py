"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2): other systems read and create tickets.

A service request is a ticket; its id is the ticket number. What is shown is limited on purpose:
no resident identity, contact or location ever leaves through here, and discipline tickets (reports
about police officers) do not exist for this API at all — they are missing from lists and 404 by id.
"""

from __future__ import annotations

import hmac
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from bot.settings import Open311Service
from domain.tickets import OPEN_STATES, TicketState
from services.hotline import Submission, TextTooLong, submit_ticket
from services.outbox import NO_TELEGRAM_CHAT
from services.runtime import Runtime
from storage.models import TicketRow
from web import RUNTIME

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# GET requests without dates covers the last 90 days and answers at most 1000 requests (the spec's defaults).
DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
# POSTed requests belong to one stand-in resident with no Telegram account, so no notice is sent.
OPEN311_RESIDENT_ID = NO_TELEGRAM_CHAT
CLOSED_STATES = frozenset(TicketState) - OPEN_STATES
# Every field of a service request in GET answers, in the spec's order.
REQUEST_FIELDS = (
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
)


class Open311Error(Exception):
    """Answered in the spec's error format: a list of {code, description} with that HTTP status."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# --- rendering -------------------------------------------------------------------------------------


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml_element(parent: ET.Element, name: str, value: Any) -> None:
    child = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, item in value.items():
            _xml_element(child, key, item)
    elif isinstance(value, list):
        # A list repeats its singular: <endpoints><endpoint/>…, <formats><format/>…, as the spec's examples do.
        for item in value:
            _xml_element(child, name.removesuffix("s"), item)
    else:
        child.text = _xml_text(value)


def render(fmt: str, root: str, item: str, records: Sequence[dict[str, Any]] | dict[str, Any], status: int = 200) -> web.Response:
    """The answer as JSON (a list, or one object) or XML (<root><item>…</item></root>), UTF-8."""
    if fmt == "json":
        return web.Response(
            text=json.dumps(records, ensure_ascii=False), status=status, content_type="application/json", charset="utf-8"
        )
    element = ET.Element(root)
    if isinstance(records, dict):
        for key, value in records.items():
            _xml_element(element, key, value)
    else:
        for record in records:
            _xml_element(element, item, record)
    body = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="unicode")
    return web.Response(text=body, status=status, content_type="text/xml", charset="utf-8")


def render_error(fmt: str, error: Open311Error) -> web.Response:
    return render(fmt, "errors", "error", [{"code": error.status, "description": error.description}], error.status)


Handler = Callable[[web.Request, Runtime, str], Awaitable[web.Response]]


def open311(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Checks the format and the jurisdiction, and turns Open311Error into the spec's error answer."""

    async def wrapped(request: web.Request) -> web.Response:
        fmt = request.match_info.get("format", "json")
        if fmt not in ("json", "xml"):
            return render_error("json", Open311Error(404, f"format {fmt!r} is not supported; use .json or .xml"))
        rt = request.app[RUNTIME]
        try:
            await _check_jurisdiction(request, rt)
            return await handler(request, rt, fmt)
        except Open311Error as error:
            return render_error(fmt, error)

    return wrapped


async def _check_jurisdiction(request: web.Request, rt: Runtime) -> None:
    given = request.query.get("jurisdiction_id")
    if given is None and request.method == "POST":
        given = (await request.post()).get("jurisdiction_id")  # type: ignore[assignment]
    expected = rt.settings.open311.jurisdiction_id
    if given and expected and given != expected:
        raise Open311Error(404, f"jurisdiction_id {given!r} was not found")


# --- mapping tickets to service requests -------------------------------------------------------------


def w3c(moment: datetime, rt: Runtime) -> str:
    """A W3C datetime in the bureau's time zone, with its offset: 2026-11-23T10:00:00+08:00."""
    return rt.local(moment).isoformat(timespec="seconds")


def parse_w3c(name: str, value: str, rt: Runtime) -> datetime:
    """Reads a W3C datetime (a date alone means its local midnight); a time needs a zone."""
    text = value.strip().replace(" ", "+")  # an unencoded "+08:00" arrives as " 08:00"
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.fromisoformat(text).replace(tzinfo=rt.hours.tz)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(400, f"{name} {value!r} is not a W3C datetime like 2026-11-23T10:00:00+08:00") from None
    if moment.tzinfo is None:
        raise Open311Error(400, f"{name} {value!r} has no time zone; add Z or an offset like +08:00")
    return moment


def _services(rt: Runtime) -> dict[str, Open311Service]:
    return rt.settings.open311.services


def _service_of(rt: Runtime, kind: str) -> tuple[str, str]:
    """The (service_code, service_name) a ticket of this kind is listed under."""
    for code, service in _services(rt).items():
        if service.kind == kind:
            return code, service.name
    return kind, kind


def _discipline_department(rt: Runtime) -> str | None:
    return rt.settings.routing.departments.get("discipline")


def is_private(rt: Runtime, ticket: TicketRow) -> bool:
    """Discipline tickets are never shown: not in lists, not by id."""
    return ticket.category == "discipline" or ticket.department_code == _discipline_department(rt)


def service_notice(rt: Runtime, ticket: TicketRow) -> str:
    return f"答复期限 (answer due by) {rt.format_moment(rt.settings.default_locale, ticket.deadline_at)}"


def status_notes(ticket: TicketRow) -> str | None:
    state = TicketState(ticket.state)
    if state in OPEN_STATES:
        return None
    if state == TicketState.VOID:
        return f"无效工单 (void): {ticket.result}" if ticket.result else "无效工单 (void)"
    return ticket.result


def request_record(rt: Runtime, ticket: TicketRow, updated_at: datetime | None) -> dict[str, Any]:
    """The public view of a ticket: no resident, contact, location or internal routing data."""
    code, name = _service_of(rt, ticket.kind)
    department = rt.settings.departments.get(ticket.department_code)
    record: dict[str, Any] = {
        "service_request_id": ticket.number,
        "status": "open" if TicketState(ticket.state) in OPEN_STATES else "closed",
        "status_notes": status_notes(ticket),
        "service_name": name,
        "service_code": code,
        "description": ticket.text,
        "agency_responsible": department.name if department else ticket.department_code,
        "service_notice": service_notice(rt, ticket),
        "requested_datetime": w3c(ticket.received_at, rt),
        "updated_datetime": w3c(updated_at or ticket.received_at, rt),
        "expected_datetime": w3c(ticket.deadline_at, rt),
        # Locations residents share are personal data and are never published.
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }
    return {key: record[key] for key in REQUEST_FIELDS}


async def _records(rt: Runtime, tickets: Iterable[TicketRow], uow: Any) -> list[dict[str, Any]]:
    shown = [ticket for ticket in tickets if not is_private(rt, ticket)]
    updated = await uow.events.last_times(ticket.id or 0 for ticket in shown)
    return [request_record(rt, ticket, updated.get(ticket.id or 0)) for ticket in shown]


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


# --- handlers ----------------------------------------------------------------------------------------


@open311
async def get_services(request: web.Request, rt: Runtime, fmt: str) -> web.Response:
    """GET Service List."""
    records = [
        {
            "service_code": code,
            "service_name": service.name,
            "description": service.description,
            "metadata": False,
            "type": "realtime",
            "keywords": ",".join(service.keywords),
            "group": service.group,
        }
        for code, service in _services(rt).items()
    ]
    return render(fmt, "services", "service", records)


@open311
async def get_service_definition(request: web.Request, rt: Runtime, fmt: str) -> web.Response:
    """GET Service Definition: our services ask for no extra attributes (metadata is false)."""
    code = request.match_info["service_code"]
    if code not in _services(rt):
        raise Open311Error(404, f"service_code {code!r} was not found")
    return render(fmt, "service_definition", "", {"service_code": code, "attributes": []})


@open311
async def get_requests(request: web.Request, rt: Runtime, fmt: str) -> web.Response:
    """GET Service Requests: by ids, or by service, status and a window of at most 90 days."""
    query = request.query
    if ids := _split(query.get("service_request_id", "")):
        # The spec: service_request_id overrides every other argument.
        if len(ids) > MAX_RESULTS:
            raise Open311Error(400, f"at most {MAX_RESULTS} service_request_id values at once")
        async with rt.db.unit_of_work() as uow:
            return render(fmt, "service_requests", "request", await _records(rt, await uow.tickets.by_numbers(ids), uow))
    kinds = None
    if codes := _split(query.get("service_code", "")):
        unknown = [code for code in codes if code not in _services(rt)]
        if unknown:
            raise Open311Error(400, f"service_code not found: {', '.join(unknown)}")
        kinds = [_services(rt)[code].kind for code in codes]
    states = None
    if statuses := _split(query.get("status", "")):
        wrong = [status for status in statuses if status not in ("open", "closed")]
        if wrong:
            raise Open311Error(400, f"status must be open or closed, not {', '.join(wrong)}")
        states = [s.value for s in OPEN_STATES] if "open" in statuses else []
        states += [s.value for s in CLOSED_STATES] if "closed" in statuses else []
    start, end = _window(rt, query.get("start_date"), query.get("end_date"))
    discipline = _discipline_department(rt)
    async with rt.db.unit_of_work() as uow:
        tickets = await uow.tickets.received_between(
            start,
            end,
            kinds=kinds,
            states=states,
            excluding_categories=["discipline"],
            excluding_departments=[discipline] if discipline else [],
            limit=MAX_RESULTS,
        )
        return render(fmt, "service_requests", "request", await _records(rt, tickets, uow))


def _window(rt: Runtime, start_text: str | None, end_text: str | None) -> tuple[datetime, datetime]:
    start = parse_w3c("start_date", start_text, rt) if start_text else None
    end = parse_w3c("end_date", end_text, rt) if end_text else None
    if start is None and end is None:
        end = rt.now()
    if start is None:
        start = end - DEFAULT_WINDOW  # type: ignore[operator]
    if end is None:
        end = start + DEFAULT_WINDOW
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > DEFAULT_WINDOW:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    return start, end


@open311
async def get_request(request: web.Request, rt: Runtime, fmt: str) -> web.Response:
    """GET Service Request: one ticket by its number, as a list of one."""
    number = request.match_info["service_request_id"]
    async with rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(number)
        records = await _records(rt, [ticket] if ticket else [], uow)
    if not records:
        raise Open311Error(404, f"service_request_id {number!r} was not found")
    return render(fmt, "service_requests", "request", records)


@open311
async def post_request(request: web.Request, rt: Runtime, fmt: str) -> web.Response:
    """POST Service Request: a ticket through the same door as the hotline, with source "open311"."""
    form = {**request.query, **(await request.post())}
    _check_api_key(rt, form.get("api_key"))
    code = _text(form, "service_code")
    if not code:
        raise Open311Error(400, "service_code was not provided")
    service = _services(rt).get(code)
    if service is None:
        raise Open311Error(400, f"service_code {code!r} was not found")
    location = _location(form)
    description = _text(form, "description")
    if not description:
        raise Open311Error(400, "description was not provided")
    name = " ".join(part for part in (_text(form, "first_name"), _text(form, "last_name")) if part)
    phone = _text(form, "phone")
    submission = Submission(
        telegram_user_id=OPEN311_RESIDENT_ID,
        chat_id=OPEN311_RESIDENT_ID,
        locale=rt.settings.default_locale,
        kind=service.kind,
        # Officers need to know where; the location is part of what they read.
        text=f"{description}\n\n地点 (location): {location}",
        contact_mode="real_name" if name or phone else "anonymous",
        contact_name=name or None,
        contact_phone=phone or None,
        source="open311",
    )
    try:
        accepted = await submit_ticket(rt, submission)
    except TextTooLong as error:
        raise Open311Error(400, f"description is too long: at most {error.limit} characters") from None
    notice = f"答复期限 (answer due by) {rt.format_moment(rt.settings.default_locale, accepted.deadline_at)}"
    record = {"service_request_id": accepted.number, "service_notice": notice, "account_id": None}
    return render(fmt, "service_requests", "request", [record])


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _check_api_key(rt: Runtime, given: Any) -> None:
    if not isinstance(given, str) or not given:
        raise Open311Error(403, "api_key was not provided")
    keys = [key.get_secret_value() for key in rt.settings.open311.api_keys]
    # Compare every key in constant time, so timing tells nothing about which one nearly matched.
    matches = [hmac.compare_digest(given.encode(), key.encode()) for key in keys if key]
    if not any(matches):
        raise Open311Error(403, "api_key is invalid")


def _location(form: Any) -> str:
    """lat/long, address_string or address_id, as the spec requires one of them."""
    lat, long = _text(form, "lat"), _text(form, "long")
    address = _text(form, "address_string") or _text(form, "address_id")
    point = ""
    if lat or long:
        try:
            latitude, longitude = float(lat), float(long)
        except ValueError:
            raise Open311Error(400, "lat and long must both be decimal degrees") from None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise Open311Error(400, "lat must lie within ±90 and long within ±180")
        point = f"{latitude:.6f}, {longitude:.6f}"
    if not point and not address:
        raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
    return " ".join(part for part in (address, f"({point})" if point and address else point) if part)


async def get_discovery(request: web.Request) -> web.Response:
    """The service discovery document that points clients at this GeoReport v2 endpoint."""
    fmt = request.match_info["format"]
    if fmt not in ("json", "xml"):
        return render_error("json", Open311Error(404, f"format {fmt!r} is not supported; use .json or .xml"))
    endpoint = {
        "specification": SPECIFICATION,
        "url": str(request.url.with_path(PREFIX).with_query(None)),
        "changeset": "2026-11-22T00:00:00+08:00",
        "type": "production",
        "formats": ["text/xml", "application/json"],
    }
    document = {"changeset": endpoint["changeset"], "contact": "", "key_service": "", "endpoints": [endpoint]}
    return render(fmt, "discovery", "", document)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/open311/discovery.{format}", get_discovery)
    app.router.add_get(PREFIX + "/services.{format}", get_services)
    app.router.add_get(PREFIX + "/services/{service_code}.{format}", get_service_definition)
    app.router.add_get(PREFIX + "/requests.{format}", get_requests)
    app.router.add_post(PREFIX + "/requests.{format}", post_request)
    app.router.add_get(PREFIX + "/requests/{service_request_id}.{format}", get_request)
