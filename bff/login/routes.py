"""`LoginRoutes`: `/auth/login`, `/auth/callback`, `/auth/me` and `/auth/logout`."""

import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from bff.cookies import cookies_of
from bff.csrf import csrf_ok
from bff.errors import (
    BFFError,
    CSRFRequired,
    LoginFailed,
    OAuthFailure,
    ProviderUnavailable,
    SessionTooLarge,
    Unauthenticated,
)
from bff.login.return_to import (
    safe_return_to,
    silent_login_failed,
    valid_prompt,
    with_silent_login_marker,
)
from bff.login.transaction import TTL_S as LOGIN_TTL_S
from bff.login.transaction import Transaction, Transactions
from bff.logs import log_code
from bff.oidc import Provider, Tokens
from bff.refresh.refresher import Refresher
from bff.responses import error_json, error_page, json_answer, redirect
from bff.session.manager import SessionManager
from bff.session.model import Session, profile_claims
from bff.session.replay import OneTimeMarkers, state_marker
from shared import InvalidToken, SharedError
from shared.clock import Clock
from shared.profiles import check_nonce

logger = logging.getLogger(__name__)
audit = logging.getLogger("bff.audit")

#: longest `state` (ours are 43 characters) and `code` a callback may carry
MAX_STATE_CHARS = 512
MAX_CODE_CHARS = 4096


