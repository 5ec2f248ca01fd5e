"""The OAuth 2.0 / OpenID Connect client side of the BFF, over one shared `httpx.AsyncClient`.

Authorization Code with PKCE S256 (RFC 7636), refresh (RFC 6749 §6), revocation
(RFC 7009) and RP-initiated logout (OIDC RP-Initiated Logout 1.0). PKCE and URL helpers
come from authlib; the HTTP calls go through the injected client so the proxy, the
provider and the tests share one transport seam (no per-request client state).
"""

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from bff.b64 import b64url_decode
from bff.errors import OAuthFailure, ProviderUnavailable
from bff.settings import Settings
from shared import (
    MetadataCache,
    ProviderMetadata,
    SharedError,
    TokenProfile,
    TokenVerifier,
    VerifiedToken,
)
from shared.clock import Clock

logger = logging.getLogger(__name__)

MAX_TOKEN_RESPONSE_BYTES = 64 * 1024
TOKEN_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
#: expiry assumed when neither `expires_in` nor a readable `exp` says otherwise (5 minutes)
DEFAULT_EXPIRES_IN_S = 300
#: statuses that say "not now" rather than anything about the grant (RFC 6585 §4, RFC 9110)
_TRANSIENT_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_at: float
    refresh_token: str | None
    id_token: str | None


