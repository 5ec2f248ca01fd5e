"""Which headers cross the proxy, in each direction, and which it adds."""

from urllib.parse import urlsplit

from starlette.types import Scope

from bff.logs import request_id

RawHeaders = list[tuple[bytes, bytes]]

# RFC 9110 §7.6.1 (Connection) plus the classic RFC 2616 §13.5.1 list
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# never forwarded: the browser's credentials (the token is ours to add) and anything
# that lets the browser speak for the proxy
_DROP_REQUEST = HOP_BY_HOP | {
    b"host",
    b"cookie",
    b"authorization",
    b"x-csrf",
    b"forwarded",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-forwarded-port",
    b"x-real-ip",
    b"x-request-id",
    # routing and method overrides some frameworks honour: they would let a request
    # reach another path or method than the one the BFF checked
    b"x-original-url",
    b"x-rewrite-url",
    b"x-http-method-override",
    b"x-http-method",
    b"x-method-override",
}
# Upstream headers that would act on the BFF's own origin, not just on this response:
# cookies, a service-worker scope, wiping the origin's storage (and our session cookie),
# CORS grants (the BFF is same-origin only), a timed navigation.
_DROP_RESPONSE = HOP_BY_HOP | {
    b"set-cookie",
    b"set-cookie2",
    b"x-request-id",
    b"service-worker-allowed",
    b"clear-site-data",
    b"refresh",
    b"x-content-type-options",
}
_ACCESS_CONTROL = b"access-control-"
#: added to every proxied response: no MIME sniffing into HTML, no framing or scripts if
#: a browser ever renders one as a document (CSP Level 3 `sandbox`)
_ADD_RESPONSE = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"sandbox; default-src 'none'; frame-ancestors 'none'"),
]
#: when the upstream says nothing: tokens authorised this answer, no shared cache may keep it
_DEFAULT_CACHE_CONTROL = (b"cache-control", b"private, no-store")


def _strip(raw: RawHeaders, drop: frozenset[bytes]) -> RawHeaders:
    """`raw` without the `drop` headers and those a `Connection` header names (RFC 9110
    §7.6.1: they are hop-by-hop too, so a client cannot smuggle one past us)."""
    named = {
        v.strip().lower()
        for n, value in raw
        if n.lower() == b"connection"
        for v in value.split(b",")
    }
    return [
        (lower, value)
        for name, value in raw
        if (lower := name.lower()) not in drop and lower not in named
    ]


def response_headers(raw: RawHeaders) -> RawHeaders:
    """The upstream's response headers as the browser gets them."""
    headers = [h for h in _strip(raw, _DROP_RESPONSE) if not h[0].startswith(_ACCESS_CONTROL)]
    if not any(name == b"cache-control" for name, _ in headers):
        headers.append(_DEFAULT_CACHE_CONTROL)
    return [*headers, *_ADD_RESPONSE]


class Forwarding:
    """The request headers the upstream gets: the browser's, minus its credentials and
    claims, plus our bearer token and the `X-Forwarded-*` facts the BFF vouches for."""

    def __init__(self, public_url: str) -> None:
        public = urlsplit(public_url)
        self._proto = public.scheme.encode()
        self._host = public.netloc.encode()

    def headers(self, scope: Scope, access_token: str) -> RawHeaders:
        client = scope.get("client")
        return [
            *_strip(scope["headers"], _DROP_REQUEST),
            (b"authorization", b"Bearer " + access_token.encode()),
            (b"x-forwarded-for", (client[0] if client else "unknown").encode()),
            (b"x-forwarded-proto", self._proto),
            (b"x-forwarded-host", self._host),
            # the RequestIdMiddleware's id: the browser's when sane, else a fresh one
            (b"x-request-id", request_id.get().encode()),
        ]
