"""The supervisors' dashboard over HTTP: sign-in and its defences, scope, filters, detail, ledger, CLI."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook

from bot.cli import main
from bot.settings import Settings
from domain.clock import FakeClock
from services.ledger import HEADERS
from services.runtime import Runtime
from tests.conftest import make_settings
from tests.dashboard_seed import (
    ANONYMOUS_NUMBER,
    CLOSED_NUMBER,
    CLOSING_RESULT,
    DISCIPLINE_NUMBER,
    HOSTILE_NUMBER,
    OVERDUE_NUMBER,
    PASSWORD,
    PETITION_OFFICER,
    RESIDENT_PHONE,
    RESIDENT_TELEGRAM_ID,
    ROUTINE,
    seed_dashboard,
)
from web.app import build_web_app

PAGE_SIZE = 10
TICKETS = ROUTINE + 5


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # aiohttp's test cookie jar only sends Secure cookies over HTTPS; one test checks the default separately.
    return make_settings(tmp_path, OPENDOOR_WEB__SECURE_COOKIES="false", OPENDOOR_WEB__PAGE_SIZE=str(PAGE_SIZE))


@pytest.fixture
async def seeded(runtime: Runtime) -> Runtime:
    await seed_dashboard(runtime)
    return runtime


@pytest.fixture
async def client(seeded: Runtime) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_web_app(seeded))) as client:
        yield client


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def sign_in(client: TestClient, username: str, password: str = PASSWORD, next_: str = "/dashboard/") -> str:
    """Signs in as a browser would (login page first, for its CSRF token); returns the page landed on."""
    form = await client.get("/dashboard/login")
    response = await client.post(
        "/dashboard/login",
        data={"csrf_token": csrf_in(await form.text()), "username": username, "password": password, "next": next_},
    )
    return await response.text()


async def page(client: TestClient, path: str, status: int = 200) -> str:
    response = await client.get(path)
    assert response.status == status, (path, response.status)
    return await response.text()


def numbers_in(html: str) -> set[str]:
    return set(re.findall(r'class="ticket-link">([^<]+)<', html))


async def test_every_page_sends_a_stranger_to_the_sign_in_page(client: TestClient) -> None:
    for path in ("/dashboard/", "/dashboard/tickets?state=open", f"/dashboard/tickets/{CLOSED_NUMBER}", "/dashboard/ledger/download"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"].startswith("/dashboard/login?next=")
    assert (await client.get("/", allow_redirects=False)).headers["Location"] == "/dashboard/"


async def test_signing_in_lands_on_the_overview_with_a_hardened_cookie(tmp_path: Path, clock: FakeClock) -> None:
    from bot.assembly import build_runtime, prepare_storage

    rt = build_runtime(make_settings(tmp_path), clock)  # the shipped default: Secure cookies
    await prepare_storage(rt)
    await seed_dashboard(rt)
    try:
        async with TestClient(TestServer(build_web_app(rt))) as client:
            form = await client.get("/dashboard/login")
            assert "Content-Security-Policy" in form.headers and form.headers["X-Frame-Options"] == "DENY"
            token = csrf_in(await form.text())
            response = await client.post(
                "/dashboard/login", allow_redirects=False, headers={"Cookie": f"opendoor_login_csrf={token}"},
                data={"csrf_token": token, "username": "boss", "password": PASSWORD, "next": "/dashboard/"},
            )
            assert response.status == 302 and response.headers["Location"] == "/dashboard/"
            cookie = next(c for c in response.headers.getall("Set-Cookie") if c.startswith("opendoor_session="))
            for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/dashboard"):
                assert flag in cookie, cookie
    finally:
        await rt.db.dispose()


async def test_a_login_form_without_its_csrf_token_is_refused(client: TestClient) -> None:
    await client.get("/dashboard/login")
    response = await client.post("/dashboard/login", data={"username": "boss", "password": PASSWORD})
    assert response.status == 400
    assert "页面已过期" in await response.text()
    assert (await client.get("/dashboard/", allow_redirects=False)).status == 302


async def test_wrong_passwords_lock_the_account_for_a_while(client: TestClient, seeded: Runtime, clock: FakeClock) -> None:
    assert "用户名或密码不正确" in await sign_in(client, "nobody")  # an unknown name reads the same
    for _ in range(seeded.settings.web.max_failed_logins - 1):
        assert "用户名或密码不正确" in await sign_in(client, "boss", "wrong-password-1")
    assert "已暂时锁定" in await sign_in(client, "boss", "wrong-password-1")
    assert "已暂时锁定" in await sign_in(client, "boss")  # even the right password, while locked
    clock.advance(timedelta(minutes=seeded.settings.web.lockout_minutes, seconds=1))
    assert "工作概览" in await sign_in(client, "boss")


async def test_signing_out_needs_the_session_token_and_ends_the_session(client: TestClient) -> None:
    overview = await sign_in(client, "boss")
    session = client.session.cookie_jar.filter_cookies(client.make_url("/dashboard/"))["opendoor_session"].value
    forged = await client.post("/dashboard/logout", data={"csrf_token": "guessed"})
    assert forged.status == 403
    assert "工作概览" in await page(client, "/dashboard/")
    await client.post("/dashboard/logout", data={"csrf_token": csrf_in(overview)})
    assert "督办平台登录" in await page(client, "/dashboard/")
    client.session.cookie_jar.update_cookies({"opendoor_session": session})  # a copied cookie is dead too
    assert (await client.get("/dashboard/", allow_redirects=False)).status == 302


async def test_a_session_ends_after_the_configured_hours(client: TestClient, seeded: Runtime, clock: FakeClock) -> None:
    await sign_in(client, "boss")
    clock.advance(timedelta(hours=seeded.settings.web.session_hours, minutes=1))
    assert (await client.get("/dashboard/", allow_redirects=False)).status == 302


async def test_sign_in_never_redirects_to_another_site(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        client.session.cookie_jar.clear()
        form = await client.get("/dashboard/login")
        response = await client.post(
            "/dashboard/login", allow_redirects=False,
            data={"csrf_token": csrf_in(await form.text()), "username": "boss", "password": PASSWORD, "next": target},
        )
        assert response.headers["Location"] == "/dashboard/"


async def test_the_overview_shows_the_months_figures_the_overdue_list_and_a_chart(client: TestClient) -> None:
    html = await sign_in(client, "boss")
    assert re.search(r'id="received">\s*' + str(TICKETS) + "<", html)
    assert re.search(r'id="overdue-count">1<', html)
    overdue_section = html.split("超期工单")[1]
    assert numbers_in(overdue_section) == {OVERDUE_NUMBER}
    assert "业务部门（治安" in html and "法制、控申部门" in html  # the departments table
    chart = await client.get("/dashboard/trend.png")
    assert chart.content_type == "image/png" and (await chart.read()).startswith(b"\x89PNG")


async def test_tickets_filter_by_state_department_category_period_and_text(client: TestClient) -> None:
    await sign_in(client, "boss")
    assert numbers_in(await page(client, "/dashboard/tickets?state=overdue")) == {OVERDUE_NUMBER}
    assert numbers_in(await page(client, "/dashboard/tickets?q=身份证")) == {ANONYMOUS_NUMBER}
    assert numbers_in(await page(client, f"/dashboard/tickets?q={CLOSED_NUMBER[-8:]}")) == {CLOSED_NUMBER}
    assert numbers_in(await page(client, f"/dashboard/tickets?q={CLOSED_NUMBER[:11].lower()}")) == {CLOSED_NUMBER}  # a typed prefix
    assert numbers_in(await page(client, "/dashboard/tickets?department=petition")) == {CLOSED_NUMBER}
    assert numbers_in(await page(client, "/dashboard/tickets?category=discipline")) == {DISCIPLINE_NUMBER}
    assert numbers_in(await page(client, "/dashboard/tickets?state=closed&department=petition")) == {CLOSED_NUMBER}
    assert "共 0 件" in await page(client, "/dashboard/tickets?period=2026-10")
    assert "共 0 件" in await page(client, "/dashboard/tickets?q=100%25")  # a literal %, not a wildcard


async def test_filters_it_does_not_understand_are_named_and_ignored(client: TestClient) -> None:
    await sign_in(client, "boss")
    html = await page(client, "/dashboard/tickets?state=bogus&department=nowhere&period=2026-13&page=x")
    assert "无法识别" in html
    for label in ("状态", "承办部门", "时段", "页码"):
        assert label in html.split('id="problem"')[1].split("</p>")[0]
    assert f"共 {TICKETS} 件" in html


async def test_the_list_pages_through_every_ticket(client: TestClient) -> None:
    await sign_in(client, "boss")
    seen: set[str] = set()
    pages = -(-TICKETS // PAGE_SIZE)
    for number in range(1, pages + 1):
        html = await page(client, f"/dashboard/tickets?page={number}")
        assert f"第 {number} / {pages} 页" in html
        seen |= numbers_in(html)
    assert len(seen) == TICKETS
    assert f"第 {pages} / {pages} 页" in await page(client, "/dashboard/tickets?page=999")


async def test_a_ticket_shows_its_whole_history_and_never_the_residents_identity(client: TestClient) -> None:
    await sign_in(client, "boss")
    html = await page(client, f"/dashboard/tickets/{CLOSED_NUMBER}")
    timeline = html.split('id="timeline"')[1]
    assert [action for action in ("受理", "签收", "办结") if action in timeline] == ["受理", "签收", "办结"]
    assert CLOSING_RESULT in html and PETITION_OFFICER in html and "有案不立" in html
    assert RESIDENT_PHONE not in html and str(RESIDENT_TELEGRAM_ID) not in html and "王秀英" not in html
    assert "匿名" in await page(client, f"/dashboard/tickets/{ANONYMOUS_NUMBER}")


async def test_text_from_residents_is_shown_as_text_never_run_as_html(client: TestClient) -> None:
    await sign_in(client, "boss")
    for path in ("/dashboard/tickets", f"/dashboard/tickets/{HOSTILE_NUMBER}"):
        html = await page(client, path)
        assert "<script>" not in html and "&lt;script&gt;" in html


async def test_a_head_sees_their_department_only_and_never_a_report_about_it(client: TestClient) -> None:
    await sign_in(client, "bizhead")
    listed = numbers_in(await page(client, f"/dashboard/tickets?q=KM-2026112"))
    assert ANONYMOUS_NUMBER in listed and CLOSED_NUMBER not in listed and DISCIPLINE_NUMBER not in listed
    refused = await page(client, f"/dashboard/tickets/{DISCIPLINE_NUMBER}", status=404)
    missing = await page(client, "/dashboard/tickets/KM-20990101-0001", status=404)
    assert refused.replace(DISCIPLINE_NUMBER, "N") == missing.replace("KM-20990101-0001", "N")
    await page(client, f"/dashboard/tickets/{CLOSED_NUMBER}", status=404)
    assert "排名" in await page(client, "/dashboard/ranking")


async def test_an_officer_works_tickets_but_sees_no_figures_ranking_or_ledger(client: TestClient) -> None:
    overview = await sign_in(client, "cop")
    assert 'id="received"' not in overview and 'id="overdue-count">1<' in overview
    assert "单位排名" not in overview  # not offered in the menu either
    for path in ("/dashboard/ranking", "/dashboard/appraisals", "/dashboard/ledger", "/dashboard/ledger/download"):
        assert "仅供督办" in await page(client, path, status=403)
    assert numbers_in(await page(client, "/dashboard/tickets?state=overdue")) == {OVERDUE_NUMBER}


async def test_the_ledger_downloads_as_a_spreadsheet_of_the_viewers_tickets(client: TestClient) -> None:
    await sign_in(client, "bizhead")
    response = await client.get("/dashboard/ledger/download?period=2026-11&format=xlsx")
    assert response.status == 200
    assert "filename*=UTF-8''%E5%8F%B0%E8%B4%A6-2026-11.xlsx" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(await response.read())).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(HEADERS)
    numbers = {row[0] for row in rows[1:]}
    assert len(numbers) == ROUTINE + 3 and DISCIPLINE_NUMBER not in numbers and CLOSED_NUMBER not in numbers
    csv = await client.get("/dashboard/ledger/download?period=2026-11&format=csv")
    assert csv.content_type == "text/csv" and HEADERS[0] in (await csv.read()).decode("utf-8-sig")


async def test_rankings_and_appraisals_pages(client: TestClient) -> None:
    await sign_in(client, "boss")
    ranking = await page(client, "/dashboard/ranking?period=2026-11")
    assert "绩效考评排名 2026-11" in ranking and "按期办结率 40%" in ranking
    appraisals = await page(client, "/dashboard/appraisals?period=2026-11")
    assert "共 2 条评议" in appraisals and "窗口人太少" in appraisals and "盘龙派出所" in appraisals
    assert "共 1 条评议" in await page(client, "/dashboard/appraisals?period=2026-11&unit=xishan_station")


async def test_pages_come_in_english_when_chosen(client: TestClient) -> None:
    await sign_in(client, "boss")
    await client.get("/dashboard/lang/en?next=/dashboard/tickets")
    html = await page(client, "/dashboard/tickets")
    assert "Tickets" in html and f"{TICKETS} tickets" in html and "工单查询" not in html


def test_accounts_are_managed_from_the_command_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENDOOR_DATABASE__URL", settings.database.url)

    def cli(*argv: str, stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(["web-user", *argv])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    add = ("add", "chen", "--role", "supervisor", "--password-stdin")
    code, out = cli(*add, "--department", "leadership", stdin="short\n")
    assert code == 2 and "至少 10 个字符" in out
    code, out = cli(*add, "--department", "nowhere", stdin=PASSWORD + "\n")
    assert code == 2 and "部门必须是" in out
    code, out = cli(*add, "--department", "leadership", "--name", "督" * 61, stdin=PASSWORD + "\n")
    assert code == 2 and "不超过 60 个字符" in out
    assert cli(*add, "--department", "leadership", "--name", "陈督办", stdin=PASSWORD + "\n")[0] == 0
    code, out = cli(*add, "--department", "business", stdin=PASSWORD + "\n")
    assert code == 2 and "已存在" in out
    assert "chen\t陈督办\tsupervisor\tleadership\tactive" in cli("list")[1]
    assert cli("disable", "chen")[0] == 0
    assert "disabled" in cli("list")[1]
    code, out = cli("passwd", "ghost", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 2 and "没有用户 ghost" in out


async def test_a_disabled_account_is_signed_out_and_cannot_sign_in(client: TestClient, seeded: Runtime) -> None:
    from services.web_accounts import set_active

    await sign_in(client, "boss")
    await set_active(seeded, "boss", False)
    assert (await client.get("/dashboard/", allow_redirects=False)).status == 302
    assert "用户名或密码不正确" in await sign_in(client, "boss")
    await set_active(seeded, "boss", True)
    assert "工作概览" in await sign_in(client, "boss")


async def test_the_trend_counts_tickets_per_local_day_in_the_viewers_scope(seeded: Runtime) -> None:
    from datetime import date

    from services.dashboard import Dashboard
    from services.web_accounts import sign_in as open_session, viewer_of

    async def trend_of(username: str) -> dict[date, tuple[int, int]]:
        viewer = await viewer_of(seeded, (await open_session(seeded, username, PASSWORD)).token)  # type: ignore[union-attr]
        return {day.day: (day.received, day.closed) for day in await Dashboard(seeded, viewer, "zh").trend()}  # type: ignore[arg-type]

    everything = await trend_of("boss")
    assert len(everything) == 14 and max(everything) == date(2026, 11, 23)
    assert everything[date(2026, 11, 23)] == (0, 1)  # the petition ticket closed this morning
    assert everything[date(2026, 11, 22)] == (1, 0)  # the hostile text, received 10:00 local
    assert everything[date(2026, 11, 21)] == (1, 2)  # the discipline report; two routine ones closed
    assert (await trend_of("bizhead"))[date(2026, 11, 21)] == (0, 2)  # the report is never shown to the unit it names


async def test_figures_are_reused_for_the_configured_seconds_then_counted_afresh(
    client: TestClient, seeded: Runtime, clock: FakeClock
) -> None:
    from storage.models import TicketRow

    assert re.search(r'id="received">' + str(TICKETS) + "<", await sign_in(client, "boss"))
    async with seeded.db.unit_of_work() as uow:
        resident = await uow.residents.by_telegram_id(RESIDENT_TELEGRAM_ID)
        await uow.tickets.add(TicketRow(
            number="KM-20261123-0001", source="hotline", kind="complaint", text="新来的", resident_id=resident.id,
            category="business", confidence=0.9, state="dispatched", department_code="business",
            received_at=clock.now(), deadline_at=clock.now() + timedelta(days=5),
        ))
        await uow.commit()
    assert re.search(r'id="received">' + str(TICKETS) + "<", await page(client, "/dashboard/"))
    clock.advance(timedelta(seconds=seeded.settings.web.figures_cache_seconds + 1))
    assert re.search(r'id="received">' + str(TICKETS + 1) + "<", await page(client, "/dashboard/"))
