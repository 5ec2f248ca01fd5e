"""OpenID Provider metadata (OpenID Connect Discovery 1.0), cached with a TTL."""

import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.clock import Clock, system_clock
from shared.errors import ProviderError
from shared.fetch import RetryPolicy, fetch_json
from shared.freshness import Freshness

logger = logging.getLogger(__name__)

WELL_KNOWN = "/.well-known/openid-configuration"


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# no whitespace or control characters: an issuer is compared character for character
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f-\x9f]")


def is_loopback_host(host: str | None) -> bool:
    """Whether `host` (a URL's hostname) is a loopback name or address (RFC 6761 §6.3)."""
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_issuer(value: str) -> str:
    """`value` unchanged when it is usable as an issuer URL; for both apps' settings.

    OIDC Discovery 1.0 §3 / RFC 8414 §2: an https URL with a host, no query and no
    fragment; plain http is accepted on a loopback host only (local development). Raises
    `ValueError` with a message fit to follow the variable's name (`BFF_OIDC_ISSUER: ...`).
    """
    if _UNPRINTABLE.search(value):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an absolute https URL (https://host[:port][/path])")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError("must not contain a query or a fragment")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError("must use https (plain http is allowed on a loopback host only)")
    return value


def _plain_http_allowed(issuer: str) -> bool:
    """Only a plain-http loopback issuer (development) may name plain-http endpoints."""
    parts = urlsplit(issuer)
    return parts.scheme == "http" and is_loopback_host(parts.hostname)


def _url(doc: Mapping[str, Any], name: str, *, required: bool, http_ok: bool) -> str | None:
    value = doc.get(name)
    if value is None and not required:
        return None
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        parts = None
    if parts is None or parts.scheme not in ("https", "http"):
        raise ProviderError(f"discovery document: {name} is missing or not an http(s) URL")
    if not parts.netloc:
        raise ProviderError(f"discovery document: {name} has no host")
    # RFC 6749 §3.1-3.2, RFC 7009 §2, RFC 7662 §4, OIDC Discovery 1.0 §3: every endpoint
    # is TLS; a single plain-http one would expose codes, tokens, client secrets or the
    # key set to the network. Loopback development (`http_ok`) stays on loopback.
    if parts.scheme == "http" and not (http_ok and is_loopback_host(parts.hostname)):
        raise ProviderError(f"discovery document: {name} must use https")
    assert isinstance(value, str)
    return value


def _strings(doc: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = doc.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProviderError(f"discovery document: {name} is not a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None = None
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] = ()
    id_token_signing_alg_values_supported: tuple[str, ...] = ()
    authorization_response_iss_parameter_supported: bool = False
    backchannel_logout_supported: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], expected_issuer: str) -> "ProviderMetadata":
        """Validate a discovery document. Raises `ProviderError`."""
        # OpenID Connect Discovery 1.0 §4.3: the issuer must be identical to the one
        # configured, character for character (mix-up defence; no slash normalising).
        if doc.get("issuer") != expected_issuer:
            raise ProviderError("discovery document: issuer does not match the configured issuer")
        http_ok = _plain_http_allowed(expected_issuer)

        def url(name: str, *, required: bool = False) -> str | None:
            return _url(doc, name, required=required, http_ok=http_ok)

        return cls(
            issuer=expected_issuer,
            authorization_endpoint=url("authorization_endpoint", required=True) or "",
            token_endpoint=url("token_endpoint", required=True) or "",
            jwks_uri=url("jwks_uri", required=True) or "",
            end_session_endpoint=url("end_session_endpoint"),
            revocation_endpoint=url("revocation_endpoint"),
            introspection_endpoint=url("introspection_endpoint"),
            userinfo_endpoint=url("userinfo_endpoint"),
            token_endpoint_auth_methods_supported=_strings(
                doc, "token_endpoint_auth_methods_supported"
            ),
            code_challenge_methods_supported=_strings(doc, "code_challenge_methods_supported"),
            id_token_signing_alg_values_supported=_strings(
                doc, "id_token_signing_alg_values_supported"
            ),
            authorization_response_iss_parameter_supported=(
                doc.get("authorization_response_iss_parameter_supported") is True
            ),
            backchannel_logout_supported=doc.get("backchannel_logout_supported") is True,
            raw=dict(doc),
        )


class MetadataCache:
    """Provider metadata fetched on first use and again after `ttl_s` seconds.

    Concurrent callers share one fetch. When a refetch fails, the previous metadata
    keeps being served (stale-if-error) and no new fetch is tried for `error_backoff_s`;
    with nothing cached, `get` raises `ProviderError`. The constructor raises
    `ValueError` for a non-positive TTL.
    """

    def __init__(
        self,
        issuer: str,
        client: httpx.AsyncClient,
        *,
        ttl_s: float = 3600.0,  # 1 hour
        error_backoff_s: float = 5.0,
        clock: Clock = system_clock,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.issuer = issuer
        # OIDC Discovery 1.0 §4: the issuer with any trailing slash removed, then the path
        self.url = issuer.rstrip("/") + WELL_KNOWN
        self._client = client
        self._retry = retry or RetryPolicy(attempts=3)
        self._metadata: ProviderMetadata | None = None
        self._freshness = Freshness(
            self._fetch,
            what="provider metadata",
            ttl_s=ttl_s,
            error_backoff_s=error_backoff_s,
            clock=clock,
        )

    @property
    def current(self) -> ProviderMetadata | None:
        """The cached metadata, fresh or stale, without fetching."""
        return self._metadata

    @property
    def fresh(self) -> bool:
        return self._freshness.fresh

    async def get(self) -> ProviderMetadata:
        """Return current metadata, fresh or (while the provider fails) stale.

        Raises `ProviderError` when none can be had.
        """
        await self._freshness.refresh_if_stale()
        if self._metadata is None:  # refresh_if_stale raised already; kept for the types
            raise ProviderError("provider metadata unavailable")
        return self._metadata

    async def jwks_uri(self) -> str:
        """The provider's `jwks_uri`, for `JWKSCache(client, metadata.jwks_uri)`.

        Raises `ProviderError`.
        """
        return (await self.get()).jwks_uri

    async def _fetch(self) -> None:
        doc = await fetch_json(self._client, self.url, policy=self._retry)
        self._metadata = ProviderMetadata.from_document(doc, self.issuer)
