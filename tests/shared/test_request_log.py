"""`shared.request_log`: one `X-Request-ID` rule and one access line for both services,
driven here through a tiny raw ASGI application."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared import RequestIdFilter, RequestLogMiddleware, current_request_id
from shared.request_log import MAX_PATH_CHARS, is_sane_request_id, loggable_path

ACCESS = "tests.access"
App = Callable[[Any, Any, Any], Awaitable[None]]


@dataclass
class Seen:
    """What the application saw and what the server was sent."""

    request_id: str = ""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def response_ids(self) -> list[bytes]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return [v for n, v in start["headers"] if n == b"x-request-id"]


def app_answering(seen: Seen, status: int = 200, headers: list[Any] | None = None) -> App:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.request_id = current_request_id()
        seen.headers = list(scope["headers"])
        logging.getLogger("tests.inside").warning("inside the app")
        await send(
            {"type": "http.response.start", "status": status, "headers": list(headers or [])}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    return app


class Timer:
    """A monotonic timer that advances 12.5 ms between readings."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.0125
        return self.now


def scope_for(
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    path: str = "/items",
    raw_path: bytes | None = None,
    query: bytes = b"",
    method: str = "GET",
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode() if raw_path is None else raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"app.test"), *(headers or [])],
    }


async def call(app: App, scope: dict[str, Any], seen: Seen) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        seen.sent.append(dict(message))

    await RequestLogMiddleware(app, access_logger=ACCESS, timer=Timer())(scope, receive, send)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record at INFO and above, with the request id filter on the handler."""
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO)
    return caplog


def access_lines(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.name == ACCESS]


# --- the id ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [b"req-12345678", b"a" * 8, b"A" * 128, b"bff.1:2_3-4", b"0f8fad5bd9cb469fa16570867728950e"],
)
async def test_a_sane_id_is_kept_and_echoed(given: bytes) -> None:
    seen = Seen()
    await call(app_answering(seen), scope_for([(b"x-request-id", given)]), seen)
    assert seen.request_id == given.decode()
    assert seen.response_ids == [given]
    assert [v for n, v in seen.headers if n == b"x-request-id"] == [given]


@pytest.mark.parametrize(
    "given",
    [
        [],
        [(b"x-request-id", b"")],
        [(b"x-request-id", b"a" * 7)],  # too short
        [(b"x-request-id", b"a" * 129)],  # too long
        [(b"x-request-id", b"bad id with spaces")],
        [(b"x-request-id", b"tab\there-123")],
        [(b"x-request-id", b"line\r\nforged-12")],
        [(b"x-request-id", "caf\u00e9-12345678".encode())],  # non-ASCII
        [(b"x-request-id", b"\xff" * 16)],
        [(b"x-request-id", b"slash/12345678")],
        [(b"x-request-id", b"req-12345678"), (b"x-request-id", b"req-87654321")],  # twice
    ],
    ids=[
        "none",
        "empty",
        "7",
        "129",
        "spaces",
        "tab",
        "crlf",
        "non-ascii",
        "bytes",
        "slash",
        "two",
    ],
)
async def test_anything_else_is_replaced_everywhere(given: list[tuple[bytes, bytes]]) -> None:
    seen = Seen()
    await call(app_answering(seen), scope_for(given), seen)
    fresh = seen.request_id
    assert len(fresh) == 32
    assert all(c in "0123456789abcdef" for c in fresh)
    # the application (and whatever it forwards) sees the one id that is logged and echoed
    assert [v for n, v in seen.headers if n == b"x-request-id"] == [fresh.encode()]
    assert (b"host", b"app.test") in seen.headers
    assert seen.response_ids == [fresh.encode()]


async def test_fresh_ids_differ_per_request() -> None:
    ids = set()
    for _ in range(3):
        seen = Seen()
        await call(app_answering(seen), scope_for(), seen)
        ids.add(seen.request_id)
    assert len(ids) == 3


async def test_the_response_carries_exactly_our_id() -> None:
    # e.g. an upstream's own id relayed by the application
    seen = Seen()
    relayed = [(b"X-Request-ID", b"upstream-id-1"), (b"x-request-id", b"upstream-id-2")]
    app = app_answering(seen, headers=[(b"content-type", b"text/plain"), *relayed])
    await call(app, scope_for([(b"x-request-id", b"req-12345678")]), seen)
    start = seen.sent[0]
    assert [h for h in start["headers"] if h[0].lower() == b"x-request-id"] == [
        (b"x-request-id", b"req-12345678")
    ]
    assert (b"content-type", b"text/plain") in start["headers"]


def test_the_rule() -> None:
    assert is_sane_request_id(b"abc.DEF:0_9-")
    assert not is_sane_request_id(b"abc.DEF:0_9-\n")


# --- the context variable and the log filter --------------------------------------------------


async def test_the_id_is_on_every_record_inside_and_reset_after(
    logs: pytest.LogCaptureFixture,
) -> None:
    assert current_request_id() == "-"
    seen = Seen()
    await call(app_answering(seen), scope_for([(b"x-request-id", b"req-12345678")]), seen)
    inside = [r for r in logs.records if r.name == "tests.inside"]
    assert [getattr(r, "request_id", None) for r in inside] == ["req-12345678"]
    assert current_request_id() == "-"
    logging.getLogger("tests.inside").warning("after")
    assert getattr(logs.records[-1], "request_id", None) == "-"


async def test_concurrent_requests_keep_their_own_ids() -> None:
    release = asyncio.Event()
    seen_ids: dict[str, str] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        before = current_request_id()
        await release.wait()
        seen_ids[before] = current_request_id()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    first, second = Seen(), Seen()
    tasks = [
        asyncio.ensure_future(call(app, scope_for([(b"x-request-id", b"first-id-1")]), first)),
        asyncio.ensure_future(call(app, scope_for([(b"x-request-id", b"second-id-2")]), second)),
    ]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*tasks)
    assert seen_ids == {"first-id-1": "first-id-1", "second-id-2": "second-id-2"}


# --- the access line ------------------------------------------------------------------------


async def test_one_access_line_without_the_query_string(logs: pytest.LogCaptureFixture) -> None:
    seen = Seen()
    scope = scope_for(
        [(b"x-request-id", b"req-12345678")], path="/items", query=b"access_token=secret-tok"
    )
    await call(app_answering(seen, status=201), scope, seen)
    (line,) = access_lines(logs.records)
    assert line.getMessage() == "GET /items 201 12.5ms"
    assert line.levelno == logging.INFO
    assert getattr(line, "request_id", None) == "req-12345678"
    assert "secret-tok" not in "\n".join(r.getMessage() for r in logs.records)


@pytest.mark.parametrize(
    ("scope", "logged"),
    [
        ({"path": "/me", "raw_path": b"/me?access_token=abc"}, "/me"),
        ({"path": "/a\nb", "raw_path": b"/a%0Ab"}, "/a%0Ab"),
        ({"path": "/a\nb"}, "/a\\x0ab"),
        ({"path": "/x", "raw_path": b"/x\nGET /forged 200"}, "/x\\x0aGET /forged 200"),
        ({"path": "/\u202e"}, "/\\xe2\\x80\\xae"),
        ({"path": "/x", "raw_path": b"/" + b"a" * 300}, "/" + "a" * 255 + "..."),
    ],
)
def test_loggable_path(scope: dict[str, Any], logged: str) -> None:
    assert loggable_path(scope) == logged
    assert MAX_PATH_CHARS == 256


async def test_the_method_is_made_log_safe(logs: pytest.LogCaptureFixture) -> None:
    seen = Seen()
    await call(app_answering(seen), scope_for(method="GET\nforged"), seen)
    assert access_lines(logs.records)[0].getMessage().startswith("GET\\x0aforged /items 200 ")


async def test_an_exception_before_the_response_logs_500_and_is_raised(
    logs: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("handler bug")

    with pytest.raises(RuntimeError, match="handler bug"):
        await call(app, scope_for([(b"x-request-id", b"req-12345678")]), Seen())
    (line,) = access_lines(logs.records)
    assert line.getMessage() == "GET /items 500 12.5ms"
    assert getattr(line, "request_id", None) == "req-12345678"
    assert current_request_id() == "-"


async def test_a_client_disconnect_still_logs_a_line(logs: pytest.LogCaptureFixture) -> None:
    class ClientGone(Exception):
        pass

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        raise AssertionError("nothing is sent to a client that left")

    middleware = RequestLogMiddleware(app, access_logger=ACCESS, timer=Timer())
    with pytest.raises(ClientGone):
        await middleware(scope_for(), receive, send)
    assert [r.getMessage() for r in access_lines(logs.records)] == ["GET /items 500 12.5ms"]


async def test_a_cancelled_request_still_logs_a_line(logs: pytest.LogCaptureFixture) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.Event().wait()

    task = asyncio.ensure_future(call(app, scope_for(), Seen()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r.getMessage() for r in access_lines(logs.records)] == ["GET /items 500 12.5ms"]


async def test_a_failure_after_the_response_started_logs_what_was_sent(
    logs: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise OSError("connection reset")

    with pytest.raises(OSError, match="reset"):
        await call(app, scope_for(), Seen())
    assert [r.getMessage() for r in access_lines(logs.records)] == ["GET /items 200 12.5ms"]


async def test_no_formatting_when_the_access_log_is_off(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def costly(scope: Any) -> str:
        raise AssertionError("formatted although nobody reads it")

    monkeypatch.setattr("shared.request_log.loggable_path", costly)
    caplog.set_level(logging.WARNING, logger=ACCESS)
    seen = Seen()
    await call(app_answering(seen), scope_for(), seen)
    assert access_lines(caplog.records) == []
    assert seen.response_ids  # the id is still echoed


async def test_the_logger_may_be_passed_as_an_object(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    seen = Seen()
    logger = logging.getLogger("tests.other_access")
    middleware = RequestLogMiddleware(app_answering(seen), access_logger=logger, timer=Timer())

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        seen.sent.append(dict(message))

    await middleware(scope_for(), receive, send)
    assert [r.name for r in caplog.records if r.name.endswith("access")] == ["tests.other_access"]


# --- other scopes ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lifespan", "websocket"])
async def test_other_scopes_pass_through_untouched(
    kind: str, logs: pytest.LogCaptureFixture
) -> None:
    passed: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        passed.append((scope, current_request_id()))

    scope = {"type": kind, "headers": [(b"x-request-id", b"bad")]}
    await RequestLogMiddleware(app, access_logger=ACCESS)(scope, None, None)
    assert passed == [({"type": kind, "headers": [(b"x-request-id", b"bad")]}, "-")]
    assert access_lines(logs.records) == []
