"""Bearer-token authentication (RFC 6750): the token becomes a `Caller`, nothing more.

Which rows a caller may touch is decided elsewhere (`access.py`); this module only says
who is calling: a user (issuer, subject) or a service principal.
"""

import logging
import re
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from resource_api.errors import (
    RETRY_AFTER_S,
    BadRequest,
    Forbidden,
    MissingCredentials,
    Unauthorized,
    Unavailable,
    bearer_challenge,
)
from resource_api.issuers import Verifier
from resource_api.models import UNSTORABLE
from shared import InvalidToken, Principal, ProviderError, TokenProfile
from shared.logsafe import log_text

logger = logging.getLogger(__name__)
audit = logging.getLogger("resource_api.audit")

#: OIDC Core §2: `sub` is at most 255 ASCII characters (and so is our column)
MAX_SUBJECT_CHARS = 255
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: a user, or a service principal (no user row)."""

    principal: Principal
    is_service: bool
    is_admin: bool

    @property
    def issuer(self) -> str:
        return self.principal.issuer

    @property
    def subject(self) -> str:
        return self.principal.subject or ""


@dataclass(frozen=True)
class BearerAuthenticator:
    """Turns the `Authorization` header into a `Caller` (framework-free apart from errors)."""

    verifier: Verifier
    profile: TokenProfile
    groups_claims: tuple[str, ...]
    admin_groups: tuple[str, ...]
    service_clients: tuple[str, ...]
    bootstrap_admin: tuple[str, str] | None = None

    async def authenticate(self, authorization: str | None) -> Caller:
        token = _bearer_token(authorization)
        try:
            verified = await self.verifier.verify(token, self.profile)
        except InvalidToken as exc:
            audit.info("auth outcome=rejected reason=%s", log_text(exc.description, 200))
            raise _invalid(exc.description) from None
        except ProviderError as exc:
            logger.warning("identity provider unusable: %s", exc.description)
            raise Unavailable(
                "the identity provider is unavailable, retry later",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        principal = Principal.from_claims(verified.claims, self.groups_claims)
        caller = self._classify(principal)
        audit.info(
            "auth outcome=accepted kind=%s client=%s",
            "service" if caller.is_service else "user",
            log_text(principal.client_id or "-", 128),
        )
        return caller

    def _classify(self, principal: Principal) -> Caller:
        subject = principal.subject
        if not subject:
            # the access-token profile already refuses a missing or empty `sub` (RFC 9068
            # §2.2); `Principal` types it optional, and an empty one would be everyone's user
            raise _invalid("token lacks a required claim (sub)")
        if len(subject) > MAX_SUBJECT_CHARS:
            raise _invalid("token subject is too long")
        # a subject keys the user row: unstorable characters have no place in it anyway
        if UNSTORABLE.search(subject):
            raise _invalid("token subject contains control characters")
        client = principal.client_id
        if client is not None and _acts_as_client(principal, client):
            if client in self.service_clients:
                return Caller(principal=principal, is_service=True, is_admin=False)
            # a client acting for itself, but not one this API serves: not a user either
            audit.info("auth outcome=rejected reason=unlisted client")
            raise Forbidden(f"client {client!r} is not a service client of this API")
        if client is not None and client in self.service_clients:
            # SPEC: a token from a listed client is a service principal; one that carries a
            # user is neither (listed clients must be client-credentials-only), never a user
            audit.info("auth outcome=rejected reason=user token from a service client")
            raise Forbidden(
                f"client {client!r} is a service client: only its own client-credentials "
                "tokens are accepted"
            )
        is_admin = principal.in_any_group(self.admin_groups) or (
            self.bootstrap_admin == (principal.issuer, subject)
        )
        return Caller(principal=principal, is_service=False, is_admin=is_admin)


#: claims only a token issued within an end user's login session carries: `auth_time` and
#: `nonce` (OIDC Core §2), `sid` (OIDC Front-/Back-Channel Logout), Keycloak's
#: `session_state`. A client-credentials grant has no login session.
_SESSION_CLAIMS = ("sid", "session_state", "auth_time", "nonce")


def _acts_as_client(principal: Principal, client: str) -> bool:
    """Whether the token is the client's own (client credentials), not an end user's.

    RFC 9068 §2.2: a client-credentials token's `sub` is the client's own identifier:
    the client id itself (oidc-provider), or Keycloak's service-account user, a UUID
    whose `preferred_username` is `service-account-<client id>`. A username is often the
    user's to choose, so that last form counts only without any trace of a login session.
    """
    if principal.subject == client:
        return True
    claims = principal.claims
    return claims.get("preferred_username") == f"service-account-{client}" and not any(
        name in claims for name in _SESSION_CLAIMS
    )


def _bearer_token(authorization: str | None) -> str:
    if not authorization or not authorization.strip():
        # RFC 6750 §3.1: a request without credentials gets a challenge and no error code
        raise MissingCredentials(
            "a bearer token is required", headers={"WWW-Authenticate": bearer_challenge()}
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise MissingCredentials(
            "the Authorization header must use the Bearer scheme",
            headers={"WWW-Authenticate": bearer_challenge()},
        )
    token = token.strip()
    if not _B64TOKEN.fullmatch(token):
        raise _invalid("malformed bearer token")
    return token


def _invalid(description: str) -> Unauthorized:
    # RFC 6750 §3: error and error_description attributes of the challenge
    challenge = bearer_challenge("invalid_token", description)
    return Unauthorized(description, headers={"WWW-Authenticate": challenge})


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, *, authenticator: BearerAuthenticator, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.authenticator = authenticator

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
        values = connection.headers.getall("authorization", [])
        if len(values) > 1:
            # RFC 6750 §2: one method, one token per request; which of several would count
            # is up to each hop (the first here, maybe the last at a proxy): refuse them all
            audit.info("auth outcome=rejected reason=several Authorization headers")
            description = "more than one Authorization header"
            raise BadRequest(
                description,
                headers={"WWW-Authenticate": bearer_challenge("invalid_request", description)},
            )
        caller = await self.authenticator.authenticate(values[0] if values else None)
        return AuthenticationResult(user=caller, auth=None)
