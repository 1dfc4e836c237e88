"""The web side: GET /health, the Open311 GeoReport v2 endpoint and the supervisors' dashboard."""

from aiohttp import web

from services.runtime import Runtime

# Where every route finds the runtime (settings, database, clock): `request.app[RUNTIME]`.
RUNTIME = web.AppKey("runtime", Runtime)
