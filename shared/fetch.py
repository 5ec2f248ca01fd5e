"""JSON from the provider (GET a document, POST a form): explicit timeouts, bounded
size, no redirects, retries.

Retries use exponential backoff with full jitter (AWS Architecture Blog, "Exponential
Backoff And Jitter") on network errors, timeouts and 5xx answers only; any other answer
(4xx, 3xx, a bad body) is final.
"""

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.errors import ProviderError

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
#: Maps a backoff cap (seconds) to the delay actually slept.
Jitter = Callable[[float], float]

#: Discovery documents and key sets are small; anything larger is refused.
MAX_DOCUMENT_BYTES = 512 * 1024
#: Per phase (connect 3 s; read, write, pool 5 s each).
DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
#: Whole-attempt deadline, so a server trickling bytes cannot hold a request open (seconds).
DEFAULT_DEADLINE_S = 10.0


def full_jitter(cap_s: float) -> float:
    return random.uniform(0, cap_s)


@dataclass(frozen=True)
class RetryPolicy:
    """How `fetch_json` and `post_form_json` retry; every field is in seconds except
    `attempts`. Raises `ValueError` for fewer than one attempt."""

    attempts: int = 3
    base_delay_s: float = 0.2
    max_delay_s: float = 2.0
    request_timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    deadline_s: float = DEFAULT_DEADLINE_S
    sleep: Sleep = asyncio.sleep
    jitter: Jitter = full_jitter

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def delay_cap(self, attempt: int) -> float:
        """The backoff cap before retry number `attempt` (1 for the first retry)."""
        return float(min(self.max_delay_s, self.base_delay_s * 2**attempt))


class _Retryable(Exception):
    """An attempt failed in a way worth retrying (network, timeout, 5xx)."""


async def fetch_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    policy: RetryPolicy = RetryPolicy(),
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> dict[str, Any]:
    """GET `url` and return its JSON object, retrying as `policy` says.

    Raises `ProviderError` when every attempt fails, on a non-200 answer other than 5xx,
    on a body over `max_bytes`, or when the body is not a JSON object. Nothing else
    escapes.
    """
    return await _request_json(client, "GET", url, None, {}, policy, max_bytes)


async def post_form_json(
    client: httpx.AsyncClient,
    url: str,
    form: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None = None,
    policy: RetryPolicy = RetryPolicy(),
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> dict[str, Any]:
    """POST `form` (application/x-www-form-urlencoded) to `url`, return the JSON object.

    For queries that change nothing at the provider (RFC 7662 introspection), so a
    network error, timeout or 5xx may be retried as for `fetch_json`. The same
    timeouts, size cap and refusal of redirects apply; `headers` are added (e.g.
    `Authorization`). Raises `ProviderError` exactly as `fetch_json` does. The form and
    the headers may carry a token or a secret: neither is ever logged or put in an error.
    """
    return await _request_json(client, "POST", url, form, headers or {}, policy, max_bytes)


async def _request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    form: Mapping[str, str] | None,
    headers: Mapping[str, str],
    policy: RetryPolicy,
    max_bytes: int,
) -> dict[str, Any]:
    last = "no attempt made"
    for attempt in range(policy.attempts):
        if attempt:
            await policy.sleep(policy.jitter(policy.delay_cap(attempt)))
        try:
            request = _build(client, method, url, form, headers, policy.request_timeout)
            async with asyncio.timeout(policy.deadline_s):
                body = await _send_once(client, request, url, max_bytes)
        except _Retryable as exc:
            last = str(exc)
        except httpx.UnsupportedProtocol:
            raise ProviderError(f"{url!r} is not a usable URL") from None
        except (httpx.TransportError, OSError, TimeoutError) as exc:
            last = type(exc).__name__
        except httpx.HTTPError as exc:  # decoding, redirect loops, stream misuse
            raise ProviderError(f"{url} could not be read ({type(exc).__name__})") from None
        else:
            return _parse(url, body)
        logger.warning(
            "%s %s failed (attempt %d/%d): %s", method, url, attempt + 1, policy.attempts, last
        )
    raise ProviderError(f"{url} unreachable after {policy.attempts} attempts ({last})")


def _build(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    form: Mapping[str, str] | None,
    extra: Mapping[str, str],
    phases: httpx.Timeout,
) -> httpx.Request:
    # identity: the size cap then bounds what we hold, with no decompression bomb
    headers = {"Accept": "application/json", "Accept-Encoding": "identity", **extra}
    try:
        return client.build_request(
            method, url, headers=headers, data=None if form is None else dict(form), timeout=phases
        )
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError):
        raise ProviderError(f"{url!r} is not a usable URL") from None


async def _send_once(
    client: httpx.AsyncClient, request: httpx.Request, url: str, max_bytes: int
) -> bytes:
    # never follow a redirect, whatever the injected client's default: a JWKS served from
    # wherever the provider's host points us would be a key set we never chose, and a
    # POST redirected elsewhere would carry the token and our credentials with it
    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        if response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise ProviderError(f"{url} answered HTTP {response.status_code}")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise ProviderError(f"{url} answered more than {max_bytes} bytes")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise ProviderError(f"{url} answered more than {max_bytes} bytes")
        return bytes(body)
    finally:
        await response.aclose()


def _no_constant(name: str) -> float:
    # RFC 8259 §6: NaN and Infinity are not JSON, whatever Python's parser would accept
    raise ValueError(name)


def _parse(url: str, body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ProviderError(f"{url} did not answer JSON") from None
    if not isinstance(document, dict):
        raise ProviderError(f"{url} did not answer a JSON object")
    return document
