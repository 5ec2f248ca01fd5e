"""`/healthz` (the process runs) and `/readyz` (provider metadata loaded, upstream answers)."""

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bff.context import BFF
from shared import SharedError

READY_TIMEOUT = httpx.Timeout(2.0)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> Response:
    bff: BFF = request.app.state.bff
    checks: dict[str, str] = {}
    try:
        await bff.provider.metadata.get()
        checks["provider"] = "ok"
    except SharedError as exc:
        checks["provider"] = exc.error
    checks["upstream"] = await bff.upstream.probe()
    try:
        await bff.store.verify_connection()
        await bff.revocations.ping()
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = type(exc).__name__
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )
