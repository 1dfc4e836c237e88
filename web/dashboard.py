"""The supervisors' dashboard under /dashboard: sign-in, overview, tickets, ranking, appraisals, ledger.

Every page is rendered on the server (Jinja2, autoescaped); charts are PNGs drawn on the server, so
nothing is fetched from the internet. A session cookie (HttpOnly, SameSite=Strict, Secure unless
configured off) names the sign-in; every form that changes something carries a CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from aiohttp import web

from domain.classifier import CATEGORIES
from domain.statistics import period_of
from domain.tickets import TicketState
from services.dashboard import STATE_GROUPS, Dashboard, FiguresCache, NotVisible, shown
from services.figures import department_name, percent, unit_name
from services.ledger import LedgerIncomplete, export_ledger
from services.runtime import Runtime
from services.web_accounts import SignedIn, Viewer, sign_in, sign_out, viewer_of
from web import RUNTIME

PREFIX = "/dashboard"
SESSION_COOKIE = "opendoor_session"
LOGIN_CSRF_COOKIE = "opendoor_login_csrf"
LANG_COOKIE = "opendoor_lang"
LOCALES = ("zh", "en")
FIGURES = web.AppKey("dashboard_figures", FiguresCache)
MONTHS_OFFERED = 12
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_HERE = Path(__file__).resolve().parent
_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PageHandler = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]


def _rt(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def _locale(request: web.Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "zh")
    return chosen if chosen in LOCALES else "zh"


def _texts(request: web.Request) -> Callable[..., str]:
    rt, locale = _rt(request), _locale(request)

    def t(key: str, **params: Any) -> str:
        return rt.texts.get(locale, key, **params)

    return t


def _render(request: web.Request, template: str, viewer: Viewer | None, *, status: int = 200, **values: Any) -> web.Response:
    rt, locale = _rt(request), _locale(request)
    tz = rt.hours.tz

    def local(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        return "—" if moment is None else moment.astimezone(tz).strftime(pattern)

    values.setdefault("page", None)
    html = _templates.get_template(template).render(
        t=_texts(request), viewer=viewer, locale=locale, path=request.path_qs, local=local, percent=percent, shown=shown,
        department_name=lambda code: department_name(rt, locale, code), unit_name=lambda code: unit_name(rt, locale, code),
        **values,
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.path.startswith(PREFIX):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def _signed_in(page: PageHandler, *, figures: bool = False) -> Handler:
    """Runs `page` for a signed-in viewer; others go to the sign-in page (or get 403 without the role)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        viewer = await viewer_of(_rt(request), request.cookies.get(SESSION_COOKIE))
        if viewer is None:
            if request.method != "GET":
                raise web.HTTPUnauthorized(text="not signed in")
            raise web.HTTPFound(f"{PREFIX}/login?" + urlencode({"next": request.path_qs}))
        if figures and not viewer.sees_figures:
            return _render(request, "refused.html", viewer, status=403)
        return await page(request, viewer)

    return handler


def _board(request: web.Request, viewer: Viewer) -> Dashboard:
    return Dashboard(_rt(request), viewer, _locale(request), request.app[FIGURES])


def _safe_next(target: str | None) -> str:
    """Only a path of ours: never an absolute URL or a //host that would send the user elsewhere."""
    if target and target.startswith(PREFIX) and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/"


async def login_page(request: web.Request) -> web.StreamResponse:
    if await viewer_of(_rt(request), request.cookies.get(SESSION_COOKIE)):
        raise web.HTTPFound(_safe_next(request.query.get("next")))
    return _login_form(request, problem=None, username="", next_=request.query.get("next"))


