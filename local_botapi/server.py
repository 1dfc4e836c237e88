"""The HTTP side: `/bot<token>/<method>` and `/file/bot<token>/<path>`, over aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from local_botapi.errors import ApiError, bad_request, for_status, not_found, unauthorized
from local_botapi.methods import BotApiMethods, canonical_name
from local_botapi.params import Params, Upload
from local_botapi.state import ApiRequest, ServerState
from local_botapi.traffic import Fault, FaultPlan, RateLimiter
from local_botapi.webhook import WebhookPusher, WebhookRetry

MAX_REQUEST_BYTES = 50 * 1024 * 1024  # Telegram's upload limit for bots.
# Long polls and held requests are woken on stop, so shutdown needs no real grace period.
SHUTDOWN_GRACE_SECONDS = 0.5


class BotApiServer:
    def __init__(
        self,
        state: ServerState,
        limiter: RateLimiter,
        faults: FaultPlan,
        *,
        host: str,
        port: int,
        webhook_retry: WebhookRetry,
    ) -> None:
        self.state = state
        self.faults = faults
        self.methods = BotApiMethods(state, limiter)
        self.host = host
        self.port = port
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._pusher = WebhookPusher(state, webhook_retry)
        self._pushing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_SECONDS
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        self._stopping.clear()
        self.state.updates.reopen()
        self._pushing = asyncio.create_task(self._pusher.run(), name="local-botapi-webhook")

    async def stop(self) -> None:
        self._stopping.set()
        self.state.updates.close()
        if self._pushing is not None:
            self._pushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pushing
            self._pushing = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        requested = request.match_info["method"]
        method = canonical_name(requested) or requested
        try:
            params = await _read_params(request)
        except ApiError as error:
            return self._respond(method, Params({}), error=error)
        if request.match_info["token"] != self.state.token:
            return self._respond(method, params, error=unauthorized())
        if canonical_name(requested) is None:
            return self._respond(method, params, error=not_found())
        fault = self.faults.take(method, params.raw("chat_id"))
        if fault is not None:
            return await self._fail(request, method, params, fault)
        try:
            result = await self.methods.call(method, params)
        except ApiError as error:
            response = self._respond(method, params, error=error)
        else:
            response = self._respond(method, params, result=result)
        # Simulated people and `LocalBotApi.wait_for` re-check their conditions after every call.
        self.state.changed.notify()
        return response

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.state.token:
            return web.json_response(unauthorized().to_json(), status=401)
        stored = self.state.files_by_path.get(request.match_info["file_path"])
        if stored is None:
            return web.json_response(not_found().to_json(), status=404)
        content_type = stored.mime_type or "application/octet-stream"
        return web.Response(body=stored.data, content_type=content_type)

    async def _fail(
        self, request: web.Request, method: str, params: Params, fault: Fault
    ) -> web.StreamResponse:
        if fault.status != "timeout":
            error = for_status(
                fault.status, retry_after=fault.retry_after, description=fault.description
            )
            return self._respond(method, params, error=error)
        self._record(method, params, None, "held without answer (injected timeout)")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(fault.delay):
                await self._stopping.wait()
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=504)  # Never reaches the client: the connection is gone.

    def _respond(
        self, method: str, params: Params, *, result: Any = None, error: ApiError | None = None
    ) -> web.Response:
        if error is not None:
            self._record(method, params, error.status, error.description)
            return web.json_response(error.to_json(), status=error.status)
        self._record(method, params, 200, None)
        return web.json_response({"ok": True, "result": result})

    def _record(
        self, method: str, params: Params, status: int | None, description: str | None
    ) -> None:
        self.state.requests.append(
            ApiRequest(method, params.loggable(), status, description, self.state.clock())
        )
        self.state.stats[str(status) if status is not None else "timeout"] += 1


async def _read_params(request: web.Request) -> Params:
    values: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return Params(values)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON request body") from None
        if isinstance(body, dict):
            values.update(body)
        return Params(values)
    form = await request.post()
    for name, value in form.items():
        values[name] = _read_upload(value) if isinstance(value, web.FileField) else value
    return Params(values)


def _read_upload(field: web.FileField) -> Upload:
    with field.file:
        data = field.file.read()
    return Upload(filename=field.filename, content_type=field.content_type, data=data)
