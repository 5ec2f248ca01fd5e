"""Relaying an upstream response body to the browser as it arrives."""

import anyio
import httpx
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from bff.proxy.headers import RawHeaders

#: fixed-length bodies above this are relayed with a disconnect watcher (64 KiB)
WATCH_ABOVE_BYTES = 64 * 1024


def relay(upstream: httpx.Response, headers: RawHeaders) -> Response:
    """The browser's response for a streamed upstream response, which it closes when done."""
    streamed: Response
    if "content-length" in upstream.headers:
        # a bounded body: relay it chunk by chunk, watching for a disconnect when large
        streamed = RelayedResponse(upstream)
    else:
        # open-ended (SSE, chunked): Starlette's StreamingResponse stops on disconnect
        streamed = StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            background=BackgroundTask(upstream.aclose),
        )
    streamed.raw_headers = headers
    return streamed


class RelayedResponse(Response):
    """Streams an upstream body of known length to the client, then closes it.

    A body above `WATCH_ABOVE_BYTES` is relayed with a disconnect watcher (the ASGI server
    drops what is sent after a disconnect, silently): a client that leaves stops the
    upstream read. Small bodies skip the watcher's task, the common, cheap case.
    """

    def __init__(self, upstream: httpx.Response) -> None:
        self.status_code = upstream.status_code
        self.background = None
        self._upstream = upstream
        length = upstream.headers.get("content-length", "")
        self._watch = not length.isdigit() or int(length) > WATCH_ABOVE_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope["method"] != "HEAD":
                if self._watch:
                    if not await self._relay_until_disconnect(receive, send):
                        return
                else:
                    await self._relay(send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self._upstream.aclose()

    async def _relay(self, send: Send) -> None:
        async for chunk in self._upstream.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def _relay_until_disconnect(self, receive: Receive, send: Send) -> bool:
        """False when the client went away before the body was complete."""
        gone = False
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                nonlocal gone
                while (await receive())["type"] != "http.disconnect":
                    pass
                gone = True
                group.cancel_scope.cancel()

            group.start_soon(watch)
            await self._relay(send)
            group.cancel_scope.cancel()
        return not gone