def _login_form(request: web.Request, *, problem: str | None, username: str, next_: str | None, status: int = 200) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = _render(
        request, "login.html", None, status=status, problem=problem, username=username, csrf_token=token,
        next=_safe_next(next_),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, path=PREFIX, httponly=True, samesite="Strict", secure=_rt(request).settings.web.secure_cookies
    )
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    rt = _rt(request)
    form = await request.post()
    username, password = str(form.get("username", ""))[:60], str(form.get("password", ""))[:200]
    next_ = str(form.get("next", ""))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, str(form.get("csrf_token", ""))):
        return _login_form(request, problem="web.form_expired", username=username, next_=next_, status=400)
    if not username or not password:
        return _login_form(request, problem="web.login_missing", username=username, next_=next_, status=400)
    outcome = await sign_in(rt, username, password)
    if not isinstance(outcome, SignedIn):
        return _login_form(request, problem=str(outcome), username=username, next_=next_, status=401)
    response = web.HTTPFound(_safe_next(next_))
    response.set_cookie(
        SESSION_COOKIE, outcome.token, path=PREFIX, httponly=True, samesite="Strict",
        secure=rt.settings.web.secure_cookies, max_age=int((outcome.expires_at - rt.now()).total_seconds()),
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    raise response


async def logout(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await request.post()
    if not hmac.compare_digest(viewer.csrf_token, str(form.get("csrf_token", ""))):
        raise web.HTTPForbidden(text="CSRF token missing or wrong")
    await sign_out(_rt(request), request.cookies.get(SESSION_COOKIE, ""))
    response = web.HTTPFound(f"{PREFIX}/login")
    response.del_cookie(SESSION_COOKIE, path=PREFIX)
    raise response


async def choose_language(request: web.Request) -> web.StreamResponse:
    locale = request.match_info["locale"]
    response = web.HTTPFound(_safe_next(request.query.get("next")))
    if locale in LOCALES:
        response.set_cookie(LANG_COOKIE, locale, path=PREFIX, samesite="Strict", max_age=365 * 24 * 3600)
    raise response


def _periods(rt: Runtime) -> list[str]:
    """The periods the selectors offer: today, this week, this month and the months before."""
    month = period_of("month", rt.now(), rt.hours.tz).start.astimezone(rt.hours.tz).date()
    months = []
    for _ in range(MONTHS_OFFERED):
        months.append(month.strftime("%Y-%m"))
        month = (month - timedelta(days=1)).replace(day=1)
    return ["today", "week", *months]


async def overview(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    board = _board(request, viewer)
    spec = request.query.get("period", "month")
    found = await board.overview(spec)
    department_rows = [
        (department_name(_rt(request), board.locale, code), figures)
        for code, figures in (found.figures.by_department.items() if found.figures else ())
    ]
    return _render(
        request, "overview.html", viewer, page="overview", found=found, spec=spec, periods=_periods(_rt(request)),
        department_rows=department_rows,
    )


async def trend_chart(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    png = await _board(request, viewer).trend_png()
    return web.Response(body=png, content_type="image/png")


async def tickets(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    rt = _rt(request)
    board = _board(request, viewer)
    query = board.parse_tickets(dict(request.query))
    found = await board.tickets(query)
    filters = {
        "state": query.state, "department": query.department, "category": query.category,
        "period": query.period, "q": query.text,
    }

    def page_link(page: int) -> str:
        return f"{PREFIX}/tickets?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": page})

    return _render(
        request, "tickets.html", viewer, page="tickets", found=found, filters=filters, page_link=page_link,
        states=[*STATE_GROUPS, *TicketState], departments=list(rt.settings.departments),
        categories=CATEGORIES, periods=_periods(rt),
    )


async def ticket(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    board = _board(request, viewer)
    try:
        detail = await board.ticket(request.match_info["number"])
    except NotVisible:
        return _render(request, "not_found.html", viewer, status=404, number=request.match_info["number"])
    return _render(request, "ticket.html", viewer, page="tickets", detail=detail)


async def ranking(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    board = _board(request, viewer)
    spec = request.query.get("period", "month")
    found = await board.figures(spec)
    return _render(request, "ranking.html", viewer, page="ranking", found=found, spec=spec, periods=_periods(_rt(request)))


async def appraisals(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    rt = _rt(request)
    board = _board(request, viewer)
    spec, unit = request.query.get("period", "month"), request.query.get("unit", "")
    try:
        page = int(request.query.get("page", "1"))
    except ValueError:
        page = 1
    found = await board.appraisals(spec, unit, page)

    def page_link(number: int) -> str:
        return f"{PREFIX}/appraisals?" + urlencode({"period": spec, "unit": found.unit, "page": number})

    return _render(
        request, "appraisals.html", viewer, page="appraisals", found=found, spec=spec, periods=_periods(rt),
        units=list(rt.settings.units), page_link=page_link,
    )


async def ledger_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return _render(request, "ledger.html", viewer, page="ledger", periods=_periods(_rt(request)), problem=None)


async def ledger_download(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    rt = _rt(request)
    board = _board(request, viewer)
    period = board.period(request.query.get("period", "month"))
    fmt = "csv" if request.query.get("format") == "csv" else "xlsx"
    # Spooled: a month stays in memory, a year goes to a temporary file instead of filling memory.
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as buffer:
        try:
            await export_ledger(rt, buffer, fmt=fmt, period=period, scope=viewer.scope)  # type: ignore[arg-type]
        except LedgerIncomplete as incomplete:
            return _render(request, "ledger.html", viewer, status=409, page="ledger", periods=_periods(rt), problem=str(incomplete))
        size = buffer.tell()
        buffer.seek(0)
        filename = f"台账-{period.label.replace('/', '_')}.{fmt}"
        response = web.StreamResponse(
            headers={
                "Content-Type": (
                    "text/csv; charset=utf-8" if fmt == "csv"
                    else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                ),
                "Content-Disposition": f"attachment; filename=\"ledger.{fmt}\"; filename*=UTF-8''{quote(filename)}",
                "Content-Length": str(size),
            }
        )
        await response.prepare(request)
        while chunk := buffer.read(256 * 1024):
            await response.write(chunk)
        await response.write_eof()
    return response


async def stylesheet(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(_HERE / "static" / "dashboard.css", headers={"Cache-Control": "max-age=3600"})


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"{PREFIX}/")


def add_routes(app: web.Application) -> None:
    app[FIGURES] = FiguresCache(app[RUNTIME].settings.web.figures_cache_seconds)
    app.middlewares.append(security_headers)
    router = app.router
    router.add_get("/", home)
    router.add_get(PREFIX, home)
    router.add_get(f"{PREFIX}/login", login_page)
    router.add_post(f"{PREFIX}/login", login_submit)
    router.add_post(f"{PREFIX}/logout", _signed_in(logout))
    router.add_get(f"{PREFIX}/lang/{{locale}}", choose_language)
    router.add_get(f"{PREFIX}/static/dashboard.css", stylesheet)
    router.add_get(f"{PREFIX}/", _signed_in(overview))
    router.add_get(f"{PREFIX}/trend.png", _signed_in(trend_chart))
    router.add_get(f"{PREFIX}/tickets", _signed_in(tickets))
    router.add_get(f"{PREFIX}/tickets/{{number}}", _signed_in(ticket))
    router.add_get(f"{PREFIX}/ranking", _signed_in(ranking, figures=True))
    router.add_get(f"{PREFIX}/appraisals", _signed_in(appraisals, figures=True))
    router.add_get(f"{PREFIX}/ledger", _signed_in(ledger_page, figures=True))
    router.add_get(f"{PREFIX}/ledger/download", _signed_in(ledger_download, figures=True))
