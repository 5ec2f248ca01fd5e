"""The django-oauth-toolkit pieces of the development provider: which client may ask for
which scopes, the user claims, and the two answers DOT leaves short (the introspection
response and the OpenID discovery document). `server.py` configures Django and serves them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from collections import Counter
from typing import Any
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import urls as dot_urls
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import SettingsScopes
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import (
    ConnectDiscoveryInfoView,
    IntrospectTokenView,
    RPInitiatedLogoutView,
    TokenView,
)
from oauth2_provider.views import (
    RevokeTokenView as DotRevokeTokenView,
)


class DevPasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 with few rounds: client secrets are checked on every token and introspection
    request, and Django's default (10^6 rounds) costs a busy test machine ~0.5 s each. The
    secrets are random 256-bit values and the database is a throwaway file."""

    algorithm = "pbkdf2_sha256_dev"
    iterations = 1000


class Stats:
    """Counters for the end-to-end tests (`GET /__test/stats` in test mode)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def bump(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


STATS = Stats()


class ClientScopes(SettingsScopes):
    """Each client may ask for its own scopes only (DOT's default lets any client have
    every scope in `SCOPES`); `DEV_CLIENT_SCOPES` maps client_id to that list."""

    def _allowed(self, application: Any) -> list[str]:
        if application is None:  # discovery's scopes_supported: everything
            return list(oauth2_settings.SCOPES)
        return list(settings.DEV_CLIENT_SCOPES.get(application.client_id, ()))

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        return self._allowed(application)

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return [s for s in self._allowed(application) if s not in settings.DEV_OIDC_SCOPES]


class Validator(OAuth2Validator):
    # OIDC Core §5.4: profile/email claims follow their scopes; `groups` has its own scope
    # (as in Authelia). These go into the ID token and userinfo alike.
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "groups"}

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        return {
            "name": user.get_full_name() or user.get_username(),
            "preferred_username": user.get_username(),
            "email": user.email,
            "email_verified": True,
            "groups": sorted(group.name for group in user.groups.all()),
        }


def subject_of(token: Any) -> str:
    """The `sub` the ID token carries (DOT: the user's primary key), or for a
    client-credentials token the client's own id (RFC 9068 §2.2 convention)."""
    if token.user is not None:
        return str(token.user.pk)
    return str(token.application.client_id)


def _basic_client_id(request: HttpRequest) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, _ = decoded.partition(":")
    return unquote_plus(client_id) if sep else None


@method_decorator(csrf_exempt, name="dispatch")  # a dispatch of our own loses DOT's
class IntrospectView(IntrospectTokenView):
    """DOT's RFC 7662 endpoint, for the resource server only, with the members DOT omits.

    DOT 3.4 answers `active`, `scope`, `exp`, `client_id`, `username` and (RFC 8707) `aud`,
    and lets any registered client introspect any token. Added here (RFC 7662 §2.2, values
    from DOT's own token row): `sub` (the ID token's subject), `iss`, `iat`, `token_type`.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # RFC 7662 §2.1: the endpoint requires authorization; here, the resource server's
        # client_secret_basic. DOT then checks the secret.
        if _basic_client_id(request) not in settings.DEV_INTROSPECTION_CLIENTS:
            STATS.bump("introspection_refused")
            response = JsonResponse({"error": "invalid_client"}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="introspection"'
            return response
        return super().dispatch(request, *args, **kwargs)

    @staticmethod
    def get_token_response(token_value: str | None = None) -> HttpResponse:
        response = IntrospectTokenView.get_token_response(token_value)
        data = json.loads(response.content)
        if not data.get("active"):
            STATS.bump("introspection_inactive")
            return response
        checksum = hashlib.sha256(str(token_value).encode("utf-8")).hexdigest()
        token = (
            get_access_token_model()
            .objects.select_related("user", "application")
            .filter(token_checksum=checksum)
            .first()
        )
        if token is None:  # revoked between the two look-ups
            STATS.bump("introspection_inactive")
            return JsonResponse({"active": False})
        data.setdefault("sub", subject_of(token))
        data.setdefault("iss", oauth2_settings.OIDC_ISS_ENDPOINT)
        data.setdefault("iat", int(token.created.timestamp()))
        data.setdefault("token_type", "Bearer")
        STATS.bump("introspection_active")
        return JsonResponse(data)


class DiscoveryView(ConnectDiscoveryInfoView):
    """DOT's OpenID discovery document plus the revocation and introspection endpoints,
    which DOT 3.4 publishes only in its RFC 8414 document."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data["revocation_endpoint"] = self._get_endpoint_url(request, "revoke-token")
        data["revocation_endpoint_auth_methods_supported"] = list(
            oauth2_settings.OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED
        )
        data["introspection_endpoint"] = self._get_endpoint_url(request, "introspect")
        data["introspection_endpoint_auth_methods_supported"] = ["client_secret_basic"]
        answer = JsonResponse(data)
        answer["Access-Control-Allow-Origin"] = "*"
        return answer


class CountingTokenView(TokenView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        grant_type = request.POST.get("grant_type", "")
        if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
            grant_type = "other"
        STATS.bump(f"token_{grant_type}_{response.status_code}")
        return response


class RevokeTokenView(DotRevokeTokenView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        STATS.bump(f"revocation_{response.status_code}")
        return response


class LogoutView(RPInitiatedLogoutView):
    def do_logout(self, *args: Any, **kwargs: Any) -> HttpResponse:
        STATS.bump("end_session")
        return super().do_logout(*args, **kwargs)


def stats_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse(STATS.snapshot())


OURS = {
    "token": CountingTokenView,
    "revoke-token": RevokeTokenView,
    "introspect": IntrospectView,
    "oidc-connect-discovery-info": DiscoveryView,
    "rp-initiated-logout": LogoutView,
}
#: DOT routes not offered: device flow, application management, dynamic registration.
LEFT_OUT = {"device-authorization", "device", "device-confirm", "device-grant-status"}


def _dot_patterns() -> list[Any]:
    patterns = []
    for pattern in (
        *dot_urls.metadata_urlpatterns,
        *dot_urls.base_urlpatterns,
        *dot_urls.oidc_urlpatterns,
    ):
        if pattern.name in LEFT_OUT:
            continue
        view = OURS.get(pattern.name)
        if view is not None:
            maker = re_path if pattern.name == "oidc-connect-discovery-info" else path
            pattern = maker(str(pattern.pattern), view.as_view(), name=pattern.name)
        patterns.append(pattern)
    return patterns


def urlpatterns(prefix: str, *, test_mode: bool) -> list[Any]:
    """The URL configuration: DOT under `prefix` (the issuer's path, e.g. `o/`), Django's
    login form at `accounts/login/`, and in test mode the counters and DOT's own
    introspection answer (`__test/introspect-dot/`, any client) for comparison."""
    patterns: list[Any] = [
        path(prefix, include((_dot_patterns(), "oauth2_provider"))),
        path("accounts/login/", LoginView.as_view(), name="login"),
    ]
    if test_mode:
        patterns += [
            path("__test/stats", stats_view),
            path("__test/introspect-dot/", IntrospectTokenView.as_view()),
        ]
    return patterns
