"""`shared.logs`: one JSON object per line with the SPEC keys, text for terminals, audit."""

import io
import json
import logging
from collections.abc import Iterator

import pytest

from shared.logs import JsonFormatter, TextFormatter, audit, configure_logging


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    handler = configure_logging("INFO", "json")
    handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_has_the_spec_keys(captured: io.StringIO) -> None:
    logging.getLogger("bff.proxy").info("upstream %s", "timed out")
    (line,) = _lines(captured)
    assert line["event"] == "upstream timed out"
    assert line["level"] == "INFO"
    assert line["logger"] == "bff.proxy"
    assert line["request_id"] == "-"
    assert isinstance(line["ts"], str)
    assert line["ts"].endswith("Z")
    assert len(line["ts"]) == len("2026-12-02T18:13:51.123Z")


def test_audit_event_is_flagged_with_outcome_and_actor(captured: io.StringIO) -> None:
    audit("login", "success", iss="https://idp.test", sub="alice")
    (line,) = _lines(captured)
    assert line["logger"] == "audit"
    assert line["event"] == "login"
    assert line["audit"] is True
    assert line["outcome"] == "success"
    assert line["sub"] == "alice"


def test_fields_cannot_overwrite_fixed_keys_or_forge_lines(captured: io.StringIO) -> None:
    audit("logout", "failure", logger="forged", level="DEBUG", reason="a\nb\r\x1b[2J")
    assert len(captured.getvalue().splitlines()) == 1
    (line,) = _lines(captured)
    assert line["event"] == "logout"
    assert line["logger"] == "audit"
    assert line["level"] == "INFO"
    assert line["reason"] == "a\nb\r\x1b[2J"  # escaped in the JSON text, intact when read


def test_uvicorn_lines_go_through_the_same_handler(captured: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").warning("Started server process")
    (line,) = _lines(captured)
    assert line["logger"] == "uvicorn.error"


def test_text_format_escapes_fields() -> None:
    record = logging.LogRecord("audit", logging.INFO, __file__, 1, "login", None, None)
    record.fields = {"outcome": "failure", "reason": "x\ny"}
    record.request_id = "req-12345678"
    text = TextFormatter().format(record)
    assert "\n" not in text
    assert "[req-12345678] login outcome=failure" in text


def test_exceptions_stay_on_one_json_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert "RuntimeError: boom" in json.loads(text)["exception"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("INFO", "xml")  # type: ignore[arg-type]
