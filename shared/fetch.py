"""Fetching JSON documents from the provider: explicit timeouts, bounded size, retries.

Retries use exponential backoff with full jitter (AWS Architecture Blog, "Exponential
Backoff And Jitter") on network errors and 5xx answers only; a 4xx is final.
"""

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from shared.errors import ProviderError

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

#: Discovery documents and key sets are small; anything larger is refused.
MAX_DOCUMENT_BYTES = 512 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=3.0)


async def fetch_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    attempts: int = 3,
    base_delay_s: float = 0.2,
    max_delay_s: float = 2.0,
    request_timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    sleep: Sleep = asyncio.sleep,
) -> dict[str, Any]:
    """GET `url` and return its JSON object.

    Raises `ProviderError` when every attempt fails, on a 4xx, on a body over
    `MAX_DOCUMENT_BYTES`, or when the body is not a JSON object.
    """
    last: str = "no attempt made"
    for attempt in range(attempts):
        if attempt:
            # full jitter: uniform in [0, min(cap, base * 2^attempt)]
            await sleep(random.uniform(0, min(max_delay_s, base_delay_s * 2**attempt)))
        try:
            async with client.stream(
                "GET", url, headers={"Accept": "application/json"}, timeout=request_timeout
            ) as response:
                if response.status_code >= 500:
                    last = f"HTTP {response.status_code}"
                    continue
                if response.status_code != 200:
                    raise ProviderError(f"{url} answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise ProviderError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        except httpx.HTTPError as exc:
            last = type(exc).__name__
            logger.warning("fetch %s failed (attempt %d/%d): %s", url, attempt + 1, attempts, last)
            continue
        try:
            document = json.loads(body)
        except ValueError:
            raise ProviderError(f"{url} did not answer JSON") from None
        if not isinstance(document, dict):
            raise ProviderError(f"{url} did not answer a JSON object")
        return document
    raise ProviderError(f"{url} unreachable after {attempts} attempts ({last})")