class Provider:
    def __init__(
        self,
        settings: Settings,
        client: httpx.AsyncClient,
        metadata: MetadataCache,
        verifier: TokenVerifier,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._client = client
        self.metadata = metadata
        self._verifier = verifier
        self._clock = clock

    async def authorization_url(
        self, *, state: str, nonce: str, code_verifier: str, prompt: str | None
    ) -> str:
        """The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) with PKCE S256
        (RFC 7636 §4.3). Raises `SharedError` when the provider metadata cannot be loaded."""
        meta = await self.metadata.get()
        params: list[tuple[str, str]] = [
            ("response_type", "code"),
            ("client_id", self._settings.client_id),
            ("redirect_uri", self._settings.redirect_uri),
            ("scope", self._settings.scopes),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", create_s256_code_challenge(code_verifier)),
            ("code_challenge_method", "S256"),
        ]
        if prompt:
            params.append(("prompt", prompt))
        if self._settings.resource:
            params.append(("resource", self._settings.resource))
        return str(add_params_to_uri(meta.authorization_endpoint, params))

    async def exchange_code(self, code: str, code_verifier: str) -> Tokens:
        return await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._settings.redirect_uri,
                "code_verifier": code_verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    async def verify_id_token(self, id_token: str) -> VerifiedToken:
        """Signature, iss, aud, azp, exp, iat, sub (shared). Raises `SharedError`."""
        return await self._verifier.verify(
            id_token, TokenProfile.id_token(self._settings.client_id)
        )

    async def verify_logout_token(self, token: str) -> VerifiedToken:
        return await self._verifier.verify(
            token, TokenProfile.logout_token(self._settings.client_id)
        )

    async def revoke(self, token: str, hint: str = "refresh_token") -> None:
        """RFC 7009 revocation when the provider advertises it; failures are only logged.

        Never raises: logout must clear the session even when the provider is down.
        """
        try:
            meta = self.metadata.current or await self.metadata.get()
        except SharedError as exc:
            logger.warning("token revocation skipped, no provider metadata: %s", exc.description)
            return
        if not meta.revocation_endpoint:
            return
        try:
            data, headers = self._authenticate({"token": token, "token_type_hint": hint}, meta)
            response = await self._client.post(
                meta.revocation_endpoint, data=data, headers=headers, timeout=TOKEN_TIMEOUT
            )
            if response.status_code != 200:
                logger.warning("token revocation answered HTTP %d", response.status_code)
        except httpx.HTTPError as exc:
            logger.warning("token revocation failed: %s", type(exc).__name__)

    def end_session_url(self, id_token: str | None) -> str | None:
        meta = self.metadata.current
        if meta is None or not meta.end_session_endpoint:
            return None
        params = [
            ("client_id", self._settings.client_id),
            ("post_logout_redirect_uri", self._settings.post_logout_redirect_uri),
        ]
        if id_token:
            params.insert(0, ("id_token_hint", id_token))
        return str(add_params_to_uri(meta.end_session_endpoint, params))

    def _authenticate(
        self, data: dict[str, str], meta: ProviderMetadata
    ) -> tuple[dict[str, str], dict[str, str]]:
        secret = self._settings.client_secret.get_secret_value()
        client_id = self._settings.client_id
        headers = {"Accept": "application/json"}
        if not secret:
            return {**data, "client_id": client_id}, headers  # public client (RFC 6749 §3.2.1)
        methods = meta.token_endpoint_auth_methods_supported
        if methods and "client_secret_basic" not in methods and "client_secret_post" in methods:
            return {**data, "client_id": client_id, "client_secret": secret}, headers
        # RFC 6749 §2.3.1: form-urlencode id and secret before Basic encoding
        userpass = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(userpass).decode()
        return data, headers

    async def _token_request(self, data: dict[str, str]) -> Tokens:
        """Raises `OAuthFailure`; `ProviderUnavailable` when nothing is known about the grant."""
        try:
            meta = await self.metadata.get()
        except SharedError as exc:
            raise ProviderUnavailable(f"provider metadata unavailable: {exc.description}") from None
        if self._settings.resource:
            data["resource"] = self._settings.resource  # RFC 8707 §2.2
        data, headers = self._authenticate(data, meta)
        try:
            response = await self._client.post(
                meta.token_endpoint, data=data, headers=headers, timeout=TOKEN_TIMEOUT
            )
        except httpx.TimeoutException:
            raise ProviderUnavailable("token endpoint timed out", timeout=True) from None
        except httpx.HTTPError as exc:
            name = type(exc).__name__
            raise ProviderUnavailable(f"token endpoint unreachable ({name})") from None
        status = response.status_code
        if status >= 500 or status in _TRANSIENT_STATUSES:
            raise ProviderUnavailable(f"token endpoint answered HTTP {status}")
        body = _json_object(response)
        if status != 200:
            error = body.get("error") if body else None
            if not isinstance(error, str) or not error:
                # not an RFC 6749 §5.2 answer (an HTML page, a proxy's): says nothing about
                # the grant; the refresher keeps the session for anything but invalid_grant
                raise OAuthFailure("invalid_response", f"HTTP {status}")
            if error == "temporarily_unavailable":
                raise ProviderUnavailable("token endpoint is temporarily unavailable")
            description = body.get("error_description") if body else None
            raise OAuthFailure(error[:64], str(description or "")[:200])
        if body is None:
            raise OAuthFailure("invalid_response", "token response is not a JSON object")
        return self._tokens(body)

    def _tokens(self, body: dict[str, Any]) -> Tokens:
        access, token_type = body.get("access_token"), body.get("token_type")
        if not isinstance(access, str) or not access:
            raise OAuthFailure("invalid_response", "token response lacks access_token")
        # RFC 6749 §5.1 / RFC 6750: we can only forward Bearer tokens
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise OAuthFailure("invalid_response", "token_type is not Bearer")
        refresh, id_token = body.get("refresh_token"), body.get("id_token")
        expires_in = body.get("expires_in")
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)
        now = self._clock()
        if isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0:
            expires_at = now + expires_in
        else:
            expires_at = _peek_exp(access) or now + DEFAULT_EXPIRES_IN_S
        return Tokens(
            access_token=access,
            expires_at=float(expires_at),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            id_token=id_token if isinstance(id_token, str) and id_token else None,
        )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    if len(response.content) > MAX_TOKEN_RESPONSE_BYTES:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _peek_exp(token: str) -> float | None:
    """Unverified `exp` of a JWT access token, used only to schedule refresh."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(b64url_decode(payload))
        exp = claims.get("exp")
        return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
    except (IndexError, ValueError, AttributeError, TypeError):
        return None
