"""`bff.logs`: log lines cannot be forged through a path or a provider's error code."""

import logging

import pytest

from bff.logs import log_code
from shared.logsafe import log_text
from tests.bff.conftest import Harness, raw_request


def test_log_code_and_text() -> None:
    assert log_code("invalid_grant") == "invalid_grant"
    assert log_code("x\r\nforged") == "invalid"
    assert log_code("") == "invalid"
    assert log_code("a" * 65) == "invalid"
    assert log_text("/a\nb\x00\u2028") == "/a\\x0ab\\x00\\x2028"


async def test_access_log_escapes_decoded_paths(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bff.access"):
        await raw_request(harness.app, "GET", b"/x\nGET /forged 200")
    lines = [r.getMessage() for r in caplog.records if r.name == "bff.access"]
    assert lines
    assert all("\n" not in line for line in lines)


async def test_provider_error_code_logged_only_when_sane(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    query = await harness.start_login()
    with caplog.at_level(logging.INFO, logger="bff.audit"):
        response = await harness.callback(
            {"state": query["state"], "iss": "https://idp.test", "error": "x\r\nforged line"}
        )
    assert response.status_code == 400
    messages = [r.getMessage() for r in caplog.records if r.name == "bff.audit"]
    assert "login_failed error=invalid" in messages
    assert not any("forged" in m for m in messages)
