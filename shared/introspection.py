"""OAuth 2.0 Token Introspection (RFC 7662) of opaque access tokens, with its cache.

A bearer token that is not a JWS (`looks_like_jws`) is sent to the issuer's
`introspection_endpoint`, read from its discovery document, with `client_secret_basic`.
The answer is judged like a JWT's claims (`check_claims`: `iss`, `aud`, `exp`, `nbf`,
`iat`, the profile's rules) and becomes the same `VerifiedToken` the verifier returns,
so the caller builds one `Principal` from either.

- Answers are cached by SHA-256 of the token, for at most `cache_s` and never past the
  token's `exp`; refusals for at most `negative_cache_s` (see `Introspector`).
- Concurrent calls for one token share one request (single-flight per token hash).
- Nothing is accepted on doubt: an endpoint that is down, answers 5xx, non-JSON, too
  much, or no boolean `active` raises `ProviderError` (503 at the API's edge), never an
  answer, and after such a failure new requests wait `error_backoff_s`.
"""

import base64
import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

import httpx

from shared.clock import Clock, system_clock
from shared.discovery import MetadataCache
from shared.errors import InvalidToken, ProviderError, SharedError
from shared.expiring import ExpiringLRU
from shared.fetch import RetryPolicy, post_form_json
from shared.profiles import TokenProfile
from shared.singleflight import KeyedSingleFlight
from shared.verifier import MAX_TOKEN_BYTES, VerifiedToken, check_claims

__all__ = ["MAX_ANSWER_BYTES", "Introspector", "basic_authorization"]

logger = logging.getLogger(__name__)

#: An introspection answer is a handful of claims; anything larger is refused (64 KiB).
MAX_ANSWER_BYTES = 64 * 1024

