"""`/healthz` (the process runs) and `/readyz` (provider metadata loaded, upstream answers,
session storage reachable)."""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from bff.responses import json_answer
from bff.session.revocation import RevocationList
from bff.session.store import SessionStore
from shared import MetadataCache, SharedError


class Health:
    def __init__(
        self,
        *,
        metadata: MetadataCache,
        upstream_probe: Callable[[], Awaitable[str]],
        store: SessionStore,
        revocations: RevocationList,
    ) -> None:
        self._metadata = metadata
        #: "ok", or why the upstream is not ready (the proxy's `Upstream.probe`)
        self._upstream_probe = upstream_probe
        self._store = store
        self._revocations = revocations

    async def healthz(self, request: Request) -> Response:
        return json_answer({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await self._metadata.get()
            checks["provider"] = "ok"
        except SharedError as exc:
            checks["provider"] = exc.error
        checks["upstream"] = await self._upstream_probe()
        try:
            await self._store.verify_connection()
            await self._revocations.ping()
            checks["store"] = "ok"
        except Exception as exc:  # whatever the store's client raises: not ready
            checks["store"] = type(exc).__name__
        ready = all(v == "ok" for v in checks.values())
        return json_answer(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status=200 if ready else 503,
        )
