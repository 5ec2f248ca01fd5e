"""Headers across the proxy: the request id, dropped routing overrides, upstream headers
that would act on the BFF's origin."""

from pathlib import Path

import httpx

from tests.bff.conftest import Harness, build_harness


async def test_request_id_kept_when_sane_replaced_otherwise(harness: Harness) -> None:
    await harness.login()
    await harness.api("/api/items", headers={"X-Request-ID": "req-12345678"})
    assert harness.upstream.headers_of()["x-request-id"] == ["req-12345678"]
    response = await harness.api("/api/items", headers={"X-Request-ID": "bad id\twith spaces"})
    forwarded = harness.upstream.headers_of()["x-request-id"]
    assert forwarded != ["bad id\twith spaces"]
    assert len(forwarded) == 1
    assert response.headers["x-request-id"] == forwarded[0]


async def test_routing_and_method_override_headers_are_dropped(harness: Harness) -> None:
    await harness.login()
    names = [
        "X-Original-URL",
        "X-Rewrite-URL",
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
    ]
    response = await harness.api("/api/items", headers={n: "/admin" for n in names})
    assert response.status_code == 200
    received = harness.upstream.headers_of()
    assert not {n.lower() for n in names} & set(received)


def _answering(headers: list[tuple[str, str]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        # a fresh stream: the proxy reads the raw body itself
        return httpx.Response(
            200, headers=[*headers, ("content-length", "2")], stream=httpx.ByteStream(b"{}")
        )

    return httpx.MockTransport(handler)


async def test_upstream_headers_that_act_on_the_origin_are_dropped(tmp_path: Path) -> None:
    upstream_headers = [
        ("Service-Worker-Allowed", "/"),
        ("Clear-Site-Data", '"*"'),
        ("Access-Control-Allow-Origin", "https://evil.test"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Refresh", "0; url=https://evil.test"),
        ("X-Content-Type-Options", "sniff-away"),
        ("Content-Type", "application/json"),
    ]
    harness = build_harness(tmp_path, upstream_transport=_answering(upstream_headers))
    async with harness.client, harness.outbound:
        await harness.login()
        response = await harness.api("/api/items")
        assert response.status_code == 200
        for name in ("service-worker-allowed", "clear-site-data", "refresh"):
            assert name not in response.headers
        assert not any(k.startswith("access-control-") for k in response.headers)
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]
        assert response.headers["cache-control"] == "private, no-store"
        assert "sandbox" in response.headers["content-security-policy"]


async def test_upstream_cache_control_is_kept(tmp_path: Path) -> None:
    transport = _answering([("Cache-Control", "public, max-age=60")])
    harness = build_harness(tmp_path, upstream_transport=transport)
    async with harness.client, harness.outbound:
        await harness.login()
        response = await harness.api("/api/items")
        assert response.headers.get_list("cache-control") == ["public, max-age=60"]
