"""The demo SPA's files at `/`, with SPA fallback: unknown paths get `index.html`."""

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope


class SPAStaticFiles(StaticFiles):
    def __init__(self, directory: Path) -> None:
        # check_dir=False: the SPA may be built after the BFF starts
        super().__init__(directory=directory, html=True, check_dir=False)
        self._root = directory

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not self._root.is_dir():
            return Response("Not Found", status_code=404, media_type="text/plain")
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            # reserved prefixes never fall back to the SPA
            if exc.status_code != 404 or path.split("/", 1)[0] in ("api", "auth"):
                raise
            return await super().get_response("index.html", scope)
