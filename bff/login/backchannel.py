"""`BackChannelLogout`: `POST /auth/backchannel-logout` (OIDC Back-Channel Logout 1.0).

The provider posts a signed logout token; afterwards every session of its `sid` (or of its
`sub`, without a `sid`) is refused, on every instance that shares the revocation list.
"""

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from bff.errors import LogoutTokenRefused
from bff.oidc import Provider
from bff.responses import NO_STORE, error_json
from bff.session.replay import OneTimeMarkers, jti_marker
from bff.session.revocation import RevocationList, sid_key, sub_key
from shared import SharedError
from shared.clock import Clock

audit = logging.getLogger("bff.audit")

#: a logout token is about 1 KB; anything beyond 64 KiB is not one
MAX_FORM_BYTES = 64 * 1024
#: form fields parsed at most (a logout token needs one)
MAX_FORM_FIELDS = 10
#: a jti is remembered this long past the token's expiry, in seconds (10 minutes)
JTI_SLACK_S = 600


class BackChannelLogout:
    def __init__(
        self,
        *,
        provider: Provider,
        markers: OneTimeMarkers,
        revocations: RevocationList,
        session_max_age_s: int,
        clock: Clock,
    ) -> None:
        self._provider = provider
        self._markers = markers
        self._revocations = revocations
        self._session_max_age_s = session_max_age_s
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        try:
            claims = await self._verified_claims(await _logout_token(request))
        except LogoutTokenRefused as exc:
            return error_json(exc)  # §2.8: 400 with an OAuth-style JSON error
        sid, sub = claims.get("sid"), claims.get("sub")
        # §2.7: with a sid, that provider session ends; with only a sub, every session of it.
        # Entries live as long as a session can (BFF_SESSION_MAX_AGE_S).
        kind, key = ("sid", sid_key(sid)) if isinstance(sid, str) else ("sub", sub_key(sub))
        await self._revocations.revoke(key, self._clock(), self._session_max_age_s)
        audit.info("backchannel_logout kind=%s", kind)
        return Response(status_code=200, headers=NO_STORE)

    async def _verified_claims(self, token: str) -> Mapping[str, Any]:
        """The claims of a valid logout token seen for the first time.
        Raises `LogoutTokenRefused`."""
        try:
            verified = await self._provider.verify_logout_token(token)
        except SharedError as exc:
            audit.info("backchannel_logout_refused reason=%s", exc.error)
            raise LogoutTokenRefused(exc.description) from None
        claims = verified.claims
        jti = claims.get("jti")
        now = self._clock()
        # §2.6 (10): refuse a logout token already seen (jti); remember it at least until
        # it expires.
        ttl = int(max(float(claims.get("exp", now)) - now, 0)) + JTI_SLACK_S
        if not isinstance(jti, str) or not await self._markers.first_use(
            jti_marker(claims.get("iss"), jti), ttl
        ):
            audit.info("backchannel_logout_refused reason=replay")
            raise LogoutTokenRefused("logout token replayed")
        return claims


async def _logout_token(request: Request) -> str:
    """The one `logout_token` of a form-encoded body. Raises `LogoutTokenRefused`."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise LogoutTokenRefused("request too large")
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise LogoutTokenRefused("expected a form-encoded logout_token")
    try:
        form = parse_qs(body.decode("latin-1"), max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # more than MAX_FORM_FIELDS fields
        raise LogoutTokenRefused("too many form fields") from None
    values = form.get("logout_token", [])
    if len(values) != 1:
        raise LogoutTokenRefused("exactly one logout_token is required")
    return values[0]
