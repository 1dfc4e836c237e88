"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2): other systems read and create tickets.

A service request is a ticket; its id is the ticket number. What is shown is limited on purpose:
no resident identity, contact or location ever leaves through here, and discipline tickets (reports
about police officers) do not exist for this API at all — they are missing from lists and 404 by id.

The published spec (GeoReport_v2 and Service_Discovery on open311.github.io) is followed as written:
service discovery at /open311/discovery.{xml,json}, and under /open311/v2/ the six methods — services,
services/{service_code}, POST requests, tokens/{token}, requests, requests/{service_request_id} — each
as .xml or .json. XML is <root><item>…</item></root> (<services><service>, <service_requests><request>,
<service_definition>); JSON is the Spark mapping of it: a list (the service definition and the
discovery document are objects) in which an empty element is null. Errors are
<errors><error><code/><description/></error></errors>, in JSON [{"code", "description"}], with the
HTTP status the spec names: 404 for what does not exist (another jurisdiction_id, an unknown
service_code, request or token), 403 for a missing or wrong api_key, 400 for everything else —
missing or invalid arguments, and our own failures ("general service error"). An optional argument
sent empty counts as not sent.

Where we knowingly differ, and why:
- address, address_id, zipcode, lat, long and media_url are always empty: where a resident was, and
  the pictures they took, are personal data. A POSTed location and media_url are kept for the
  officers in the ticket's text, below the description, and cut off again before it is shown.
- email, device_id and account_id are accepted but not kept: a ticket has no place for them, and
  first_name, last_name and phone already give it a contact. account_id is answered empty.
- a description may be as long as a ticket's text allows (tickets.max_text_chars, less the location
  below it), not the spec's 4,000 characters.
- every service is realtime and has metadata false: service definitions have no attributes, POSTed
  attribute[…] values are ignored, and no token is ever issued, so GET tokens/{token} is always 404.
- the endpoint serves one jurisdiction, so jurisdiction_id may be left out; another one is 404.
- the spec names no status for an unknown service_code among GET requests' filters, an unsupported
  format (.csv) or a method a resource does not take; all three are 400 ("the URL request is invalid").
- the discovery document's contact is empty: the settings do not say whom to contact.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from bot.settings import Open311Service
from domain.tickets import OPEN_STATES, TicketState
from services.hotline import Submission, TextTooLong, submit_ticket
from services.outbox import NO_TELEGRAM_CHAT
from services.runtime import Runtime
from storage.models import TicketRow
from web import RUNTIME

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
FORMATS = ("xml", "json")
GENERAL_ERROR = "general service error: the request could not be processed; please tell us"
# The route that answers, in the spec's error format, whatever no other route under /open311/ takes.
UNKNOWN_RESOURCE = "open311-unknown"
# GET requests without dates covers the last 90 days and answers at most 1000 requests (the spec's defaults).
DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
SOURCE = "open311"
# POSTed requests belong to one stand-in resident with no Telegram account, so no notice is sent.
OPEN311_RESIDENT_ID = NO_TELEGRAM_CHAT
CLOSED_STATES = frozenset(TicketState) - OPEN_STATES
# Below a POSTed description, for the officers only: where, and the client's media link.
LOCATION_LABEL = "地点 (location): "
MEDIA_LABEL = "附件 (media): "
KEY_SERVICE = (
    "读取无需密钥；提交请求 (POST) 所需的 api_key 请向本系统的管理者申请。"
    " Reading needs no key; ask the operators of this service for an api_key to POST requests."
)
# Every field of a service request in GET answers, in the spec's order.
REQUEST_FIELDS = (
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
)
# Characters XML 1.0 cannot carry at all; a resident's text with one would make the whole answer unreadable.
XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
W3C_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


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
    return XML_UNSAFE.sub("", str(value))


