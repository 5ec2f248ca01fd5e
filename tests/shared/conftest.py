"""Fixtures for the `shared` tests: a settable clock, recorded sleeps, a trusted issuer."""

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest

from shared import JWKSCache, TokenVerifier
from shared.fetch import RetryPolicy
from tests.support.clock import FakeClock
from tests.support.tokens import ISSUER, TokenFactory, generate_key

JWKS_URL = f"{ISSUER}/jwks"


class RecordedSleep:
    """An injectable `sleep` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def retry(sleeps: RecordedSleep) -> RetryPolicy:
    return RetryPolicy(attempts=3, sleep=sleeps)


@pytest.fixture(scope="session")
def factory() -> TokenFactory:
    """The trusted issuer: RS256, PS256, ES256 and EdDSA keys (key generation is slow)."""
    return TokenFactory(
        keys=[
            generate_key("RS256", "rsa-1"),
            generate_key("PS256", "ps-1"),
            generate_key("ES256", "ec-1"),
            generate_key("EdDSA", "ed-1"),
        ]
    )


@pytest.fixture(scope="session")
def tls() -> ssl.SSLContext:
    # building a default context loads the CA bundle (tens of ms): do it once
    return ssl.create_default_context()


@pytest.fixture
async def client(tls: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=tls) as c:
        yield c


def make_verifier(
    client: httpx.AsyncClient,
    clock: FakeClock,
    *,
    cache_size: int = 10_000,
    retry: RetryPolicy | None = None,
) -> TokenVerifier:
    keys = JWKSCache(client, JWKS_URL, clock=clock, retry=retry or RetryPolicy(attempts=1))
    return TokenVerifier(keys, issuer=ISSUER, clock=clock, cache_size=cache_size)