Outcome = VerifiedToken | InvalidToken
#: called once per answer from the endpoint: "active", "inactive", "rejected" or "error"
Observer = Callable[[str], None]


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The `Authorization` value of `client_secret_basic` (RFC 7662 §2.1).

    RFC 6749 §2.3.1: the id and the secret are each form-urlencoded (Appendix B) before
    they become the user and password of HTTP Basic (RFC 7617 §2), so a `:` or a
    non-ASCII character in either survives the trip.
    """
    user = quote_plus(client_id, safe="")
    password = quote_plus(client_secret, safe="")
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("ascii")).decode("ascii")


class Introspector:
    """Introspects opaque tokens at the issuer of `metadata` for one `profile`.

    - `profile` is the same access-token profile the verifier uses for JWTs (audiences,
      required claims, its own checks); its token types do not apply (no header).
    - `cache_s` (seconds, `API_INTROSPECTION_CACHE_S`) bounds how long an active answer
      is served; the token's `exp` bounds it too. 0 disables the cache.
    - `negative_cache_s` (seconds, at most `cache_s`) is how long a refusal is served:
      long enough that a client retrying a dead token in a loop, or a page firing many
      requests with one just-expired token, costs one request per period; short, because
      a refusal can turn into an acceptance (a token whose `nbf` is seconds away, a
      provider whose store has not yet seen a fresh token), which then waits that long.
    - `max_entries` bounds the cache (least recently used entries go first).
    - `error_backoff_s` (seconds): after the endpoint failed, uncached tokens get
      `ProviderError` at once for this long instead of another request each, so an
      outage is not multiplied by our traffic. 0 disables it.

    The constructor raises `ValueError` for empty credentials or a negative bound.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        metadata: MetadataCache,
        *,
        client_id: str,
        client_secret: str,
        profile: TokenProfile,
        cache_s: float = 60.0,
        negative_cache_s: float = 10.0,
        max_entries: int = 10_000,
        leeway_s: int = 30,
        error_backoff_s: float = 5.0,
        clock: Clock = system_clock,
        retry: RetryPolicy | None = None,
        observe: Observer | None = None,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("client_secret_basic needs a client id and a client secret")
        if min(cache_s, negative_cache_s, max_entries, leeway_s, error_backoff_s) < 0:
            raise ValueError("cache bounds, leeway and back-off must not be negative")
        self._client = client
        self._metadata = metadata
        # computed once; the secret is kept in no other form and never printed
        self._authorization = basic_authorization(client_id, client_secret)
        self._profile = profile
        self._positive_s = cache_s if profile.cacheable else 0.0
        self._negative_s = min(negative_cache_s, self._positive_s)
        self._leeway_s = leeway_s
        self._error_backoff_s = error_backoff_s
        self._clock = clock
        self._retry = retry or RetryPolicy(attempts=2)
        self._observe = observe or (lambda outcome: None)
        self._cache: ExpiringLRU[bytes, Outcome] = ExpiringLRU(max_entries, clock)
        self._flight: KeyedSingleFlight[bytes, Outcome] = KeyedSingleFlight()
        self._failed_at: float | None = None

    def __repr__(self) -> str:
        return f"Introspector(issuer={self._metadata.issuer!r})"

    async def introspect(self, token: object) -> VerifiedToken:
        """The claims of an active opaque `token`, checked like a JWT's.

        Raises `InvalidToken` for a token that is malformed, inactive (`active: false`)
        or whose claims are refused, and `ProviderError` when the provider cannot say:
        discovery or the endpoint down, 5xx, a non-JSON or oversized answer, `active`
        missing or not a boolean, no `introspection_endpoint`. Nothing else escapes.
        """
        try:
            return await self._introspect(token)
        except SharedError:
            raise
        except Exception as exc:  # a surprise is doubt, never a 500 and never a yes
            logger.error("token introspection failed unexpectedly (%s)", type(exc).__name__)
            raise ProviderError("token introspection failed") from None

    def clear_cache(self) -> None:
        """Forget every cached answer (e.g. after a revocation)."""
        self._cache.clear()

    async def _introspect(self, token: object) -> VerifiedToken:
        if not isinstance(token, str):
            raise InvalidToken("token is not a string")
        if not token:
            raise InvalidToken("malformed token")
        # the same bound as for a JWT, before the token goes anywhere
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("token too large")
        key = hashlib.sha256(token.encode()).digest()
        outcome = self._cache.get(key)
        if outcome is None:
            outcome = await self._flight.run(key, lambda: self._ask(token, key))
        if isinstance(outcome, InvalidToken):
            # a fresh exception per caller: one shared instance would gather every
            # caller's traceback
            raise InvalidToken(outcome.description)
        return outcome

    async def _ask(self, token: str, key: bytes) -> Outcome:
        # a caller that missed the cache just before another's flight stored its answer
        outcome = self._cache.get(key)
        if outcome is not None:
            return outcome
        if self._failed_at is not None and self._clock() - self._failed_at < self._error_backoff_s:
            raise ProviderError("token introspection unavailable; retrying shortly")
        try:
            metadata = await self._metadata.get()
            endpoint = metadata.introspection_endpoint
            if endpoint is None:
                raise ProviderError("the provider publishes no introspection_endpoint")
            answer = await post_form_json(
                self._client,
                endpoint,
                # RFC 7662 §2.1: the token, and a hint the server may ignore
                {"token": token, "token_type_hint": "access_token"},
                headers={"Authorization": self._authorization},
                policy=self._retry,
                max_bytes=MAX_ANSWER_BYTES,
            )
            outcome = self._judge(answer, metadata.issuer)
        except ProviderError:
            self._failed_at = self._clock()
            self._observe("error")
            raise
        self._failed_at = None
        self._remember(key, outcome)
        return outcome

    def _judge(self, answer: Mapping[str, Any], issuer: str) -> Outcome:
        active = answer.get("active")
        # RFC 7662 §2.2: `active` is the one REQUIRED member, a JSON boolean; anything
        # else ("true", 1, missing) is a provider we cannot understand, not a yes
        if not isinstance(active, bool):
            raise ProviderError("introspection answer has no boolean 'active'")
        if not active:
            self._observe("inactive")
            return InvalidToken("token is not active")
        claims = dict(answer)
        try:
            self._check(claims, issuer)
        except InvalidToken as refused:
            self._observe("rejected")
            return refused
        self._observe("active")
        # an introspected token has no JOSE header
        return VerifiedToken(header={}, claims=claims)

    def _check(self, claims: dict[str, Any], issuer: str) -> None:
        # RFC 7662 §2.2: `iss` is OPTIONAL. When present it must be exactly our issuer
        # (checked below, as for a JWT). When absent, the issuer is assumed: the
        # endpoint comes from that issuer's own discovery document, fetched over TLS
        # (https-only for an https issuer) and bound to it (OIDC Discovery 1.0 §4.3),
        # and the answer to our authenticated request over TLS (RFC 7662 §4) can only
        # speak for it.
        claims.setdefault("iss", issuer)
        # RFC 7662 §2.2 / RFC 6750: only bearer access tokens; oidc-provider omits
        # token_type for refresh tokens, which then fail on `aud` or the profile's rules
        token_type = claims.get("token_type")
        if token_type is not None and (
            not isinstance(token_type, str) or token_type.lower() != "bearer"
        ):
            raise InvalidToken("token is not a bearer access token")
        # Ory Hydra names the kind of token in `token_use`
        if claims.get("token_use", "access_token") != "access_token":
            raise InvalidToken("not an access token")
        # RFC 9449 §6.2 / RFC 8705 §3.2: a sender-constrained token is only good with a
        # proof of possession, which a plain bearer request does not carry
        if "cnf" in claims:
            raise InvalidToken("sender-constrained tokens (cnf) are not accepted")
        # RFC 7662 §2.2: a space-separated string, so the scopes read are the granted ones
        if not isinstance(claims.get("scope", ""), str):
            raise InvalidToken("token scope is not a string")
        check_claims(
            claims, self._profile, issuer=issuer, now=self._clock(), leeway_s=self._leeway_s
        )

    def _remember(self, key: bytes, outcome: Outcome) -> None:
        now = self._clock()
        if isinstance(outcome, InvalidToken):
            until = now + self._negative_s
        else:
            # never past exp (SPEC "API_INTROSPECTION_CACHE_S")
            until = min(now + self._positive_s, outcome.expires_at)
        self._cache.put(key, outcome, until)
