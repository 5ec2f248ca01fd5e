"""The Redis session store with two BFF instances sharing it: a session made on one works on
the other, and a back-channel logout delivered to one ends it on both."""

import os
from collections.abc import Iterator

import pytest

from tests.e2e.browser import Browser, forms
from tests.e2e.stack import E2EStack, running_stack

REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def redis_stack() -> Iterator[E2EStack]:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
    env = {"BFF_SESSION_STORE": "redis", "BFF_REDIS_URL": REDIS_URL}
    with running_stack("redis-store", bff_env=env) as running:
        yield running


def test_two_instances_share_sessions_and_logout(redis_stack: E2EStack, user_name: str) -> None:
    second_url = redis_stack.start_another_bff("bff-2")
    with Browser(redis_stack.bff_url) as first:
        first.login(user_name)
        cookie_values = [c.value for c in first.client.cookies.jar]
        assert all(len(v) < 200 for v in cookie_values), "the cookie should hold only an id"

        # Same cookie jar (cookies ignore ports), other instance.
        second = Browser(second_url)
        second.client.cookies = first.client.cookies
        try:
            assert second.me().json()["sub"] == user_name
            created = second.api("POST", "/products", json={"name": "from instance 2"})
            assert created.status_code == 201, created.text

            # Sign out at the provider: the logout token reaches the first instance only.
            page = first.navigate(f"{redis_stack.issuer}/session/end")
            (form,) = forms(page.text)
            first.submit(page, form, {"logout": "yes"})
            assert redis_stack.provider_stats()["backchannel_success"] >= 1

            assert first.me().status_code == 401
            assert second.me().status_code == 401
            assert second.api("GET", "/products").status_code == 401
        finally:
            second.close()
