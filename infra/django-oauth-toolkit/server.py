"""Development OpenID provider with opaque access tokens: django-oauth-toolkit (DOT) in a
small Django project, configured from environment variables, for the end-to-end tests.

`python server.py` (from this directory, in the project's environment). At every start it
generates the RS256 signing key and Django's secret key, makes a fresh SQLite database in a
temporary directory (removed at exit), runs the migrations, creates the users and the
clients, then serves on a loopback address only. Nothing secret is printed or written
outside that directory.

Never use this as a production identity provider.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_NAMES = {"localhost"}
STARTED = time.monotonic()


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str = field(repr=False)
    grant: str
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    issuer: str
    bff: Client
    service: Client
    introspector: Client
    api_scopes: tuple[str, ...]
    access_token_ttl_s: int
    refresh_token_ttl_s: int
    id_token_ttl_s: int
    user_password: str = field(repr=False)
    test_mode: bool
    data_dir: Path | None


OIDC_SCOPES = {
    "openid": "OpenID Connect",
    "profile": "Your name",
    "email": "Your e-mail address",
    "groups": "Your groups",
    # DOT issues a refresh token to every authorization-code client; the scope is only
    # accepted so that clients asking for it (as the BFF does by default) are not refused.
    "offline_access": "Stay signed in",
}

#: Demo users: login name -> (full name, e-mail, groups). Password: DOT_USER_PASSWORD.
USERS = {
    "alice": ("Alice Liddell", "alice@example.test", ()),
    "admin": ("Ada Admin", "admin@example.test", ("admin",)),
}


def load_config(env: dict[str, str]) -> tuple[Config | None, list[str]]:
    """Read the `DOT_*` variables; every problem is reported, naming the variable."""
    problems: list[str] = []

    def get(name: str, default: str = "") -> str:
        value = env.get(name, "").strip()
        return value or default

    def seconds(name: str, default: int) -> int:
        raw = get(name, str(default))
        if not raw.isdigit() or int(raw) <= 0:
            problems.append(f"{name}: must be a positive integer (seconds)")
            return default
        return int(raw)

    def uris(name: str, default: str) -> tuple[str, ...]:
        return tuple(u.strip() for u in get(name, default).split(",") if u.strip())

    host = get("DOT_HOST", "127.0.0.1")
    if not _is_loopback(host):
        problems.append(f"DOT_HOST: {host} is not a loopback address; development only")
    port_raw = get("DOT_PORT", "9200")
    port = int(port_raw) if port_raw.isdigit() and 0 < int(port_raw) < 65536 else 0
    if not port:
        problems.append("DOT_PORT: must be a TCP port number")
    issuer = get("DOT_ISSUER", f"http://{host}:{port}/o").rstrip("/")
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append("DOT_ISSUER: not an http(s) URL")
    elif parts.scheme == "http" and not _is_loopback(parts.hostname):
        problems.append("DOT_ISSUER: http is allowed on loopback hosts only")
    elif parts.path.strip("/") == "" or parts.query or parts.fragment:
        # DOT is mounted under the issuer's path; the login form lives outside it.
        problems.append("DOT_ISSUER: needs a path (e.g. /o) and no query or fragment")

    api_scopes = tuple(get("DOT_API_SCOPES", "inventory:read inventory:write").split())
    public = get("DOT_BFF_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
    bff = Client(
        client_id=get("DOT_BFF_CLIENT_ID", "bff"),
        secret=get("DOT_BFF_CLIENT_SECRET") or secrets.token_urlsafe(32),
        grant="authorization-code",
        scopes=(*OIDC_SCOPES, *api_scopes),
        redirect_uris=uris("DOT_BFF_REDIRECT_URIS", f"{public}/auth/callback"),
        post_logout_redirect_uris=uris("DOT_BFF_POST_LOGOUT_REDIRECT_URIS", f"{public}/,{public}"),
    )
    service = Client(
        client_id=get("DOT_SERVICE_CLIENT_ID", "inventory-service"),
        secret=get("DOT_SERVICE_CLIENT_SECRET") or secrets.token_urlsafe(32),
        grant="client-credentials",
        scopes=api_scopes[:1],
    )
    introspector = Client(
        client_id=get("DOT_INTROSPECTION_CLIENT_ID", "inventory-api"),
        secret=get("DOT_INTROSPECTION_CLIENT_SECRET") or secrets.token_urlsafe(32),
        grant="client-credentials",
        scopes=(),
    )
    ids = [bff.client_id, service.client_id, introspector.client_id]
    if len(set(ids)) != len(ids):
        problems.append("DOT_*_CLIENT_ID: the three client ids must differ")
    data_dir = get("DOT_DATA_DIR")
    config = Config(
        host=host,
        port=port,
        issuer=issuer,
        bff=bff,
        service=service,
        introspector=introspector,
        api_scopes=api_scopes,
        access_token_ttl_s=seconds("DOT_ACCESS_TOKEN_TTL_S", 300),  # 5 minutes
        refresh_token_ttl_s=seconds("DOT_REFRESH_TOKEN_TTL_S", 14 * 24 * 3600),  # 14 days
        id_token_ttl_s=seconds("DOT_ID_TOKEN_TTL_S", 3600),  # 1 hour
        user_password=get("DOT_USER_PASSWORD") or secrets.token_urlsafe(16),
        test_mode=get("DOT_TEST_MODE").lower() in ("1", "true", "yes"),
        data_dir=Path(data_dir) if data_dir else None,
    )
    return (None if problems else config), problems


def _rsa_private_key_pem() -> str:
    # RS256 (RFC 7518 §3.3): 2048-bit RSA, regenerated at every start, never written out.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


LOGIN_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><h1>Sign in</h1>
<form method="post" action="">{% csrf_token %}
{{ form.as_p }}
<input type="hidden" name="next" value="{{ next }}">
<button type="submit">Sign in</button>
</form></body></html>
"""


