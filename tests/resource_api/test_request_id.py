"""X-Request-ID on every answer (errors and 404s included) and on log records."""

import logging

import pytest

from shared import RequestIdFilter
from tests.resource_api.conftest import make_settings, serve_app, user_headers
from tests.support.tokens import TokenFactory


async def test_ids_on_answers_and_log_records(
    tokens: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO)
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    async with serve_app(settings, tokens) as api:
        kept = await api.get("/products", headers={"X-Request-ID": "bff-00000042"})
        assert (kept.status_code, kept.headers["x-request-id"]) == (401, "bff-00000042")
        lost = await api.get("/nowhere", headers={"X-Request-ID": "spaces are not kept"})
        assert lost.status_code == 404
        assert len(lost.headers["x-request-id"]) == 32
        down = await api.get(
            "/products", headers={**user_headers(tokens, "alice"), "X-Request-ID": "req-00000503"}
        )
        assert down.status_code == 503
    outage = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert outage
    assert {getattr(r, "request_id", None) for r in outage} == {"req-00000503"}
