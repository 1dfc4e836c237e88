"""The web side: the Open311 GeoReport v2 endpoint now; the supervisors' dashboard joins it later."""

from aiohttp import web

from services.runtime import Runtime

# Where every route finds the runtime (settings, database, clock): `request.app[RUNTIME]`.
RUNTIME = web.AppKey("runtime", Runtime)
