"""`/auth/*`: login, callback, me, logout and back-channel logout."""

import contextlib
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import Response

from bff.context import BFF
from bff.cookies import cookies_of
from bff.errors import (
    BFFError,
    CSRFRequired,
    LoginFailed,
    LogoutTokenRefused,
    OAuthFailure,
    ProviderUnavailable,
    SessionTooLarge,
    Unauthenticated,
)
from bff.guards import csrf_ok, safe_return_to, valid_prompt
from bff.logs import log_code
from bff.oidc import Tokens
from bff.responses import NO_STORE, error_json, error_page, json_answer, redirect
from bff.session.model import Session, profile_claims
from bff.session.replay import jti_marker, state_marker
from bff.session.revocation import sid_key, sub_key
from bff.transaction import TTL_S as LOGIN_TTL_S
from shared import InvalidToken, SharedError
from shared.profiles import check_nonce

logger = logging.getLogger(__name__)
audit = logging.getLogger("bff.audit")

#: `prompt=none` answers that mean "not signed in at the provider" (OIDC Core §3.1.2.6)
SILENT_LOGIN_ERRORS = frozenset(
    {"login_required", "interaction_required", "consent_required", "account_selection_required"}
)
#: query parameter added to `returnTo` when a silent login found no provider session
SILENT_LOGIN_MARKER = "auth_error"
MAX_FORM_BYTES = 64 * 1024


async def login(request: Request) -> Response:
    bff: BFF = request.app.state.bff
    return_to = safe_return_to(request.query_params.get("returnTo"))
    prompt = request.query_params.get("prompt") or None
    if return_to is None:
        audit.info("login_refused reason=invalid_return_to")
        return error_page(LoginFailed("invalid_return_to"))
    if not valid_prompt(prompt):
        return error_page(LoginFailed("invalid_prompt"))
    tx, lines = bff.transactions.begin(cookies_of(request), return_to, prompt)
    try:
        url = await bff.provider.authorization_url(tx)
    except SharedError as exc:
        logger.warning("login impossible, provider metadata unavailable: %s", exc.description)
        return error_page(ProviderUnavailable(exc.description), status=503)
    audit.info("login_started")
    return redirect(url, lines)


async def callback(request: Request) -> Response:
    bff: BFF = request.app.state.bff
    try:
        return await _callback(bff, request)
    except Exception:  # SPEC: any failure is a 400 page, never a 500
        logger.exception("callback failed unexpectedly")
        return error_page(LoginFailed("server_error"))


