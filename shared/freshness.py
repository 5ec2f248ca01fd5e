"""When a document fetched from the provider (discovery, JWKS) is refetched.

One schedule for both caches: fresh for `ttl_s` after a successful fetch; concurrent
refetches share one flight; after a failure no new fetch starts for `error_backoff_s`,
so a provider that is down is not hammered; and a failed refetch keeps what was cached
(stale-if-error, RFC 5861 §4 in spirit) unless nothing ever was.
"""

import logging
from collections.abc import Awaitable, Callable

from shared.clock import Clock
from shared.errors import ProviderError
from shared.singleflight import SingleFlight

logger = logging.getLogger(__name__)


class Freshness:
    """The fetch schedule of one cached document. `fetch` stores what it fetched.

    The constructor raises `ValueError` for a non-positive TTL or a negative back-off.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[None]],
        *,
        what: str,
        ttl_s: float,
        error_backoff_s: float,
        clock: Clock,
    ) -> None:
        if ttl_s <= 0 or error_backoff_s < 0:
            raise ValueError("ttl_s must be positive and error_backoff_s not negative")
        self._fetch = fetch
        self._what = what
        self._ttl_s = ttl_s
        self._error_backoff_s = error_backoff_s
        self._clock = clock
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._flight: SingleFlight[None] = SingleFlight()

    @property
    def loaded(self) -> bool:
        return self._fetched_at is not None

    @property
    def fresh(self) -> bool:
        """Loaded and younger than the TTL."""
        return self._fetched_at is not None and self._clock() - self._fetched_at < self._ttl_s

    @property
    def running(self) -> bool:
        """Whether a fetch is in flight that a new caller would join."""
        return self._flight.running

    async def refresh_if_stale(self) -> bool:
        """Fetch (or join a fetch) unless fresh or backing off after a failure.

        Returns whether a fetch was made or joined. Raises `ProviderError` only when
        nothing was ever loaded.
        """
        if self.fresh:
            return False
        if (
            self._failed_at is not None
            and not self._flight.running
            and self._clock() - self._failed_at < self._error_backoff_s
        ):
            if self._fetched_at is None:
                raise ProviderError(f"{self._what} unavailable; retrying shortly")
            return False
        await self.refresh()
        return True

    async def refresh(self) -> None:
        """Fetch now, or join the fetch in flight.

        Raises `ProviderError` only when nothing was ever loaded; otherwise a failed fetch
        keeps the cached document.
        """
        try:
            await self._flight.run(self._attempt)
        except ProviderError as exc:
            if self._fetched_at is None:
                raise
            logger.warning(
                "%s refresh failed, keeping the cached copy: %s", self._what, exc.description
            )

    async def _attempt(self) -> None:
        try:
            await self._fetch()
        except ProviderError:
            self._failed_at = self._clock()
            raise
        self._failed_at = None
        self._fetched_at = self._clock()
