"""The Open311 GeoReport v2 endpoint, over HTTP against a real migrated SQLite database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import inspect

from bot.cli import _parser
from bot.settings import REPO_ROOT, Settings
from domain.clock import FakeClock
from domain.tickets import SurveyAnswer
from services.hotline import Submission, submit_ticket
from services.officers import create_invite, register_officer
from services.runtime import Runtime
from services.survey import answer_survey
from services.tasks import close_ticket, sign_for, void_ticket
from storage.database import Database
from storage.models import TicketRow
from tests.conftest import database_url, make_settings
from web.app import build_web_app

API_KEY = "test-open311-key"
V2 = "/open311/v2"
PETITION_TEXT = "报案三个月了派出所一直有案不立，也没有给我报警回执。"
DISCIPLINE_TEXT = "派出所民警吃拿卡要，还充当保护伞"
RESIDENT_TELEGRAM_ID = 987654321
RESIDENT_NAME = "王小明"
RESIDENT_PHONE = "13912345678"
W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
# The spec's fields of a service request in GET answers, and of a service in the service list.
REQUEST_FIELDS = {
    "service_request_id": str,
    "status": str,
    "status_notes": (str, type(None)),
    "service_name": str,
    "service_code": str,
    "description": (str, type(None)),
    "agency_responsible": str,
    "service_notice": (str, type(None)),
    "requested_datetime": str,
    "updated_datetime": (str, type(None)),
    "expected_datetime": (str, type(None)),
    "address": (str, type(None)),
    "address_id": (str, type(None)),
    "zipcode": (str, type(None)),
    "lat": (float, int, type(None)),
    "long": (float, int, type(None)),
    "media_url": (str, type(None)),
}
DATETIME_FIELDS = ("requested_datetime", "updated_datetime", "expected_datetime")
SERVICE_FIELDS = {
    "service_code": str,
    "service_name": str,
    "description": str,
    "metadata": bool,
    "type": str,
    "keywords": str,
    "group": str,
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, OPENDOOR_OPEN311__API_KEYS=json.dumps([API_KEY]))


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_web_app(runtime))) as client:
        yield client


def resident_says(text: str = PETITION_TEXT, kind: str = "complaint") -> Submission:
    return Submission(
        telegram_user_id=RESIDENT_TELEGRAM_ID,
        chat_id=RESIDENT_TELEGRAM_ID,
        locale="zh",
        kind=kind,
        text=text,
        contact_mode="real_name",
        contact_name=RESIDENT_NAME,
        contact_phone=RESIDENT_PHONE,
    )


async def ticket_id_of(rt: Runtime, number: str) -> int:
    async with rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(number)
    assert ticket is not None and ticket.id is not None
    return ticket.id


async def officer_of(rt: Runtime, department: str, user: int, role: str = "officer") -> int:
    code = await create_invite(rt, department, role)
    await register_officer(rt, code, telegram_user_id=user, chat_id=user, display_name=f"警官{user}", locale="zh")
    return user


def assert_spec_request(record: dict[str, Any]) -> None:
    assert set(record) == set(REQUEST_FIELDS), set(record) ^ set(REQUEST_FIELDS)
    for field, kind in REQUEST_FIELDS.items():
        assert isinstance(record[field], kind), (field, record[field])
    assert record["status"] in ("open", "closed")
    for field in DATETIME_FIELDS:
        assert W3C.match(record[field]), (field, record[field])
        assert datetime.fromisoformat(record[field]).tzinfo is not None


def xml_records(body: str, root: str, item: str) -> list[dict[str, str | None]]:
    assert body.startswith('<?xml version="1.0" encoding="utf-8"?>')
    tree = ET.fromstring(body)
    assert tree.tag == root
    assert all(child.tag == item for child in tree)
    return [{element.tag: element.text for element in child} for child in tree]


def xml_errors(body: str) -> list[dict[str, str | None]]:
    return xml_records(body, "errors", "error")


async def get_json(client: TestClient, path: str, expect: int = 200, **params: str) -> Any:
    response = await client.get(path, params=params)
    assert response.status == expect, await response.text()
    assert response.content_type == "application/json"
    assert response.charset == "utf-8"
    return await response.json()


async def get_xml(client: TestClient, path: str, expect: int = 200, **params: str) -> str:
    response = await client.get(path, params=params)
    assert response.status == expect, await response.text()
    assert response.content_type == "text/xml"
    assert response.charset == "utf-8"
    return await response.text()


async def post_request(client: TestClient, fmt: str = "json", **fields: str | None) -> Any:
    form: dict[str, str | None] = {
        "api_key": API_KEY, "service_code": "complaint", "description": PETITION_TEXT, "lat": "25.04", "long": "102.71"
    }
    form.update(fields)
    return await client.post(f"{V2}/requests.{fmt}", data={k: v for k, v in form.items() if v is not None})


async def post_error(client: TestClient, expect: int, **fields: str | None) -> str:
    """Posts the same request as JSON and as XML; both must fail with `expect` and say the same."""
    json_answer = await post_request(client, **fields)
    assert json_answer.status == expect, await json_answer.text()
    [error] = await json_answer.json()
    assert error["code"] == expect
    xml_answer = await post_request(client, "xml", **fields)
    assert xml_answer.status == expect and xml_answer.content_type == "text/xml"
    assert xml_errors(await xml_answer.text()) == [{"code": str(expect), "description": error["description"]}]
    return error["description"]


async def numbers_listed(client: TestClient, params: Any = None) -> list[str]:
    """The ids GET requests answers for these arguments, the same in JSON and in XML."""
    json_answer = await client.get(f"{V2}/requests.json", params=params)
    assert json_answer.status == 200, await json_answer.text()
    xml_answer = await client.get(f"{V2}/requests.xml", params=params)
    assert xml_answer.status == 200, await xml_answer.text()
    listed = [record["service_request_id"] for record in await json_answer.json()]
    in_xml = xml_records(await xml_answer.text(), "service_requests", "request")
    assert [record["service_request_id"] for record in in_xml] == listed
    return listed


# --- services ----------------------------------------------------------------------------------------


async def test_the_service_list_has_every_spec_field_in_json(client: TestClient, runtime: Runtime) -> None:
    services = await get_json(client, f"{V2}/services.json")
    assert [service["service_code"] for service in services] == list(runtime.settings.open311.services)
    for service in services:
        assert set(service) == set(SERVICE_FIELDS)
        for field, kind in SERVICE_FIELDS.items():
            assert isinstance(service[field], kind), (field, service[field])
        assert service["metadata"] is False
        assert service["type"] == "realtime"
    assert services[0]["service_name"] == "投诉"
    assert services[0]["keywords"] == "投诉, complaint"  # a comma separated list, as in the spec's example


async def test_the_service_list_uses_the_specs_xml_elements(client: TestClient) -> None:
    services = xml_records(await get_xml(client, f"{V2}/services.xml"), "services", "service")
    assert len(services) == 4
    for service in services:
        assert set(service) == set(SERVICE_FIELDS)
        assert service["metadata"] == "false"
        assert service["type"] == "realtime"
    assert services[0]["keywords"] == "投诉, complaint"


async def test_a_known_service_has_a_definition_without_attributes(client: TestClient) -> None:
    definition = await get_json(client, f"{V2}/services/complaint.json")
    assert definition == {"service_code": "complaint", "attributes": []}
    tree = ET.fromstring(await get_xml(client, f"{V2}/services/complaint.xml"))
    assert tree.tag == "service_definition"
    assert tree.findtext("service_code") == "complaint"
    assert tree.find("attributes") is not None


async def test_an_unknown_service_definition_is_404_in_the_error_format(client: TestClient) -> None:
    errors = await get_json(client, f"{V2}/services/potholes.json", expect=404)
    assert errors == [{"code": 404, "description": "service_code 'potholes' was not found"}]
    body = await get_xml(client, f"{V2}/services/potholes.xml", expect=404)
    assert xml_records(body, "errors", "error") == [
        {"code": "404", "description": "service_code 'potholes' was not found"}
    ]


async def test_an_unsupported_format_is_400_in_xml_the_one_format_every_client_reads(client: TestClient) -> None:
    for path in (f"{V2}/services.csv", f"{V2}/requests.html", f"{V2}/services/complaint.yaml", "/open311/discovery.csv"):
        [error] = xml_errors(await get_xml(client, path, expect=400))
        assert error["code"] == "400" and "not supported" in (error["description"] or ""), (path, error)


async def test_an_unknown_resource_is_404_in_the_error_format(client: TestClient) -> None:
    errors = await get_json(client, f"{V2}/request.json", expect=404)
    assert errors == [{"code": 404, "description": f"{V2}/request.json was not found"}]
    for path in (f"{V2}/services", f"{V2}/requests/KM-20261123-0001", "/open311/v3/services.xml"):
        assert xml_errors(await get_xml(client, path, expect=404))[0]["code"] == "404"


async def test_a_method_a_resource_does_not_take_is_400(client: TestClient) -> None:
    response = await client.delete(f"{V2}/requests.json")
    assert response.status == 400 and response.content_type == "application/json"
    assert await response.json() == [{"code": 400, "description": "DELETE is not taken here; use GET or POST"}]
    response = await client.post(f"{V2}/services.xml", data={"api_key": API_KEY})
    assert response.status == 400 and response.content_type == "text/xml"
    assert xml_errors(await response.text()) == [{"code": "400", "description": "POST is not taken here; use GET"}]


async def test_reading_needs_no_api_key_and_ignores_a_wrong_one(client: TestClient) -> None:
    assert await get_json(client, f"{V2}/services.json", api_key="wrong-key")
    assert await get_json(client, f"{V2}/requests.json", api_key="wrong-key") == []


async def test_tokens_are_never_issued_so_every_token_is_404(client: TestClient, runtime: Runtime) -> None:
    accepted = await submit_ticket(runtime, resident_says())
    errors = await get_json(client, f"{V2}/tokens/12345.json", expect=404)
    assert errors[0]["code"] == 404 and "token '12345' was not found" in errors[0]["description"]
    [error] = xml_errors(await get_xml(client, f"{V2}/tokens/{accepted.number}.xml", expect=404))
    assert error["code"] == "404" and "token" in (error["description"] or "")


async def test_a_failure_on_our_side_is_the_specs_general_service_error(client: TestClient, runtime: Runtime) -> None:
    async with runtime.db.engine.begin() as connection:
        await connection.exec_driver_sql("ALTER TABLE tickets RENAME TO tickets_elsewhere")
    errors = await get_json(client, f"{V2}/requests.json", expect=400)
    assert errors[0]["code"] == 400 and "general service error" in errors[0]["description"]
    [error] = xml_errors(await get_xml(client, f"{V2}/requests.xml", expect=400))
    assert error["code"] == "400" and "general service error" in (error["description"] or "")
    response = await post_request(client)
    assert response.status == 400 and "general service error" in (await response.json())[0]["description"]


async def test_another_jurisdiction_is_404_and_ours_is_accepted(client: TestClient, runtime: Runtime) -> None:
    ours = runtime.settings.open311.jurisdiction_id
    assert await get_json(client, f"{V2}/services.json", jurisdiction_id=ours)
    errors = await get_json(client, f"{V2}/services.json", expect=404, jurisdiction_id="elsewhere.gov")
    assert errors == [{"code": 404, "description": "jurisdiction_id 'elsewhere.gov' was not found"}]
    body = await get_xml(client, f"{V2}/requests.xml", expect=404, jurisdiction_id="elsewhere.gov")
    assert xml_errors(body)[0]["code"] == "404"
    # We serve one jurisdiction, so it is optional, and sent empty it counts as not sent.
    sent_empty = await get_json(client, f"{V2}/services.json", jurisdiction_id="")
    assert sent_empty == await get_json(client, f"{V2}/services.json")


async def test_the_discovery_document_points_at_the_v2_endpoint(client: TestClient) -> None:
    document = await get_json(client, "/open311/discovery.json")
    assert set(document) == {"changeset", "contact", "key_service", "endpoints"}
    assert document["key_service"] and "api_key" in document["key_service"]
    [endpoint] = document["endpoints"]
    assert set(endpoint) == {"specification", "url", "changeset", "type", "formats"}
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["type"] == "production"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    tree = ET.fromstring(await get_xml(client, "/open311/discovery.xml"))
    assert tree.tag == "discovery"
    assert [child.tag for child in tree] == ["changeset", "contact", "key_service", "endpoints"]
    endpoints = tree.find("endpoints")
    assert endpoints is not None and [child.tag for child in endpoints] == ["endpoint"]
    assert tree.findtext("endpoints/endpoint/specification") == "http://wiki.open311.org/GeoReport_v2"
    assert [f.text for f in tree.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


# --- POST Service Request ------------------------------------------------------------------------------


async def test_a_posted_request_becomes_a_ticket_through_the_hotline(client: TestClient, runtime: Runtime) -> None:
    response = await post_request(
        client, first_name="李", last_name="四", phone="13800000000", address_string="盘龙区北京路 1 号"
    )
    assert response.status == 200, await response.text()
    [created] = await response.json()
    # A realtime service answers with the id at once, never with a token as well.
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert created["account_id"] is None
    assert re.fullmatch(r"KM-20261123-\d{4}", created["service_request_id"])
    assert "2026" in created["service_notice"]
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(created["service_request_id"])
        assert ticket is not None
        assert ticket.source == "open311"
        assert ticket.kind == "complaint"
        assert ticket.department_code == "petition"
        assert ticket.contact_mode == "real_name"
        assert (ticket.contact_name, ticket.contact_phone) == ("李 四", "13800000000")
        assert "盘龙区北京路 1 号" in ticket.text and "25.040000, 102.710000" in ticket.text


async def test_a_posted_request_answers_in_xml_too(client: TestClient) -> None:
    response = await post_request(client, "xml", service_code="question", description="护照办理需要多久？")
    assert response.status == 200
    [created] = xml_records(await response.text(), "service_requests", "request")
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert created["service_request_id"].startswith("KM-")  # type: ignore[union-attr]
    assert created["service_notice"] and created["account_id"] is None


async def test_a_request_without_a_name_or_phone_is_anonymous(client: TestClient, runtime: Runtime) -> None:
    [created] = await (await post_request(client)).json()
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(created["service_request_id"])
    assert ticket is not None
    assert (ticket.contact_mode, ticket.contact_name, ticket.contact_phone) == ("anonymous", None, None)


@pytest.mark.parametrize("api_key", [None, "", "wrong-key"])
async def test_posting_without_a_valid_api_key_is_403_and_stores_nothing(
    client: TestClient, runtime: Runtime, api_key: str | None
) -> None:
    response = await post_request(client, api_key=api_key)  # type: ignore[arg-type]
    assert response.status == 403
    [error] = await response.json()
    assert error["code"] == 403 and "api_key" in error["description"]
    async with runtime.db.unit_of_work() as uow:
        assert await uow.tickets.count() == 0


async def test_a_bad_api_key_is_403_in_xml_as_well(client: TestClient) -> None:
    assert await post_error(client, 403, api_key="wrong-key") == "api_key is invalid"
    assert await post_error(client, 403, api_key=None) == "api_key was not provided"


async def test_without_configured_keys_nobody_may_post(tmp_path: Path, clock: FakeClock) -> None:
    from bot.assembly import build_runtime, prepare_storage

    rt = build_runtime(make_settings(tmp_path), clock)
    assert rt.settings.open311.api_keys == []
    await prepare_storage(rt)
    try:
        async with TestClient(TestServer(build_web_app(rt))) as client:
            assert (await post_request(client)).status == 403
    finally:
        await rt.db.dispose()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"service_code": None}, "service_code was not provided"),
        ({"service_code": ""}, "service_code was not provided"),
        ({"lat": None, "long": None}, "a location is required"),
        ({"lat": "", "long": "", "address_string": "", "address_id": ""}, "a location is required"),
        ({"long": None}, "lat and long must be sent together"),
        ({"lat": "north", "long": "102.7"}, "decimal degrees"),
        ({"lat": "95", "long": "102.7"}, "±90"),
        ({"description": "长" * 3000}, "description is too long"),
    ],
)
async def test_a_post_with_missing_or_invalid_fields_is_400_in_json_and_xml(
    client: TestClient, runtime: Runtime, fields: dict[str, str | None], words: str
) -> None:
    assert words in await post_error(client, 400, **fields)
    async with runtime.db.unit_of_work() as uow:
        assert await uow.tickets.count() == 0


async def test_a_post_for_an_unknown_service_is_404_and_stores_nothing(client: TestClient, runtime: Runtime) -> None:
    assert await post_error(client, 404, service_code="potholes") == "service_code 'potholes' was not found"
    async with runtime.db.unit_of_work() as uow:
        assert await uow.tickets.count() == 0


async def test_a_post_for_another_jurisdiction_is_404_and_stores_nothing(client: TestClient, runtime: Runtime) -> None:
    description = await post_error(client, 404, jurisdiction_id="elsewhere.gov")
    assert description == "jurisdiction_id 'elsewhere.gov' was not found"
    response = await client.post(f"{V2}/requests.json?jurisdiction_id=elsewhere.gov", data={"api_key": API_KEY})
    assert response.status == 404
    async with runtime.db.unit_of_work() as uow:
        assert await uow.tickets.count() == 0


async def test_a_post_with_only_the_required_arguments_is_accepted(client: TestClient, runtime: Runtime) -> None:
    """The description is optional in the spec; an empty one counts as none and is listed as null."""
    for fields in ({"description": None}, {"description": "", "email": "", "first_name": "", "jurisdiction_id": ""}):
        response = await post_request(client, **fields)
        assert response.status == 200, await response.text()
        [created] = await response.json()
        [record] = await get_json(client, f"{V2}/requests/{created['service_request_id']}.json")
        assert_spec_request(record)
        assert record["description"] is None
        [in_xml] = xml_records(
            await get_xml(client, f"{V2}/requests/{created['service_request_id']}.xml"), "service_requests", "request"
        )
        assert in_xml["description"] is None
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(created["service_request_id"])
    assert ticket is not None and ticket.text == "地点 (location): 25.040000, 102.710000"


async def test_a_description_may_fill_the_ticket_text_less_the_location(client: TestClient, runtime: Runtime) -> None:
    limit = runtime.settings.tickets.max_text_chars
    location = "西山区滇池路 2 号"
    words = await post_error(client, 400, lat=None, long=None, address_string=location, description="长" * (limit + 1))
    room = int(re.search(r"at most (\d+) characters", words).group(1))  # type: ignore[union-attr]
    assert room == limit - len(f"\n\n地点 (location): {location}")
    response = await post_request(client, lat=None, long=None, address_string=location, description="长" * room)
    assert response.status == 200, await response.text()


async def test_an_address_or_an_address_id_alone_is_enough_location(client: TestClient) -> None:
    response = await post_request(client, lat=None, long=None, address_string="西山区滇池路 2 号")
    assert response.status == 200
    response = await post_request(client, lat=None, long=None, address_id="530112-000123")
    assert response.status == 200


async def test_a_posted_location_and_media_reach_the_officers_but_are_never_shown(
    client: TestClient, runtime: Runtime
) -> None:
    media = "https://example.org/photos/1.jpg"
    response = await post_request(client, address_string="盘龙区北京路 1 号", media_url=media, email="li@example.com")
    [created] = await response.json()
    number = created["service_request_id"]
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(number)
    assert ticket is not None
    location = "地点 (location): 盘龙区北京路 1 号 (25.040000, 102.710000)"
    assert ticket.text == f"{PETITION_TEXT}\n\n{location}\n附件 (media): {media}"
    assert "li@example.com" not in ticket.text  # an email has no place in a ticket and is not kept
    [record] = await get_json(client, f"{V2}/requests/{number}.json")
    assert record["description"] == PETITION_TEXT
    assert (record["address"], record["lat"], record["long"], record["media_url"]) == (None, None, None, None)
    [in_xml] = xml_records(await get_xml(client, f"{V2}/requests/{number}.xml"), "service_requests", "request")
    assert in_xml["description"] == PETITION_TEXT
    bodies = [await (await client.get(f"{V2}/requests.{fmt}")).text() for fmt in ("json", "xml")]
    for body in bodies + [json.dumps(record, ensure_ascii=False)]:
        for secret in ("北京路", "25.04", "102.71", media):
            assert secret not in body


# --- GET Service Requests ------------------------------------------------------------------------------


async def test_listed_requests_have_every_spec_field_with_the_right_type(client: TestClient, runtime: Runtime) -> None:
    await submit_ticket(runtime, resident_says())
    [created] = await (await post_request(client, service_code="suggestion", description="建议延长户籍窗口周末开放时间")).json()
    records = await get_json(client, f"{V2}/requests.json")
    assert len(records) == 2
    for record in records:
        assert_spec_request(record)
    assert records[0]["service_request_id"] == created["service_request_id"]  # newest first
    assert records[0]["service_code"] == "suggestion"


async def test_listed_requests_in_xml_have_every_spec_element(client: TestClient, runtime: Runtime) -> None:
    await submit_ticket(runtime, resident_says())
    [record] = xml_records(await get_xml(client, f"{V2}/requests.xml"), "service_requests", "request")
    assert set(record) == set(REQUEST_FIELDS)
    assert record["status"] == "open"
    for field in DATETIME_FIELDS:
        assert record[field] and W3C.match(record[field]), (field, record[field])
    for field in ("lat", "long", "media_url", "address", "status_notes"):
        assert record[field] is None


async def test_an_open_ticket_maps_onto_the_spec_fields(client: TestClient, runtime: Runtime, clock: FakeClock) -> None:
    accepted = await submit_ticket(runtime, resident_says())
    [record] = await get_json(client, f"{V2}/requests/{accepted.number}.json")
    assert record["service_request_id"] == accepted.number
    assert record["status"] == "open"
    assert record["status_notes"] is None
    assert (record["service_code"], record["service_name"]) == ("complaint", "投诉")
    assert record["description"] == PETITION_TEXT
    assert record["agency_responsible"] == runtime.settings.departments["petition"].name
    assert record["requested_datetime"] == "2026-11-23T10:00:00+08:00"
    assert datetime.fromisoformat(record["expected_datetime"]) == accepted.deadline_at
    assert record["updated_datetime"] == record["requested_datetime"]


async def test_a_closed_ticket_is_closed_with_the_officers_result(
    client: TestClient, runtime: Runtime, clock: FakeClock
) -> None:
    officer = await officer_of(runtime, "petition", 501)
    accepted = await submit_ticket(runtime, resident_says())
    ticket_id = await ticket_id_of(runtime, accepted.number)
    await sign_for(runtime, ticket_id, officer)
    clock.advance(hours=3)
    await close_ticket(runtime, ticket_id, officer, "已立案侦查，回执已补发。")
    [record] = await get_json(client, f"{V2}/requests/{accepted.number}.json")
    assert_spec_request(record)
    assert record["status"] == "closed"
    assert record["status_notes"] == "已立案侦查，回执已补发。"
    assert datetime.fromisoformat(record["updated_datetime"]) == clock.now()
    assert record["updated_datetime"] == "2026-11-23T13:00:00+08:00"


async def test_a_closed_request_was_updated_when_it_was_closed_even_after_the_survey(
    client: TestClient, runtime: Runtime, clock: FakeClock
) -> None:
    officer = await officer_of(runtime, "petition", 501)
    accepted = await submit_ticket(runtime, resident_says())
    ticket_id = await ticket_id_of(runtime, accepted.number)
    await sign_for(runtime, ticket_id, officer)
    clock.advance(hours=3)
    await close_ticket(runtime, ticket_id, officer, "已立案侦查，回执已补发。")
    clock.advance(days=1)
    await answer_survey(runtime, ticket_id, RESIDENT_TELEGRAM_ID, SurveyAnswer.SATISFIED)
    [record] = await get_json(client, f"{V2}/requests/{accepted.number}.json")
    assert record["status"] == "closed"
    assert record["updated_datetime"] == "2026-11-23T13:00:00+08:00"
    [in_xml] = xml_records(await get_xml(client, f"{V2}/requests.xml"), "service_requests", "request")
    assert in_xml["updated_datetime"] == "2026-11-23T13:00:00+08:00"


async def test_a_void_ticket_is_closed_and_says_why(client: TestClient, runtime: Runtime) -> None:
    head = await officer_of(runtime, "petition", 502, role="head")
    accepted = await submit_ticket(runtime, resident_says())
    await void_ticket(runtime, await ticket_id_of(runtime, accepted.number), head, "重复提交")
    [record] = await get_json(client, f"{V2}/requests/{accepted.number}.json")
    assert record["status"] == "closed"
    assert record["status_notes"] == "无效工单 (void): 重复提交"


async def test_status_filters_open_and_closed(client: TestClient, runtime: Runtime) -> None:
    officer = await officer_of(runtime, "petition", 501)
    still_open = await submit_ticket(runtime, resident_says())
    closed = await submit_ticket(runtime, resident_says("派出所接警后两个小时才出警，请给个说法"))
    ticket_id = await ticket_id_of(runtime, closed.number)
    await sign_for(runtime, ticket_id, officer)
    await close_ticket(runtime, ticket_id, officer, "已核实并答复。")

    def numbers(records: list[dict[str, Any]]) -> set[str]:
        return {record["service_request_id"] for record in records}

    assert numbers(await get_json(client, f"{V2}/requests.json", status="open")) == {still_open.number}
    assert numbers(await get_json(client, f"{V2}/requests.json", status="closed")) == {closed.number}
    both = await get_json(client, f"{V2}/requests.json", status="open,closed")
    assert numbers(both) == {still_open.number, closed.number}
    errors = await get_json(client, f"{V2}/requests.json", expect=400, status="pending")
    assert errors[0]["code"] == 400


async def test_service_code_filters_by_kind_and_an_unknown_one_is_400(client: TestClient, runtime: Runtime) -> None:
    complaint = await submit_ticket(runtime, resident_says())
    question = await submit_ticket(runtime, resident_says("办理护照需要带什么材料？", kind="question"))
    [record] = await get_json(client, f"{V2}/requests.json", service_code="question")
    assert record["service_request_id"] == question.number
    both = await get_json(client, f"{V2}/requests.json", service_code="question,complaint")
    assert {r["service_request_id"] for r in both} == {complaint.number, question.number}
    errors = await get_json(client, f"{V2}/requests.json", expect=400, service_code="potholes")
    assert "potholes" in errors[0]["description"]


async def test_list_arguments_may_be_comma_delimited_or_repeated(client: TestClient, runtime: Runtime) -> None:
    complaint = await submit_ticket(runtime, resident_says())
    question = await submit_ticket(runtime, resident_says("办理护照需要带什么材料？", kind="question"))
    both = {complaint.number, question.number}
    assert set(await numbers_listed(client, [("service_code", "question"), ("service_code", "complaint")])) == both
    assert set(await numbers_listed(client, [("status", "open"), ("status", "closed")])) == both
    ids = [("service_request_id", complaint.number), ("service_request_id", question.number)]
    assert set(await numbers_listed(client, ids)) == both


async def test_optional_arguments_sent_empty_count_as_not_sent(client: TestClient, runtime: Runtime) -> None:
    accepted = await submit_ticket(runtime, resident_says())
    optional = ("jurisdiction_id", "service_request_id", "service_code", "start_date", "end_date", "status")
    empty = {name: "" for name in optional}
    assert await numbers_listed(client, empty) == await numbers_listed(client) == [accepted.number]


async def test_service_request_ids_are_comma_separated_and_override_other_filters(
    client: TestClient, runtime: Runtime
) -> None:
    first = await submit_ticket(runtime, resident_says())
    second = await submit_ticket(runtime, resident_says("建议派出所增加夜间值班窗口", kind="suggestion"))
    records = await get_json(
        client, f"{V2}/requests.json", service_request_id=f"{first.number}, {second.number},KM-19990101-0001",
        status="closed",
    )
    assert {r["service_request_id"] for r in records} == {first.number, second.number}


async def test_the_default_window_is_the_last_90_days(client: TestClient, runtime: Runtime, clock: FakeClock) -> None:
    old = await submit_ticket(runtime, resident_says())
    clock.advance(days=91)
    recent = await submit_ticket(runtime, resident_says())
    records = await get_json(client, f"{V2}/requests.json")
    assert [r["service_request_id"] for r in records] == [recent.number]
    # Asked by id, an old request is still found.
    [record] = await get_json(client, f"{V2}/requests/{old.number}.json")
    assert record["service_request_id"] == old.number


async def test_start_and_end_date_select_by_requested_datetime(
    client: TestClient, runtime: Runtime, clock: FakeClock
) -> None:
    monday = await submit_ticket(runtime, resident_says())
    clock.advance(days=2)
    wednesday = await submit_ticket(runtime, resident_says())
    only_monday = await get_json(
        client, f"{V2}/requests.json", start_date="2026-11-23T00:00:00+08:00", end_date="2026-11-24T00:00:00+08:00"
    )
    assert [r["service_request_id"] for r in only_monday] == [monday.number]
    from_tuesday = await get_json(client, f"{V2}/requests.json", start_date="2026-11-24T00:00:00Z")
    assert [r["service_request_id"] for r in from_tuesday] == [wednesday.number]
    by_day = await get_json(client, f"{V2}/requests.json", start_date="2026-11-25", end_date="2026-11-26")
    assert [r["service_request_id"] for r in by_day] == [wednesday.number]
    until_tuesday = await numbers_listed(client, {"end_date": "2026-11-24T00:00:00+08:00"})  # the 90 days before
    assert until_tuesday == [monday.number]


async def test_every_precision_of_the_w3c_format_is_read(client: TestClient, runtime: Runtime) -> None:
    accepted = await submit_ticket(runtime, resident_says())  # 2026-11-23T10:00:00+08:00
    found = [accepted.number]
    assert await numbers_listed(client, {"start_date": "2026-11"}) == found  # from 1 November, local time
    assert await numbers_listed(client, {"end_date": "2026-12"}) == found
    assert await numbers_listed(client, {"end_date": "2026"}) == []  # 1 January 2026
    assert await numbers_listed(client, {"start_date": "2026-11-23T10:00+08:00"}) == found  # no seconds
    assert await numbers_listed(client, {"start_date": "2026-11-23T02:00:00.5Z"}) == []  # a fraction of a second
    assert await numbers_listed(client, {"start_date": "2026-11-23T01:59:59.5Z"}) == found


async def test_a_window_may_span_90_days_exactly(client: TestClient, runtime: Runtime) -> None:
    accepted = await submit_ticket(runtime, resident_says())
    window = {"start_date": "2026-08-25T10:00:00+08:00", "end_date": "2026-11-23T10:00:00+08:00"}
    assert await numbers_listed(client, window) == [accepted.number]


async def test_a_list_answers_at_most_1000_requests_newest_first(client: TestClient, runtime: Runtime) -> None:
    await submit_ticket(runtime, resident_says())
    async with runtime.db.unit_of_work() as uow:
        first = await uow.tickets.by_number("KM-20261123-0001")
        assert first is not None
        copied = first.model_dump(exclude={"id", "number", "received_at"})
        for minutes in range(1, 1001):  # 1000 older copies, each a minute before the last
            earlier = first.received_at - timedelta(minutes=minutes)
            uow.session.add(TicketRow(**copied, number=f"KM-20261123-{minutes + 1:04d}", received_at=earlier))
        await uow.commit()
    listed = await numbers_listed(client)
    assert len(listed) == 1000
    assert listed[0] == "KM-20261123-0001" and listed[-1] == "KM-20261123-1000"


async def test_an_offset_whose_plus_was_not_encoded_is_still_read(client: TestClient, runtime: Runtime) -> None:
    accepted = await submit_ticket(runtime, resident_says())
    response = await client.get(f"{V2}/requests.json?start_date=2026-11-23T09:00:00+08:00")  # "+" arrives as " "
    assert response.status == 200, await response.text()
    assert [r["service_request_id"] for r in await response.json()] == [accepted.number]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"start_date": "yesterday"}, "not a W3C datetime"),
        ({"start_date": "2026-11-23T10:00:00"}, "no time zone"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-11-23T00:00:00Z"}, "90 days"),
        ({"start_date": "2026-11-23T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}, "before start_date"),
        ({"start_date": "2026-13"}, "not a W3C datetime"),
        ({"status": "pending"}, "status must be open or closed"),
        ({"service_code": "potholes"}, "service_code not found: potholes"),
    ],
)
async def test_bad_arguments_are_400_in_json_and_xml(client: TestClient, params: dict[str, str], words: str) -> None:
    errors = await get_json(client, f"{V2}/requests.json", expect=400, **params)
    assert errors[0]["code"] == 400 and words in errors[0]["description"]
    assert xml_errors(await get_xml(client, f"{V2}/requests.xml", expect=400, **params)) == [
        {"code": "400", "description": errors[0]["description"]}
    ]


async def test_an_unknown_request_is_404_in_json_and_xml(client: TestClient) -> None:
    errors = await get_json(client, f"{V2}/requests/KM-19990101-0001.json", expect=404)
    assert errors == [{"code": 404, "description": "service_request_id 'KM-19990101-0001' was not found"}]
    body = await get_xml(client, f"{V2}/requests/KM-19990101-0001.xml", expect=404)
    assert xml_records(body, "errors", "error")[0]["code"] == "404"


async def test_characters_xml_cannot_carry_are_left_out_of_xml_only(client: TestClient, runtime: Runtime) -> None:
    accepted = await submit_ticket(runtime, resident_says("派出所门口的喇叭\x07一直响"))
    [in_xml] = xml_records(await get_xml(client, f"{V2}/requests/{accepted.number}.xml"), "service_requests", "request")
    assert in_xml["description"] == "派出所门口的喇叭一直响"
    [record] = await get_json(client, f"{V2}/requests/{accepted.number}.json")
    assert record["description"] == "派出所门口的喇叭\x07一直响"


async def test_a_single_request_in_xml_is_a_list_of_one(client: TestClient, runtime: Runtime) -> None:
    accepted = await submit_ticket(runtime, resident_says())
    [record] = xml_records(await get_xml(client, f"{V2}/requests/{accepted.number}.xml"), "service_requests", "request")
    assert record["service_request_id"] == accepted.number
    assert record["agency_responsible"] == runtime.settings.departments["petition"].name


# --- privacy -------------------------------------------------------------------------------------------


async def test_no_personal_data_leaves_through_any_read(client: TestClient, runtime: Runtime) -> None:
    accepted = await submit_ticket(runtime, resident_says())
    await post_request(client, first_name="李", last_name="四", phone="13800000000", email="li@example.com")
    bodies = [
        await (await client.get(f"{V2}/requests.{fmt}")).text() for fmt in ("json", "xml")
    ] + [await (await client.get(f"{V2}/requests/{accepted.number}.{fmt}")).text() for fmt in ("json", "xml")]
    for body in bodies:
        for secret in (RESIDENT_NAME, RESIDENT_PHONE, str(RESIDENT_TELEGRAM_ID), "13800000000", "li@example.com", "李 四"):
            assert secret not in body
        assert "resident" not in body and "contact" not in body


async def test_discipline_tickets_are_never_shown(client: TestClient, runtime: Runtime) -> None:
    visible = await submit_ticket(runtime, resident_says())
    hidden = await submit_ticket(runtime, resident_says(DISCIPLINE_TEXT))
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(hidden.number)
    assert ticket is not None and ticket.category == "discipline"
    listed = await get_json(client, f"{V2}/requests.json")
    assert [r["service_request_id"] for r in listed] == [visible.number]
    assert DISCIPLINE_TEXT not in await get_xml(client, f"{V2}/requests.xml")
    await get_json(client, f"{V2}/requests/{hidden.number}.json", expect=404)
    await get_xml(client, f"{V2}/requests/{hidden.number}.xml", expect=404)
    by_ids = await get_json(client, f"{V2}/requests.json", service_request_id=f"{hidden.number},{visible.number}")
    assert [r["service_request_id"] for r in by_ids] == [visible.number]


async def test_a_ticket_rerouted_to_discipline_disappears_too(client: TestClient, runtime: Runtime) -> None:
    accepted = await submit_ticket(runtime, resident_says())
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
        assert ticket is not None
        await uow.tickets.move(ticket.id or 0, ticket.state, department_code="discipline")
        await uow.commit()
    await get_json(client, f"{V2}/requests/{accepted.number}.json", expect=404)
    assert await get_json(client, f"{V2}/requests.json") == []


# --- settings and command line ---------------------------------------------------------------------------


def test_api_keys_come_from_the_environment_and_never_show(settings: Settings) -> None:
    assert [key.get_secret_value() for key in settings.open311.api_keys] == [API_KEY]
    assert API_KEY not in repr(settings) and API_KEY not in str(settings.open311)


def test_two_services_for_one_kind_are_refused(tmp_path: Path) -> None:
    from bot.settings import ConfigError

    with pytest.raises(ConfigError, match="doubled"):
        make_settings(tmp_path, OPENDOOR_OPEN311__SERVICES__GRIPE='{"name": "抱怨", "kind": "complaint"}')


def test_a_service_for_an_unknown_ticket_kind_is_refused(tmp_path: Path) -> None:
    from bot.settings import ConfigError

    with pytest.raises(ConfigError, match="unknown ticket kind 'pothole'"):
        make_settings(tmp_path, OPENDOOR_OPEN311__SERVICES__COMPLAINT='{"name": "投诉", "kind": "pothole"}')


def test_the_web_command_takes_a_host_and_a_port() -> None:
    args = _parser().parse_args(["web", "--host", "0.0.0.0", "--port", "9311"])
    assert (args.command, args.host, args.port) == ("web", "0.0.0.0", 9311)
    defaults = _parser().parse_args(["web"])
    assert (defaults.host, defaults.port) == ("127.0.0.1", 8080)


async def test_the_web_command_serves_open311_from_the_configured_database(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = database_url(tmp_path, "web", migrated=False)
    environ = {**os.environ, "OPENDOOR_DATABASE__URL": url}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "web", "--port", str(port),
        env=environ, cwd=REPO_ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as session:
            # Start-up (imports, migrations) is slow on a busy machine; allow it a minute.
            for _ in range(600):
                try:
                    async with session.get(f"http://127.0.0.1:{port}{V2}/services.json") as response:
                        services = await response.json()
                        break
                except aiohttp.ClientConnectionError:
                    assert server.returncode is None, await server.stderr.read()  # type: ignore[union-attr]
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the web command did not start listening within a minute")
        assert [service["service_code"] for service in services][0] == "complaint"
        assert "tickets" in await table_names(url)  # prepared (migrated) before serving
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), timeout=10)
    assert server.returncode == 0


async def table_names(url: str) -> list[str]:
    db = Database(url)
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    await db.dispose()
    return names