def django_settings(config: Config, data_dir: Path) -> dict[str, Any]:
    clients = (config.bff, config.service, config.introspector)
    return {
        "DEBUG": False,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": [config.host, urlsplit(config.issuer).hostname or config.host],
        "USE_TZ": True,
        "INSTALLED_APPS": [
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "oauth2_provider",
        ],
        "MIDDLEWARE": [
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "ROOT_URLCONF": "server_urls",
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(data_dir / "provider.sqlite3"),
                # threads share one file: wait for the write lock instead of failing, and
                # take it up front so two transactions never deadlock upgrading theirs
                "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            }
        },
        "PASSWORD_HASHERS": ["provider.DevPasswordHasher"],
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                    ],
                    "loaders": [
                        (
                            "django.template.loaders.locmem.Loader",
                            {"registration/login.html": LOGIN_TEMPLATE},
                        ),
                        "django.template.loaders.app_directories.Loader",
                    ],
                },
            }
        ],
        "STATIC_URL": "/static/",
        "LOGIN_URL": "/accounts/login/",
        # Cookie names of their own: on 127.0.0.1 cookies are shared across ports with the
        # BFF (`bff-*`) and the other development provider (`_session`, `_interaction*`).
        "SESSION_COOKIE_NAME": "dot_session",
        "CSRF_COOKIE_NAME": "dot_csrftoken",
        "SESSION_COOKIE_SAMESITE": "Lax",
        "LOGGING_CONFIG": None,
        "DEV_OIDC_SCOPES": tuple(OIDC_SCOPES),
        "DEV_CLIENT_SCOPES": {c.client_id: c.scopes for c in clients},
        "DEV_INTROSPECTION_CLIENTS": (config.introspector.client_id,),
        "OAUTH2_PROVIDER": {
            "OIDC_ENABLED": True,
            "OIDC_ISS_ENDPOINT": config.issuer,
            "OIDC_RSA_PRIVATE_KEY": _rsa_private_key_pem(),
            "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
            "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
            # OIDC RP-Initiated Logout §2: no prompt when the id_token_hint belongs to the
            # signed-in user (DOT's default asks every time).
            "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
            "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
            "SCOPES": {
                **OIDC_SCOPES,
                **{s: f"Inventory API: {s}" for s in config.api_scopes},
            },
            "SCOPES_BACKEND_CLASS": "provider.ClientScopes",
            "OAUTH2_VALIDATOR_CLASS": "provider.Validator",
            "ACCESS_TOKEN_EXPIRE_SECONDS": config.access_token_ttl_s,
            "REFRESH_TOKEN_EXPIRE_SECONDS": config.refresh_token_ttl_s,
            "ID_TOKEN_EXPIRE_SECONDS": config.id_token_ttl_s,
            "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
            "PKCE_REQUIRED": True,
            "ROTATE_REFRESH_TOKEN": True,
            # RFC 9700 §4.14.2: replaying a rotated refresh token revokes its whole family.
            "REFRESH_TOKEN_REUSE_PROTECTION": True,
            "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
            "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
            "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
            "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
            "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
            "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
            # RFC 9207: `iss` on the authorization response, advertised in discovery
            "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
            "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # tokens stored as SHA-256 only
        },
    }


