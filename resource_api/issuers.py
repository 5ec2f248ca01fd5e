"""Which issuer checks a bearer token: the JWS's own `iss` picks one of the configured
issuers, each with its own discovery and JWKS; an opaque token goes to introspection.

SPEC: `API_OIDC_ISSUER` may list several issuers. The `iss` claim is read before the
signature is checked only to choose whose keys check it: the chosen verifier then
verifies the signature against that issuer's keys alone and requires `iss` to equal it,
so a token cannot borrow another issuer's trust (RFC 8725 §3.8, RFC 9068 §4).
"""

import json
from collections.abc import Mapping, Sequence
from typing import Protocol

import httpx
from joserfc import jws
from joserfc.errors import JoseError

from resource_api.settings import Settings
from shared import (
    Introspector,
    InvalidToken,
    JWKSCache,
    MetadataCache,
    TokenProfile,
    TokenVerifier,
    VerifiedToken,
    looks_like_jws,
)


class Verifier(Protocol):
    async def verify(self, token: str, profile: TokenProfile) -> VerifiedToken: ...


class IssuerVerifiers:
    """One `TokenVerifier` per issuer, and the introspector for opaque tokens (or None)."""

    def __init__(
        self, verifiers: Mapping[str, TokenVerifier], introspector: Introspector | None
    ) -> None:
        self._verifiers = dict(verifiers)
        self._only = next(iter(self._verifiers.values())) if len(self._verifiers) == 1 else None
        self._introspector = introspector

    async def verify(self, token: str, profile: TokenProfile) -> VerifiedToken:
        """Raises `InvalidToken` (bad token, unlisted issuer) or `ProviderError`."""
        if not looks_like_jws(token):
            if self._introspector is not None:
                # RFC 7662: an opaque token is only the issuer's to judge
                return await self._introspector.introspect(token)
            raise InvalidToken("malformed token")
        if self._only is not None:
            return await self._only.verify(token, profile)
        verifier = self._verifiers.get(_unverified_issuer(token))
        if verifier is None:
            raise InvalidToken("token issuer is not accepted here")
        return await verifier.verify(token, profile)


def _unverified_issuer(token: str) -> str:
    try:
        payload = json.loads(jws.extract_compact(token.encode("ascii")).payload)
    except (JoseError, ValueError, UnicodeError):
        raise InvalidToken("malformed token") from None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    if not isinstance(issuer, str):
        raise InvalidToken("token has no issuer")
    return issuer


def build_verifiers(
    settings: Settings, client: httpx.AsyncClient, profile: TokenProfile
) -> IssuerVerifiers:
    """A metadata cache and JWKS cache per issuer (`API_JWKS_URL` overrides the first's);
    with `API_INTROSPECTION_CLIENT_ID` set, an introspector at the first issuer."""
    issuers: Sequence[str] = settings.issuers
    verifiers: dict[str, TokenVerifier] = {}
    first_metadata: MetadataCache | None = None
    for index, issuer in enumerate(issuers):
        metadata = MetadataCache(issuer, client)
        first_metadata = first_metadata or metadata
        jwks_url = settings.jwks_url if index == 0 and settings.jwks_url else metadata.jwks_uri
        verifiers[issuer] = TokenVerifier(
            JWKSCache(client, jwks_url),
            issuer=issuer,
            algorithms=settings.algorithms,
            leeway_s=settings.leeway_s,
        )
    introspector = None
    if settings.introspection_client_id and first_metadata is not None:
        introspector = Introspector(
            client,
            first_metadata,
            client_id=settings.introspection_client_id,
            client_secret=settings.introspection_client_secret.get_secret_value(),
            profile=profile,
            cache_s=settings.introspection_cache_s,
            leeway_s=settings.leeway_s,
        )
    return IssuerVerifiers(verifiers, introspector)
