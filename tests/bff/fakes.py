"""In-process fakes for BFF tests: an OpenID provider and a recording resource API."""

import asyncio
import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.clock import FakeClock
from tests.support.tokens import TokenFactory, generate_key

ISSUER = "https://idp.test"
CLIENT_ID = "bff-client"
UPSTREAM = "http://api.test"
PUBLIC_URL = "https://app.test"


@dataclass
class Grant:
    sub: str
    sid: str | None
    nonce: str
    challenge: str
    redirect_uri: str
    client_id: str
    extra: dict[str, Any] = field(default_factory=dict)


class FakeProvider:
    """Discovery, JWKS, token (code + rotating refresh with reuse detection), revocation."""

    def __init__(self, clock: FakeClock, *, issuer: str = ISSUER) -> None:
        self.clock = clock
        self.issuer = issuer
        self.tokens = TokenFactory(issuer=issuer, audience=CLIENT_ID, keys=[generate_key()])
        self.codes: dict[str, Grant] = {}
        self.used_codes: set[str] = set()
        self.refresh_tokens: dict[str, Grant] = {}  # live refresh token -> grant
        self.rotated: set[str] = set()
        self.revoked_grants: set[str] = set()
        self.token_requests: list[dict[str, Any]] = []
        self.refresh_calls = 0
        self.revocations: list[dict[str, str]] = []
        self.expires_in = 300
        self.metadata_extra: dict[str, Any] = {}
        self.refresh_gate: asyncio.Event | None = None
        #: set when the first refresh grant arrives (before `refresh_gate` holds it)
        self.refresh_started = asyncio.Event()
        self.id_token_overrides: dict[str, Any] = {}
        self.token_response_override: Response | None = None
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/token", self.token, methods=["POST"]),
                Route("/revoke", self.revoke, methods=["POST"]),
            ]
        )

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/session/end",
            "revocation_endpoint": f"{self.issuer}/revoke",
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
            "backchannel_logout_supported": True,
            **self.metadata_extra,
        }

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(self.metadata())

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.tokens.jwks())

    def approve(
        self, query: dict[str, str], *, sub: str = "user-1", sid: str | None = "sid-1", **extra: Any
    ) -> str:
        """What the user's consent does: a code bound to the authorization request."""
        code = secrets.token_urlsafe(16)
        self.codes[code] = Grant(
            sub=sub,
            sid=sid,
            nonce=query["nonce"],
            challenge=query["code_challenge"],
            redirect_uri=query["redirect_uri"],
            client_id=query["client_id"],
            extra=extra,
        )
        return code

    def id_token(self, grant: Grant, **overrides: Any) -> str:
        claims: dict[str, Any] = {
            "sub": grant.sub,
            "nonce": grant.nonce,
            "name": "Alice Example",
            "email": "alice@example.test",
            "groups": ["admin"],
            "jti": None,
            "scope": None,
        }
        if grant.sid:
            claims["sid"] = grant.sid
        claims.update(grant.extra)
        claims.update(self.id_token_overrides)
        claims.update(overrides)
        return self.tokens.mint(claims, header={"typ": "JWT"}, now=self.clock())

    def _tokens(self, grant: Grant, *, id_token: bool) -> dict[str, Any]:
        refresh = "rt-" + secrets.token_urlsafe(16)
        self.refresh_tokens[refresh] = grant
        body: dict[str, Any] = {
            "access_token": "at-" + uuid.uuid4().hex,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": refresh,
        }
        if id_token:
            body["id_token"] = self.id_token(grant)
        return body

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        self.token_requests.append({"form": form, "auth": request.headers.get("authorization")})
        if self.token_response_override is not None:
            return self.token_response_override
        if form.get("grant_type") == "authorization_code":
            code = form.get("code", "")
            if code in self.used_codes or code not in self.codes:
                return _oauth_error("invalid_grant")
            self.used_codes.add(code)
            grant = self.codes.pop(code)
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if challenge != grant.challenge or form.get("redirect_uri") != grant.redirect_uri:
                return _oauth_error("invalid_grant")
            return JSONResponse(self._tokens(grant, id_token=True))
        if form.get("grant_type") == "refresh_token":
            self.refresh_calls += 1
            self.refresh_started.set()
            if self.refresh_gate is not None:
                await self.refresh_gate.wait()
            token = form.get("refresh_token", "")
            if token in self.rotated:
                # RFC 9700 §4.14.2: reuse of a rotated token is theft: revoke the family
                self.revoked_grants.add(token)
                self.refresh_tokens.clear()
                return _oauth_error("invalid_grant")
            family = self.refresh_tokens.pop(token, None)
            if family is None:
                return _oauth_error("invalid_grant")
            self.rotated.add(token)
            return JSONResponse(self._tokens(family, id_token=False))
        return _oauth_error("unsupported_grant_type")

    async def revoke(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        self.revocations.append(form)
        return Response(status_code=200)

    def logout_token(self, **claims: Any) -> str:
        body: dict[str, Any] = {
            "sub": "user-1",
            "sid": "sid-1",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            "scope": None,
        }
        body.update(claims)
        return self.tokens.mint(body, header={"typ": "logout+jwt"}, now=self.clock())


def _oauth_error(error: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": "refused"}, status_code=status)


class RecordingUpstream:
    """A resource API that records exactly what it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.valid_tokens: set[str] | None = None  # None: every token accepted
        self.sse_gate: asyncio.Event | None = None
        self.app = Starlette(
            routes=[
                Route("/health", self.health),
                Route("/sse", self.sse),
                Route(
                    "/{path:path}",
                    self.echo,
                    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                ),
            ]
        )

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def echo(self, request: Request) -> Response:
        body = await request.body()
        record = {
            "method": request.method,
            "raw_path": request.scope.get("raw_path", b"").split(b"?")[0].decode(),
            "query": request.scope["query_string"].decode(),
            "headers": [(k.decode(), v.decode("latin-1")) for k, v in request.scope["headers"]],
            "body": body.decode(errors="replace"),
        }
        self.received.append(record)
        auth = request.headers.get("authorization", "")
        if self.valid_tokens is not None and auth.removeprefix("Bearer ") not in self.valid_tokens:
            return JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        headers = {
            "Set-Cookie": "upstream=evil; Path=/",
            "Connection": "close, X-Secret-Hop",
            "X-Secret-Hop": "leak",
            "Keep-Alive": "timeout=5",
            "X-Upstream": "yes",
        }
        return Response(
            json.dumps({"ok": True, "path": record["raw_path"]}),
            media_type="application/json",
            headers=headers,
        )

    async def sse(self, request: Request) -> Response:
        gate = self.sse_gate

        async def events() -> Any:
            yield b"data: one\n\n"
            if gate is not None:
                await asyncio.wait_for(gate.wait(), 5)
            yield b"data: two\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def headers_of(self, index: int = -1) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in self.received[index]["headers"]:
            out.setdefault(name.lower(), []).append(value)
        return out
