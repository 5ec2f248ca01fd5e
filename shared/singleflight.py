"""Single-flight: concurrent callers of one refresh share one in-flight task."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Runs at most one `fn()` at a time; callers arriving meanwhile await the same result."""

    def __init__(self) -> None:
        self._task: asyncio.Task[T] | None = None

    @property
    def running(self) -> bool:
        """Whether a call is in flight that a new caller would join."""
        return self._task is not None

    async def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Await `fn()`, or the call already in flight. Raises whatever `fn` raises."""
        if self._task is None:
            self._task = asyncio.ensure_future(fn())
            self._task.add_done_callback(self._clear)
        # shield: one impatient (cancelled) caller must not cancel the others' fetch
        return await asyncio.shield(self._task)

    def _clear(self, task: "asyncio.Task[T]") -> None:
        if self._task is task:
            self._task = None
        if not task.cancelled():
            task.exception()  # mark retrieved so an unawaited failure is not logged