class LoginRoutes:
    def __init__(
        self,
        *,
        provider: Provider,
        transactions: Transactions,
        sessions: SessionManager,
        markers: OneTimeMarkers,
        refresher: Refresher,
        clock: Clock,
    ) -> None:
        self._provider = provider
        self._transactions = transactions
        self._sessions = sessions
        self._markers = markers
        self._refresher = refresher
        self._clock = clock

    async def login(self, request: Request) -> Response:
        return_to = safe_return_to(request.query_params.get("returnTo"))
        prompt = request.query_params.get("prompt") or None
        if return_to is None:
            audit.info("login_refused reason=invalid_return_to")
            return error_page(LoginFailed("invalid_return_to"))
        if not valid_prompt(prompt):
            return error_page(LoginFailed("invalid_prompt"))
        tx, lines = self._transactions.begin(cookies_of(request), return_to, prompt)
        try:
            url = await self._provider.authorization_url(
                state=tx.state, nonce=tx.nonce, code_verifier=tx.code_verifier, prompt=tx.prompt
            )
        except SharedError as exc:
            logger.warning("login impossible, provider metadata unavailable: %s", exc.description)
            return error_page(ProviderUnavailable(exc.description), status=503)
        audit.info("login_started")
        return redirect(url, lines)

    async def callback(self, request: Request) -> Response:
        try:
            return await self._callback(request.query_params, cookies_of(request))
        except RedisError:
            raise  # the store's outage, not a bad callback: the app's 503 page (retry later)
        except Exception:  # SPEC: any failure is a 400 page, never a 500
            logger.exception("callback failed unexpectedly")
            return error_page(LoginFailed("server_error"))

    async def _callback(self, params: Mapping[str, str], cookies: dict[str, str]) -> Response:
        state = params.get("state") or ""
        # this browser's pending login for `state`, and the lines deleting its cookie
        tx: Transaction | None = None
        removal: list[str] = []
        if 0 < len(state) <= MAX_STATE_CHARS:
            tx, removal = self._transactions.find(cookies, state)
        try:
            # one-time state: a replayed callback (even with a saved cookie) is refused
            if tx is None or not await self._markers.first_use(state_marker(state), LOGIN_TTL_S):
                raise LoginFailed("invalid_state")
            location, lines = await self._complete(tx, params, cookies)
        except BFFError as exc:
            audit.info("login_failed error=%s", log_code(exc.error))  # provider text: no CR/LF
            # SPEC /auth/callback: any failure is a 400 page
            return error_page(exc, removal, status=400)
        return redirect(location, removal + lines)

    async def _complete(
        self, tx: Transaction, params: Mapping[str, str], cookies: dict[str, str]
    ) -> tuple[str, list[str]]:
        """Where the browser goes next, and the Set-Cookie lines of its new session.
        Raises `BFFError`."""
        await self._check_issuer(params.get("iss"))
        error = params.get("error")
        if error and silent_login_failed(tx.prompt, error):
            audit.info("login_silent_failed error=%s", error)
            return with_silent_login_marker(tx.return_to), []
        if error:
            raise OAuthFailure(error)
        code = params.get("code")
        if not code or len(code) > MAX_CODE_CHARS:
            raise LoginFailed("invalid_request")
        session = await self._sign_in(code, tx)
        try:
            # a fresh session every login (no fixation); stale chunks of an older one go
            lines = await self._sessions.save(session, cookies)
        except SessionTooLarge as exc:
            logger.error("login refused: %s", exc)
            raise
        audit.info("login_succeeded")
        return tx.return_to, lines

    async def _check_issuer(self, iss: str | None) -> None:
        try:
            meta = await self._provider.metadata.get()
        except SharedError as exc:
            raise ProviderUnavailable(exc.description) from None
        # RFC 9207 §2.4: compare iss when present (also on error responses); a provider that
        # advertises the parameter must send it.
        advertised = meta.authorization_response_iss_parameter_supported
        if iss != meta.issuer and (iss is not None or advertised):
            raise LoginFailed("invalid_issuer")

    async def _sign_in(self, code: str, tx: Transaction) -> Session:
        """The session of an exchanged code and a checked ID token. Raises `BFFError`."""
        try:
            tokens = await self._provider.exchange_code(code, tx.code_verifier)
        except ProviderUnavailable:
            # named as OAuth names it (RFC 6749 §4.1.2.1), as this page always has
            raise LoginFailed("temporarily_unavailable") from None
        claims = await self._id_token_claims(tokens.id_token, tx.nonce)
        sid = claims.get("sid")
        now = self._clock()
        return Session.new(
            sub=str(claims["sub"]),
            sid=sid if isinstance(sid, str) else None,
            claims=profile_claims(claims),
            access_token=tokens.access_token,
            access_expires_at=tokens.expires_at,
            refresh_token=tokens.refresh_token,
            id_token=tokens.id_token,
            created_at=now,
            seen_at=now,
        )

    async def _id_token_claims(self, id_token: str | None, nonce: str) -> dict[str, Any]:
        if not id_token:
            raise LoginFailed("invalid_id_token")
        try:
            verified = await self._provider.verify_id_token(id_token)
        except SharedError as exc:
            logger.info("ID token refused: %s", exc.description)
            raise LoginFailed("invalid_id_token") from None
        # OIDC Core §3.1.3.7 (11): the nonce must be the one this browser's login sent
        try:
            check_nonce(verified.claims, nonce)
        except InvalidToken:
            raise LoginFailed("invalid_nonce") from None
        return dict(verified.claims)

    async def me(self, request: Request) -> Response:
        cookies = cookies_of(request)
        current = await self._sessions.load(cookies)
        if current is None:
            return error_json(Unauthenticated(), await self._sessions.clear(cookies))
        session = current.session
        expires = self._sessions.expires_at(session)
        body = {
            "sub": session.sub,
            "name": session.claims.get("name"),
            "email": session.claims.get("email"),
            "groups": session.claims.get("groups", []),
            "session": {"expires_at": datetime.fromtimestamp(expires, UTC).isoformat()},
        }
        lines = await self._sessions.write_back(session, cookies) if current.dirty else []
        return json_answer(body, lines)

    async def logout(self, request: Request) -> Response:
        if not csrf_ok(request.method, request.headers):
            return error_json(CSRFRequired())
        cookies = cookies_of(request)
        current = await self._sessions.load(cookies)
        if current is None:
            id_token, lines = None, await self._sessions.clear(cookies)
        else:
            id_token, lines = current.session.id_token, await self._end(current.session, cookies)
        with contextlib.suppress(SharedError):
            await self._provider.metadata.get()  # the end-session endpoint is in it
        return json_answer({"logout_url": self._provider.end_session_url(id_token)}, lines)

    async def _end(self, session: Session, cookies: dict[str, str]) -> list[str]:
        lines = await self._sessions.end(session, cookies)
        # RFC 7009 §2; the cookie's refresh token may have been rotated by a request whose
        # response this browser has not stored yet: revoke the newest one as well
        newest = await self._refresher.newest(session)
        for token in dict.fromkeys(
            [session.refresh_token, newest.refresh_token if isinstance(newest, Tokens) else None]
        ):
            if token:
                await self._provider.revoke(token)
        audit.info("logout")
        return lines
