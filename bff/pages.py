"""The few HTML and JSON error answers the BFF gives itself."""

import html

from starlette.responses import HTMLResponse, JSONResponse

NO_STORE = {"Cache-Control": "no-store"}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title></head>
<body><h1>Sign-in failed</h1><p>Error: <code>{error}</code></p>
<p><a href="/">Back to the application</a></p></body></html>
"""


def error_page(error: str, status_code: int = 400) -> HTMLResponse:
    """A page showing only the (escaped) error code: no provider text, no stack."""
    headers = {
        **NO_STORE,
        "Content-Security-Policy": "default-src 'none'",
        "X-Content-Type-Options": "nosniff",
    }
    return HTMLResponse(
        _PAGE.format(error=html.escape(error[:64])), status_code=status_code, headers=headers
    )


def json_error(status_code: int, error: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": error, **extra}, status_code=status_code, headers=NO_STORE)
