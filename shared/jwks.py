"""JSON Web Key Set cache (RFC 7517) with rotation pickup, single-flight and cooldown.

- Keys are refetched after `ttl_s`.
- A token naming an unknown `kid` forces at most one refetch, shared by all concurrent
  callers, and forced refetches are at least `refetch_cooldown_s` apart, so forged `kid`s
  cannot make us hammer the provider.
- When the endpoint fails, cached keys stay in use (stale-if-error) and unknown `kid`s
  fail closed.
"""

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from shared.clock import Clock, system_clock
from shared.errors import InvalidToken, ProviderError, SharedError
from shared.fetch import RetryPolicy, fetch_json
from shared.freshness import Freshness

logger = logging.getLogger(__name__)

PublicKey = RSAKey | ECKey | OKPKey
JwksUri = str | Callable[[], Awaitable[str]]

_KEY_TYPES: dict[str, type[PublicKey]] = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}
# RFC 7518 §3.1 / RFC 8037 §3.1: which key type and curve each signature algorithm needs.
_ALG_KEY: dict[str, tuple[str, frozenset[str] | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    "Ed25519": ("OKP", frozenset({"Ed25519"})),
}
#: the signature algorithms a JWKS key can be matched to (never `none`, never HMAC)
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(_ALG_KEY)
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class _Entry:
    key: PublicKey
    kty: str
    crv: str | None
    alg: str | None
    use: str | None
    key_ops: tuple[str, ...] | None


def key_fits(entry: _Entry, alg: str) -> bool:
    """Whether a key may verify a signature made with `alg` (RFC 7517 §4.2-4.4)."""
    wanted = _ALG_KEY.get(alg)
    if wanted is None or entry.kty != wanted[0]:
        return False
    if wanted[1] is not None and entry.crv not in wanted[1]:
        return False
    if entry.alg is not None and entry.alg != alg:
        return False
    if entry.use is not None and entry.use != "sig":
        return False
    return entry.key_ops is None or "verify" in entry.key_ops


def _parse(jwk: Any) -> _Entry | None:
    if not isinstance(jwk, dict):
        return None
    kty = jwk.get("kty")
    key_cls = _KEY_TYPES.get(kty) if isinstance(kty, str) else None
    if key_cls is None:
        return None  # oct (HMAC) keys and unknown types never verify anything here
    public = {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "oth")}
    try:
        key = key_cls.import_key(public)
    except (JoseError, ValueError, TypeError, KeyError):
        return None
    if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
        return None
    ops = jwk.get("key_ops")
    return _Entry(
        key=key,
        kty=str(kty),
        crv=jwk.get("crv") if isinstance(jwk.get("crv"), str) else None,
        alg=jwk.get("alg") if isinstance(jwk.get("alg"), str) else None,
        use=jwk.get("use") if isinstance(jwk.get("use"), str) else None,
        key_ops=tuple(o for o in ops if isinstance(o, str)) if isinstance(ops, list) else None,
    )


