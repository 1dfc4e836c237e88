"""The bot's HTTP client for the Bot API: aiohttp instead of PTB's default httpx.

Every update costs the bot two or three Bot API calls (its answer, answering a button, editing the
message with the buttons, and its share of getUpdates). Through httpx, httpcore, anyio and h11,
all pure Python, each call cost about 1.5 ms of CPU in the bot's one busy thread: under load, more
than the handlers and the database together. aiohttp parses HTTP in C and does the same in about a
quarter of that. aiohttp is here already (the web side runs on it).

It behaves as PTB's `HTTPXRequest` does: the same default timeouts and pool size, a timeout raises
`TimedOut`, a connection that fails raises `NetworkError`, and the status and body go back to PTB,
which turns them into results and errors.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import Any
from urllib.parse import urlencode

import aiohttp
import certifi
from telegram._utils.defaultvalue import DefaultValue  # PTB's own marker for "no timeout given"
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# PTB's defaults for HTTPXRequest, so nothing changes but the HTTP library.
DEFAULT_POOL_SIZE = 256
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_POOL_TIMEOUT_SECONDS = 1.0
MEDIA_WRITE_TIMEOUT_SECONDS = 20.0
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


class AiohttpRequest(BaseRequest):
    """PTB's requests to the Bot API, sent with aiohttp."""

    def __init__(
        self,
        *,
        connection_pool_size: int = DEFAULT_POOL_SIZE,
        read_timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
        write_timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
        connect_timeout: float | None = DEFAULT_TIMEOUT_SECONDS,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT_SECONDS,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # Certifi's authorities, as httpx trusts: a server without system certificates works alike.
                connector=aiohttp.TCPConnector(
                    limit=self._pool_size, ssl=ssl.create_default_context(cafile=certifi.where())
                ),
                headers={"User-Agent": self.USER_AGENT},
                # The body is read whole and parsed by PTB; aiohttp need not look at cookies or types.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None | DefaultValue[None] = BaseRequest.DEFAULT_NONE,
        write_timeout: float | None | DefaultValue[None] = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | None | DefaultValue[None] = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | None | DefaultValue[None] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        write = (
            (self._write_timeout if not files else MEDIA_WRITE_TIMEOUT_SECONDS)
            if isinstance(write_timeout, DefaultValue)
            else write_timeout
        )
        connect = self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        # aiohttp has no timeout for writing alone: the request's whole time is bounded by what
        # httpx allowed for each phase together.
        phases = (read, write, connect, pool)
        total = None if None in phases else sum(phases)  # type: ignore[arg-type]
        timeout = _timeout(total, connect, read)
        try:
            body = _body(request_data, files)
            headers = FORM_HEADERS if isinstance(body, bytes) else None
            async with self._session.request(method, url, data=body, headers=headers, timeout=timeout) as response:
                return response.status, await response.read()
        except asyncio.TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{error.__class__.__name__}: {error}") from error


@functools.lru_cache(maxsize=32)
def _timeout(total: float | None, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    """The request's timeouts: a handful of combinations, each made once (it is a frozen object)."""
    return aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)


def _body(request_data: RequestData | None, files: dict[str, Any] | None) -> aiohttp.FormData | bytes | None:
    """The parameters as a form, as PTB sends them: URL-encoded fields, or multipart with the files.

    The URL-encoded body is made here rather than by aiohttp from a dict: aiohttp's FormData also
    builds a multipart writer (with a random boundary) for every request, which cost more CPU than
    encoding the fields. The bytes are the same as aiohttp would send.
    """
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not files:
        return urlencode(fields, doseq=True).encode()
    form = aiohttp.FormData(quote_fields=False)
    for name, value in fields.items():
        form.add_field(name, value)
    for name, part in files.items():
        # PTB gives each file as (filename, content, mime type), like httpx's `files`.
        filename, content, mime_type = part
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form