def _xml_element(parent: ET.Element, name: str, value: Any) -> None:
    child = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, item in value.items():
            _xml_element(child, key, item)
    elif isinstance(value, list):
        # A list repeats its singular: <attributes><attribute/>…, <formats><format/>…, as the spec's examples do.
        for item in value:
            _xml_element(child, name.removesuffix("s"), item)
    else:
        child.text = _xml_text(value)


def _spark(value: Any) -> Any:
    """A value as the spec's JSON (the Spark mapping of its XML) has it: an empty element is null."""
    if isinstance(value, dict):
        return {key: _spark(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_spark(item) for item in value]
    return None if value == "" else value


def render(fmt: str, root: str, item: str, records: Sequence[dict[str, Any]] | dict[str, Any], status: int = 200) -> web.Response:
    """The answer as JSON (a list, or one object) or XML (<root><item>…</item></root>), UTF-8."""
    if fmt == "json":
        return web.Response(
            text=json.dumps(_spark(records), ensure_ascii=False),
            status=status,
            content_type="application/json",
            charset="utf-8",
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


def unsupported_format(fmt: str) -> web.Response:
    # XML is the one format the spec requires, so a client that asked for neither gets its errors in XML.
    return render_error("xml", Open311Error(400, f"format {fmt!r} is not supported; use .xml or .json"))


Handler = Callable[[web.Request, Runtime, str], Awaitable[web.Response]]


def open311(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Checks the format and the jurisdiction, and answers every failure in the spec's error format."""

    async def wrapped(request: web.Request) -> web.Response:
        fmt = request.match_info["format"]
        if fmt not in FORMATS:
            return unsupported_format(fmt)
        rt = request.app[RUNTIME]
        try:
            await _check_jurisdiction(request, rt)
            return await handler(request, rt, fmt)
        except Open311Error as error:
            return render_error(fmt, error)
        except web.HTTPException as error:  # e.g. a body larger than the server takes
            return render_error(fmt, Open311Error(400, error.reason))
        except Exception:
            # The spec's "general service error": 400, and the client is asked to tell us.
            log.exception("Open311 %s %s failed", request.method, request.path_qs)
            return render_error(fmt, Open311Error(400, GENERAL_ERROR))

    return wrapped


async def _check_jurisdiction(request: web.Request, rt: Runtime) -> None:
    given = _text(request.query, "jurisdiction_id")
    if not given and request.method == "POST":
        given = _text(await request.post(), "jurisdiction_id")
    expected = rt.settings.open311.jurisdiction_id
    if given and expected and given != expected:
        raise Open311Error(404, f"jurisdiction_id {given!r} was not found")


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _values(query: MultiMapping[str], name: str) -> list[str]:
    """An argument that may be comma delimited and may also be given more than once."""
    return [part.strip() for value in query.getall(name, []) for part in value.split(",") if part.strip()]


# --- mapping tickets to service requests -------------------------------------------------------------


def w3c(moment: datetime, rt: Runtime) -> str:
    """A W3C datetime in the bureau's time zone, with its offset: 2026-11-23T10:00:00+08:00."""
    return rt.local(moment).isoformat(timespec="seconds")


def parse_w3c(name: str, value: str, rt: Runtime) -> datetime:
    """Reads a W3C datetime; a year, month or day alone means its first local midnight; a time needs a zone."""
    text = value.strip().replace(" ", "+")  # an unencoded "+08:00" arrives as " 08:00"
    try:
        if date := W3C_DATE.fullmatch(text):
            year, month, day = date.groups()
            return datetime(int(year), int(month or 1), int(day or 1), tzinfo=rt.hours.tz)
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


def is_closed(ticket: TicketRow) -> bool:
    return TicketState(ticket.state) in CLOSED_STATES


def service_notice(rt: Runtime, deadline_at: datetime) -> str:
    return f"答复期限 (answer due by) {rt.format_moment(rt.settings.default_locale, deadline_at)}"


def status_notes(ticket: TicketRow) -> str | None:
    if not is_closed(ticket):
        return None
    if TicketState(ticket.state) == TicketState.VOID:
        return f"无效工单 (void): {ticket.result}" if ticket.result else "无效工单 (void)"
    return ticket.result


def officer_details(location: str, media_url: str) -> str:
    """What a POST adds below its description for the officers: where, and the client's media link."""
    return "\n".join([f"{LOCATION_LABEL}{location}", *([f"{MEDIA_LABEL}{media_url}"] if media_url else [])])


def public_description(ticket: TicketRow) -> str:
    """The ticket's text as its author described it: a POSTed ticket without the details added below."""
    if ticket.source != SOURCE:
        return ticket.text
    # Cut at the first label, so a description that happens to contain it loses more, never shows more.
    described, found, _ = f"\n\n{ticket.text}".partition(f"\n\n{LOCATION_LABEL}")
    return described.removeprefix("\n\n") if found else ticket.text


def updated_datetime(ticket: TicketRow, last_event_at: datetime | None) -> datetime:
    """The spec: when last modified, and for a closed request when it was closed (a later survey aside)."""
    if is_closed(ticket) and ticket.closed_at is not None:
        return ticket.closed_at
    return last_event_at or ticket.received_at


def request_record(rt: Runtime, ticket: TicketRow, last_event_at: datetime | None) -> dict[str, Any]:
    """The public view of a ticket: no resident, contact, location or internal routing data."""
    code, name = _service_of(rt, ticket.kind)
    department = rt.settings.departments.get(ticket.department_code)
    record: dict[str, Any] = {
        "service_request_id": ticket.number,
        "status": "closed" if is_closed(ticket) else "open",
        "status_notes": status_notes(ticket),
        "service_name": name,
        "service_code": code,
        "description": public_description(ticket),
        "agency_responsible": department.name if department else ticket.department_code,
        "service_notice": service_notice(rt, ticket.deadline_at),
        "requested_datetime": w3c(ticket.received_at, rt),
        "updated_datetime": w3c(updated_datetime(ticket, last_event_at), rt),
        "expected_datetime": w3c(ticket.deadline_at, rt),
        # Locations and pictures residents share are personal data and are never published.
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
    last_events = await uow.events.last_times(ticket.id or 0 for ticket in shown)
    return [request_record(rt, ticket, last_events.get(ticket.id or 0)) for ticket in shown]


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
            "keywords": ", ".join(service.keywords),
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
    if ids := _values(query, "service_request_id"):
        # The spec: service_request_id overrides every other argument.
        if len(ids) > MAX_RESULTS:
            raise Open311Error(400, f"at most {MAX_RESULTS} service_request_id values at once")
        async with rt.db.unit_of_work() as uow:
            return render(fmt, "service_requests", "request", await _records(rt, await uow.tickets.by_numbers(ids), uow))
    kinds = None
    if codes := _values(query, "service_code"):
        unknown = [code for code in codes if code not in _services(rt)]
        if unknown:
            raise Open311Error(400, f"service_code not found: {', '.join(unknown)}")
        kinds = [_services(rt)[code].kind for code in codes]
    states = None
    if statuses := _values(query, "status"):
        wrong = [status for status in statuses if status not in ("open", "closed")]
        if wrong:
            raise Open311Error(400, f"status must be open or closed, not {', '.join(wrong)}")
        states = [s.value for s in OPEN_STATES] if "open" in statuses else []
        states += [s.value for s in CLOSED_STATES] if "closed" in statuses else []
    start, end = _window(rt, _text(query, "start_date"), _text(query, "end_date"))
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


def _window(rt: Runtime, start_text: str, end_text: str) -> tuple[datetime, datetime]:
    """[start, end] of requested_datetime: the last 90 days unless told, and never more than 90 days."""
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
async def get_token(request: web.Request, rt: Runtime, fmt: str) -> web.Response:
    """GET service_request_id from a token: our services are realtime, so no token was ever handed out."""
    token = request.match_info["token"]
    raise Open311Error(404, f"token {token!r} was not found: requests here get a service_request_id at once")


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
        raise Open311Error(404, f"service_code {code!r} was not found")
    # Officers need to know where (and to see the client's media); GET cuts this off again.
    details = officer_details(_location(form), _text(form, "media_url"))
    description = _text(form, "description")
    text = f"{description}\n\n{details}" if description else details
    name = " ".join(part for part in (_text(form, "first_name"), _text(form, "last_name")) if part)
    phone = _text(form, "phone")
    submission = Submission(
        telegram_user_id=OPEN311_RESIDENT_ID,
        chat_id=OPEN311_RESIDENT_ID,
        locale=rt.settings.default_locale,
        kind=service.kind,
        text=text,
        contact_mode="real_name" if name or phone else "anonymous",
        contact_name=name or None,
        contact_phone=phone or None,
        source=SOURCE,
    )
    try:
        accepted = await submit_ticket(rt, submission)
    except TextTooLong as error:
        room = error.limit - len(f"\n\n{details}")
        if room < 1:
            raise Open311Error(400, f"the location and media_url may be at most {error.limit} characters") from None
        raise Open311Error(400, f"description is too long: at most {room} characters with this location") from None
    record = {
        "service_request_id": accepted.number,
        "service_notice": service_notice(rt, accepted.deadline_at),
        "account_id": None,  # no accounts here
    }
    return render(fmt, "service_requests", "request", [record])


def _check_api_key(rt: Runtime, given: Any) -> None:
    if not isinstance(given, str) or not given:
        raise Open311Error(403, "api_key was not provided")
    keys = [key.get_secret_value() for key in rt.settings.open311.api_keys]
    # Compare every key in constant time, so timing tells nothing about which one nearly matched.
    matches = [hmac.compare_digest(given.encode(), key.encode()) for key in keys if key]
    if not any(matches):
        raise Open311Error(403, "api_key is invalid")


def _location(form: Any) -> str:
    """lat & long, address_string or address_id: the spec requires one of them."""
    lat, long = _text(form, "lat"), _text(form, "long")
    address = _text(form, "address_string") or _text(form, "address_id")
    point = ""
    if lat or long:
        if not (lat and long):
            raise Open311Error(400, "lat and long must be sent together")
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
    if fmt not in FORMATS:
        return unsupported_format(fmt)
    endpoint = {
        "specification": SPECIFICATION,
        "url": str(request.url.with_path(PREFIX).with_query(None)),
        "changeset": "2026-11-22T00:00:00+08:00",
        "type": "production",
        "formats": ["text/xml", "application/json"],
    }
    document = {"changeset": endpoint["changeset"], "contact": "", "key_service": KEY_SERVICE, "endpoints": [endpoint]}
    return render(fmt, "discovery", "", document)


async def unknown_resource(request: web.Request) -> web.Response:
    """Anything else under /open311/: 404 where nothing exists, 400 for a method the resource does not take."""
    fmt = "json" if request.path.endswith(".json") else "xml"
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.name != UNKNOWN_RESOURCE:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        methods = " or ".join(sorted(allowed - {"HEAD"}))
        return render_error(fmt, Open311Error(400, f"{request.method} is not taken here; use {methods}"))
    return render_error(fmt, Open311Error(404, f"{request.path} was not found"))



def add_routes(app: web.Application) -> None:
    app.router.add_get("/open311/discovery.{format}", get_discovery)
    app.router.add_get(PREFIX + "/services.{format}", get_services)
    app.router.add_get(PREFIX + "/services/{service_code}.{format}", get_service_definition)
    app.router.add_get(PREFIX + "/requests.{format}", get_requests)
    app.router.add_post(PREFIX + "/requests.{format}", post_request)
    app.router.add_get(PREFIX + "/tokens/{token}.{format}", get_token)
    app.router.add_get(PREFIX + "/requests/{service_request_id}.{format}", get_request)
    # Last, so that it only answers what nothing above does, in the spec's error format.
    app.router.add_route("*", "/open311/{tail:.*}", unknown_resource, name=UNKNOWN_RESOURCE)
