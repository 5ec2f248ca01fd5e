"""Single-flight: concurrent callers of one refresh share one in-flight task."""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


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


class KeyedSingleFlight(Generic[K, T]):
    """One `SingleFlight` per key: at most one `fn()` per key at a time; callers with the
    same key arriving meanwhile await the same result. A key is dropped when its call ends."""

    def __init__(self) -> None:
        self._tasks: dict[K, asyncio.Task[T]] = {}

    def running(self, key: K) -> bool:
        """Whether a call for `key` is in flight that a new caller would join."""
        return key in self._tasks

    async def run(self, key: K, fn: Callable[[], Awaitable[T]]) -> T:
        """Await `fn()`, or the call already in flight for `key`. Raises whatever `fn` raises."""
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(fn())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._clear(key, done))
        # shield: one impatient (cancelled) caller must not cancel the others' call
        return await asyncio.shield(task)

    def _clear(self, key: K, task: "asyncio.Task[T]") -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            task.exception()  # mark retrieved so an unawaited failure is not logged