class JWKSCache:
    """The signing keys of one issuer, fetched from its `jwks_uri`.

    `jwks_uri` is a URL or an async callable returning one (e.g. from discovery).
    The constructor raises `ValueError` for a cooldown under 30 s or a non-positive TTL.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        jwks_uri: JwksUri,
        *,
        ttl_s: float = 300.0,  # 5 minutes
        refetch_cooldown_s: float = 30.0,
        error_backoff_s: float = 5.0,
        clock: Clock = system_clock,
        retry: RetryPolicy | None = None,
    ) -> None:
        if refetch_cooldown_s < 30.0:
            raise ValueError("refetch_cooldown_s must be at least 30 seconds")
        self._client = client
        self._jwks_uri = jwks_uri
        self._cooldown_s = refetch_cooldown_s
        self._clock = clock
        self._retry = retry or RetryPolicy(attempts=2)
        self._by_kid: dict[str | None, list[_Entry]] = {}
        self._fingerprint = ""
        self._last_forced: float | None = None
        self._freshness = Freshness(
            self._fetch, what="JWKS", ttl_s=ttl_s, error_backoff_s=error_backoff_s, clock=clock
        )
        #: bumped whenever the key set changes; caches of verified tokens key on it
        self.version = 0

    @property
    def loaded(self) -> bool:
        return self._freshness.loaded

    @property
    def fresh(self) -> bool:
        """Loaded and younger than the TTL."""
        return self._freshness.fresh

    @property
    def kids(self) -> frozenset[str | None]:
        """The `kid`s of the usable keys currently cached."""
        return frozenset(self._by_kid)

    async def get_key(self, kid: str | None, alg: str) -> PublicKey:
        """The key for a token header's `kid` and `alg`.

        Raises `InvalidToken` when no suitable key exists (after at most one forced
        refetch), and `ProviderError` when no key set was ever loaded.
        """
        refreshed = await self.refresh_if_stale()
        entry = self._find(kid, alg)
        if entry is None and kid not in self._by_kid:
            now = self._clock()
            if self._freshness.running:
                # someone else's fetch is under way: share it rather than refuse
                await self._freshness.refresh()
                entry = self._find(kid, alg)
            elif not refreshed and self._may_force(now):
                # RFC 7517 §5 / OIDC Core §10.1.1: an unknown kid may mean the provider
                # rotated its keys; refetch once, then no more than once per cooldown.
                self._last_forced = now
                await self._freshness.refresh()
                entry = self._find(kid, alg)
        if entry is None:
            raise InvalidToken("no key of the issuer matches the token's kid and alg")
        return entry.key

    async def refresh_if_stale(self) -> bool:
        """Refetch when the TTL has passed, unless a recent failure says to wait.

        Returns whether a fetch was made or joined. Raises `ProviderError` only when no
        key set was ever loaded; otherwise a failed fetch keeps the cached keys.
        """
        return await self._freshness.refresh_if_stale()

    async def refresh(self) -> None:
        """Fetch the key set now (used at start and by readiness checks).

        Raises `ProviderError` only when no key set was ever loaded.
        """
        await self._freshness.refresh()

    def _may_force(self, now: float) -> bool:
        return self._last_forced is None or now - self._last_forced >= self._cooldown_s

    def _find(self, kid: str | None, alg: str) -> _Entry | None:
        if kid is None:
            # without a kid, only an unambiguous key may be used
            fitting = [e for entries in self._by_kid.values() for e in entries if key_fits(e, alg)]
        else:
            fitting = [e for e in self._by_kid.get(kid, ()) if key_fits(e, alg)]
        return fitting[0] if len(fitting) == 1 else None

    async def _uri(self) -> str:
        return self._jwks_uri if isinstance(self._jwks_uri, str) else await self._jwks_uri()

    async def _fetch(self) -> None:
        try:
            document = await fetch_json(self._client, await self._uri(), policy=self._retry)
            by_kid, fingerprint = _load(document)
        except SharedError as exc:
            raise ProviderError(exc.description) from None
        except Exception:
            logger.exception("JWKS fetch failed unexpectedly")
            raise ProviderError("JWKS could not be loaded") from None
        if fingerprint != self._fingerprint:
            self._by_kid, self._fingerprint = by_kid, fingerprint
            self.version += 1
            logger.info("JWKS loaded: %d usable keys, version %d", len(by_kid), self.version)


def _load(document: Mapping[str, Any]) -> tuple[dict[str | None, list[_Entry]], str]:
    """Parse a JWKS document. Raises `ProviderError` when it has no `keys` list."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ProviderError("JWKS document has no 'keys' list")
    by_kid: dict[str | None, list[_Entry]] = {}
    for jwk in keys:
        entry = _parse(jwk)
        if entry is None:
            logger.info("JWKS: skipped an unusable key")
            continue
        kid = jwk.get("kid")
        by_kid.setdefault(kid if isinstance(kid, str) else None, []).append(entry)
    return by_kid, _fingerprint(keys)


def _fingerprint(keys: list[Mapping[str, Any]]) -> str:
    canonical = json.dumps(keys, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