def _log(event: str, **fields: Any) -> None:
    line = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event, **fields}
    print(json.dumps(line), flush=True)


def _bootstrap(config: Config) -> None:
    """Migrate, then create the groups, users and clients of this run."""
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from oauth2_provider.models import get_application_model

    call_command("migrate", verbosity=0, interactive=False)
    for login, (full_name, email, groups) in USERS.items():
        first, _, last = full_name.partition(" ")
        user = User.objects.create_user(
            login, email, config.user_password, first_name=first, last_name=last
        )
        for name in groups:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
    application = get_application_model()
    for client in (config.bff, config.service, config.introspector):
        application.objects.create(
            client_id=client.client_id,
            client_secret=client.secret,  # hashed on save (hash_client_secret)
            client_type=application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=client.grant,
            redirect_uris=" ".join(client.redirect_uris),
            post_logout_redirect_uris=" ".join(client.post_logout_redirect_uris),
            name=client.client_id,
            # first-party BFF: no consent screen
            skip_authorization=client.grant == "authorization-code",
            algorithm=application.RS256_ALGORITHM,
        )


def _serve(config: Config) -> None:
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Handler(WSGIRequestHandler):
        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            # Never the query string: it carries codes, states and id_token_hint.
            _log("request", method=self.command, path=self.path.split("?", 1)[0], status=code)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # errors are logged by Django's loggers; request lines by log_request

    server = ThreadedWSGIServer((config.host, config.port), Handler, ipv6=":" in config.host)
    server.set_app(WSGIHandler())

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _log(
        "listening",
        issuer=config.issuer,
        bff_client_id=config.bff.client_id,
        service_client_id=config.service.client_id,
        introspection_client_id=config.introspector.client_id,
        users=sorted(USERS),
        access_token_ttl_s=config.access_token_ttl_s,
        test_mode=config.test_mode,
        start_s=round(time.monotonic() - STARTED, 2),
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def main() -> int:
    config, problems = load_config(dict(os.environ))
    if config is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 2
    data_dir = config.data_dir or Path(tempfile.mkdtemp(prefix="dot-provider-"))
    try:
        import django
        from django.conf import settings

        logging.basicConfig(
            level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(name)s %(message)s"
        )
        settings.configure(**django_settings(config, data_dir))
        django.setup()

        import provider

        prefix = urlsplit(config.issuer).path.strip("/") + "/"
        # ROOT_URLCONF names a module: this one is made here, from the settings
        urls = types.ModuleType("server_urls")
        urls.urlpatterns = provider.urlpatterns(prefix, test_mode=config.test_mode)
        sys.modules["server_urls"] = urls

        _bootstrap(config)
        _serve(config)
    finally:
        if config.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
