"""BFF settings: `BFF_*` environment variables (and `.env`), validated all at once.

One frozen object, built by `load_settings()` at process start (never at import time) and
passed to `create_app(settings)`. Secrets are `SecretStr`s, so they never print.
"""

import binascii
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bff.b64 import b64url_decode
from shared.settings import SettingsError, describe

DEFAULT_STATIC_DIR = Path(__file__).resolve().parent / "static"
_KID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


class SessionKey:
    """One `KID:SECRET` entry of `BFF_SESSION_KEYS` (256-bit AES key)."""

    __slots__ = ("kid", "secret")

    def __init__(self, kid: str, secret: bytes) -> None:
        self.kid = kid
        self.secret = secret

    def __repr__(self) -> str:  # never print key material
        return f"SessionKey(kid={self.kid!r}, secret=**********)"


def parse_session_keys(raw: str) -> tuple[SessionKey, ...]:
    """Parse `KID:SECRET,...`. Raises `ValueError` with a message free of key material."""
    keys: list[SessionKey] = []
    for position, entry in enumerate(p.strip() for p in raw.split(",")):
        if not entry:
            continue
        kid, sep, secret = entry.partition(":")
        if not sep or not _KID.match(kid):
            raise ValueError(f"entry {position + 1} is not KID:SECRET (KID: letters, digits, ._-)")
        try:
            material = b64url_decode(secret)
        except (binascii.Error, ValueError):
            raise ValueError(f"key {kid!r}: SECRET is not base64url") from None
        if len(material) != 32:
            raise ValueError(f"key {kid!r}: SECRET must decode to 32 bytes (AES-256)")
        if any(k.kid == kid for k in keys):
            raise ValueError(f"key id {kid!r} appears twice")
        keys.append(SessionKey(kid, material))
    if not keys:
        raise ValueError("at least one KID:SECRET key is required (`python -m bff keys generate`)")
    return tuple(keys)


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _http_url(value: str, *, origin_only: bool = False) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must not contain a query, fragment or credentials")
    if origin_only and parts.path not in ("", "/"):
        raise ValueError("must be an origin (scheme://host[:port]) without a path")
    return value.rstrip("/") if origin_only else value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BFF_", env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    # Not in SPEC (implementers' choice): development escape hatch, declared first so the
    # public_url check below can read it.
    allow_insecure_http: bool = False
    oidc_issuer: str
    client_id: str = Field(min_length=1)
    client_secret: SecretStr = SecretStr("")
    public_url: str
    session_keys: Annotated[tuple[SessionKey, ...], NoDecode]
    upstream_url: str
    scopes: str = "openid profile email offline_access"
    resource: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    session_store: Literal["cookie", "redis"] = "cookie"
    redis_url: SecretStr = Field(default=SecretStr(""), validate_default=True)
    #: not in SPEC: namespace for every Redis key, so several deployments can share one
    redis_prefix: str = "bff:"
    session_max_age_s: int = Field(default=43200, ge=60)  # 12 hours
    session_idle_s: int = Field(default=3600, ge=60)  # 1 hour
    refresh_margin_s: int = Field(default=60, ge=0)
    static_dir: Path = DEFAULT_STATIC_DIR
    cookie_samesite: Literal["strict", "lax"] = "strict"
    # Not in SPEC: proxy tuning and logging.
    upstream_timeout_s: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"

    @field_validator("oidc_issuer", "upstream_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str, info: ValidationInfo) -> str:
        value = _http_url(value, origin_only=True)
        host = urlsplit(value).hostname or ""
        insecure_ok = info.data.get("allow_insecure_http", False)
        if value.startswith("http:") and not _is_loopback(host) and not insecure_ok:
            # draft-ietf-oauth-browser-based-apps §6.1.3.2: session cookies must be Secure;
            # plain http is for loopback development only.
            raise ValueError(
                "http is allowed only on a loopback host "
                "(set BFF_ALLOW_INSECURE_HTTP=true for development)"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        url = value.get_secret_value()
        if info.data.get("session_store") == "redis" and not url:
            raise ValueError("required when BFF_SESSION_STORE=redis")
        if url:
            from redis.connection import parse_url

            try:
                parse_url(url)  # type: ignore[no-untyped-call]
            except ValueError:
                # the URL may hold a password: the message never repeats it
                raise ValueError(
                    "must be a redis://, rediss:// or unix:// URL (with a numeric port)"
                ) from None
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("session_idle_s")
    @classmethod
    def _check_idle(cls, value: int, info: ValidationInfo) -> int:
        max_age = info.data.get("session_max_age_s")
        if isinstance(max_age, int) and value > max_age:
            raise ValueError("must not exceed BFF_SESSION_MAX_AGE_S")
        return value

    @field_validator("resource")
    @classmethod
    def _check_resource(cls, value: str) -> str:
        # RFC 8707 §2: an absolute URI without a fragment
        if value and (not urlsplit(value).scheme or "#" in value):
            raise ValueError("must be an absolute URI without a fragment")
        return value

    @field_validator("session_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_session_keys(value)
        return value

    @field_validator("scopes")
    @classmethod
    def _check_scopes(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("must include openid")
        return value

    @field_validator("cookie_samesite", "session_store", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/auth/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.public_url}/"


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment. Raises `SettingsError` listing every problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe(exc, "BFF_")) from None
