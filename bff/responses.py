"""The BFF's own answers: no-store JSON, the HTML error page, redirects, Set-Cookie lines.

Every `BFFError` becomes an answer here and nowhere else: JSON (`{"error", and
"error_description" and "login_url" when it has them}`) for API calls, the HTML page for
the navigations to `/auth/login` and `/auth/callback`.
"""

import html
from collections.abc import Iterable
from typing import Any, TypeVar

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from bff.errors import BFFError

#: the BFF's answers are about one browser's session: no cache may keep them
NO_STORE = {"Cache-Control": "no-store"}
#: the error page runs nothing and is never sniffed as anything else
_PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": "default-src 'none'",
    "X-Content-Type-Options": "nosniff",
}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title></head>
<body><h1>Sign-in failed</h1><p>Error: <code>{error}</code></p>
<p><a href="/">Back to the application</a></p></body></html>
"""

R = TypeVar("R", bound=Response)


def with_cookies(response: R, lines: Iterable[str]) -> R:
    """`response` with these `Set-Cookie` lines appended."""
    for line in lines:
        response.raw_headers.append((b"set-cookie", line.encode("latin-1")))
    return response


def json_answer(body: Any, cookies: Iterable[str] = (), *, status: int = 200) -> JSONResponse:
    return with_cookies(JSONResponse(body, status_code=status, headers=NO_STORE), cookies)


def error_json(exc: BFFError, cookies: Iterable[str] = ()) -> JSONResponse:
    body = {"error": exc.error}
    if exc.description:
        body["error_description"] = exc.description
    if exc.login_url:
        body["login_url"] = exc.login_url
    return json_answer(body, cookies, status=exc.status)


def error_page(
    exc: BFFError, cookies: Iterable[str] = (), *, status: int | None = None
) -> HTMLResponse:
    """A page showing only the (escaped) error code: no provider text, no stack.
    `status` overrides the error's own (the callback answers every failure with 400)."""
    page = _PAGE.format(error=html.escape(exc.error[:64]))
    response = HTMLResponse(page, status_code=status or exc.status, headers=_PAGE_HEADERS)
    return with_cookies(response, cookies)


def redirect(location: str, cookies: Iterable[str] = ()) -> RedirectResponse:
    return with_cookies(RedirectResponse(location, status_code=302, headers=NO_STORE), cookies)