async def _callback(bff: BFF, request: Request) -> Response:
    params = request.query_params
    cookies = cookies_of(request)
    state = params.get("state")
    if not state or len(state) > 512:
        return _fail(LoginFailed("invalid_state"), [])
    tx, removal = bff.transactions.find(cookies, state)
    if tx is None:
        return _fail(LoginFailed("invalid_state"), removal)
    # one-time state: a replayed callback (even with a saved cookie) is refused
    if not await bff.markers.first_use(state_marker(state), LOGIN_TTL_S):
        return _fail(LoginFailed("invalid_state"), removal)

    try:
        meta = await bff.provider.metadata.get()
    except SharedError as exc:
        return _fail(ProviderUnavailable(exc.description), removal)
    iss = params.get("iss")
    # RFC 9207 §2.4: compare iss when present (also on error responses); a provider that
    # advertises the parameter must send it.
    if iss is not None and iss != meta.issuer:
        return _fail(LoginFailed("invalid_issuer"), removal)
    if iss is None and meta.authorization_response_iss_parameter_supported:
        return _fail(LoginFailed("invalid_issuer"), removal)

    error = params.get("error")
    if error:
        if tx.prompt and "none" in tx.prompt.split() and error in SILENT_LOGIN_ERRORS:
            audit.info("login_silent_failed error=%s", error)
            path, hash_sign, fragment = tx.return_to.partition("#")
            separator = "&" if "?" in path else "?"
            marker = urlencode({SILENT_LOGIN_MARKER: "login_required"})
            return redirect(f"{path}{separator}{marker}{hash_sign}{fragment}", removal)
        return _fail(OAuthFailure(error), removal)
    code = params.get("code")
    if not code or len(code) > 4096:
        return _fail(LoginFailed("invalid_request"), removal)

    try:
        tokens = await bff.provider.exchange_code(code, tx.code_verifier)
    except ProviderUnavailable:
        # named as OAuth names it (RFC 6749 §4.1.2.1), as this page always has
        return _fail(LoginFailed("temporarily_unavailable"), removal)
    except OAuthFailure as exc:
        return _fail(exc, removal)
    if not tokens.id_token:
        return _fail(LoginFailed("invalid_id_token"), removal)
    try:
        verified = await bff.provider.verify_id_token(tokens.id_token)
    except SharedError as exc:
        logger.info("ID token refused: %s", exc.description)
        return _fail(LoginFailed("invalid_id_token"), removal)
    # OIDC Core §3.1.3.7 (11): the nonce must be the one this browser's login sent
    try:
        check_nonce(verified.claims, tx.nonce)
    except InvalidToken:
        return _fail(LoginFailed("invalid_nonce"), removal)

    claims = dict(verified.claims)
    sid = claims.get("sid")
    now = bff.clock()
    session = Session.new(
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
    try:
        # a fresh session every login (no fixation); stale chunks of an older one go
        lines = await bff.sessions.save(session, cookies)
    except SessionTooLarge as exc:
        logger.error("login refused: %s", exc)
        return _fail(exc, removal)
    audit.info("login_succeeded")
    return redirect(tx.return_to, removal + lines)


def _fail(exc: BFFError, cookie_lines: list[str]) -> Response:
    audit.info("login_failed error=%s", log_code(exc.error))  # the provider's text: no CR/LF
    # SPEC /auth/callback: any failure is a 400 page
    return error_page(exc, cookie_lines, status=400)


async def me(request: Request) -> Response:
    bff: BFF = request.app.state.bff
    cookies = cookies_of(request)
    current = await bff.sessions.load(cookies)
    if current is None:
        return error_json(Unauthenticated(), await bff.sessions.clear(cookies))
    session = current.session
    expires = bff.sessions.expires_at(session)
    body = {
        "sub": session.sub,
        "name": session.claims.get("name"),
        "email": session.claims.get("email"),
        "groups": session.claims.get("groups", []),
        "session": {"expires_at": datetime.fromtimestamp(expires, UTC).isoformat()},
    }
    lines = await bff.sessions.write_back(session, cookies) if current.dirty else []
    return json_answer(body, lines)


async def logout(request: Request) -> Response:
    bff: BFF = request.app.state.bff
    if not csrf_ok(request.method, request.headers):
        return error_json(CSRFRequired())
    cookies = cookies_of(request)
    current = await bff.sessions.load(cookies)
    id_token = None
    if current is None:
        lines = await bff.sessions.clear(cookies)
    else:
        session = current.session
        id_token = session.id_token
        lines = await bff.sessions.end(session, cookies)
        # RFC 7009 §2; the cookie's refresh token may have been rotated by a request whose
        # response this browser has not stored yet: revoke the newest one as well
        newest = await bff.refresher.newest(session)
        for token in dict.fromkeys(
            [session.refresh_token, newest.refresh_token if isinstance(newest, Tokens) else None]
        ):
            if token:
                await bff.provider.revoke(token)
        audit.info("logout")
    with contextlib.suppress(SharedError):
        await bff.provider.metadata.get()
    logout_url = bff.provider.end_session_url(id_token)
    return json_answer({"logout_url": logout_url}, lines)


async def backchannel_logout(request: Request) -> Response:
    bff: BFF = request.app.state.bff
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return _bcl_error("request too large")
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _bcl_error("expected a form-encoded logout_token")
    try:
        form = parse_qs(body.decode("latin-1"), max_num_fields=10)
    except ValueError:  # more than 10 fields
        return _bcl_error("too many form fields")
    values = form.get("logout_token", [])
    if len(values) != 1:
        return _bcl_error("exactly one logout_token is required")
    try:
        verified = await bff.provider.verify_logout_token(values[0])
    except SharedError as exc:
        audit.info("backchannel_logout_refused reason=%s", exc.error)
        return _bcl_error(exc.description)
    claims = verified.claims
    jti = claims.get("jti")
    now = bff.clock()
    # OIDC Back-Channel Logout 1.0 §2.6 (10): refuse a logout token already seen (jti);
    # remember it at least until it expires.
    ttl = int(max(float(claims.get("exp", now)) - now, 0)) + 600
    if not isinstance(jti, str) or not await bff.markers.first_use(
        jti_marker(claims.get("iss"), jti), ttl
    ):
        audit.info("backchannel_logout_refused reason=replay")
        return _bcl_error("logout token replayed")
    sid, sub = claims.get("sid"), claims.get("sub")
    # §2.7: with a sid, that provider session ends; with only a sub, every session of it.
    # Entries live as long as a session can (BFF_SESSION_MAX_AGE_S).
    kind, key = ("sid", sid_key(sid)) if isinstance(sid, str) else ("sub", sub_key(sub))
    await bff.revocations.revoke(key, now, bff.settings.session_max_age_s)
    audit.info("backchannel_logout kind=%s", kind)
    return Response(status_code=200, headers=NO_STORE)


def _bcl_error(description: str) -> Response:
    return error_json(LogoutTokenRefused(description))
