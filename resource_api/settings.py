"""Settings of the resource API: `API_*` environment variables and `.env` (SPEC "Settings").

One frozen object, built once by the entry point and passed to `create_app(settings)`.
`load_settings()` reports every problem at once, each line naming its variable.
"""

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared import check_issuer
from shared.jwks import SUPPORTED_ALGORITHMS
from shared.principal import DEFAULT_GROUPS_CLAIMS
from shared.settings import SettingsError, describe

PREFIX = "API_"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/resource_api.db"
ASYNC_DRIVERS = frozenset({"postgresql+asyncpg", "sqlite+aiosqlite"})

CommaList = Annotated[tuple[str, ...], NoDecode]


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        case_sensitive=False,
    )

    oidc_issuer: str
    audience: CommaList
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    jwks_url: str | None = None
    algorithms: CommaList = ("RS256", "PS256", "ES256", "EdDSA")
    leeway_s: int = Field(default=30, ge=0, le=600)  # seconds
    token_types: CommaList = ("at+jwt", "application/at+jwt", "JWT")
    groups_claims: CommaList = DEFAULT_GROUPS_CLAIMS
    admin_groups: CommaList = ("admin",)
    service_clients: CommaList = ()
    #: `(issuer, subject)` of an identity that is always admin
    bootstrap_admin: Annotated[tuple[str, str] | None, NoDecode] = None
    auto_migrate: bool = True
    #: users, like service principals, need inventory:read to read and inventory:write to
    #: write (SPEC); off by default, since many providers put no API scopes in user tokens
    enforce_scopes: bool = False
    #: RFC 7662 introspection of opaque tokens at the first issuer (client_secret_basic)
    introspection_client_id: str = ""
    introspection_client_secret: SecretStr = SecretStr("")
    #: upper bound of the introspection cache, in seconds (never past the token's `exp`)
    introspection_cache_s: int = Field(default=60, ge=0, le=3600)

    @property
    def issuers(self) -> tuple[str, ...]:
        """`API_OIDC_ISSUER`, which may list several issuers, comma-separated (SPEC)."""
        return tuple(part.strip() for part in self.oidc_issuer.split(","))

    @field_validator(
        "audience",
        "algorithms",
        "token_types",
        "groups_claims",
        "admin_groups",
        "service_clients",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        issuers = [part.strip() for part in value.split(",")]
        if not all(issuers):
            raise ValueError("an empty issuer in the list")
        if len(set(issuers)) != len(issuers):
            raise ValueError("an issuer is listed twice")
        for issuer in issuers:
            # OpenID Connect Discovery 1.0 §3: https, except on loopback for development
            check_issuer(_http_url(issuer))
        return ",".join(issuers)

    @model_validator(mode="after")
    def _introspection_pair(self) -> "Settings":
        has_id = bool(self.introspection_client_id)
        has_secret = bool(self.introspection_client_secret.get_secret_value())
        if has_id != has_secret:
            raise ValueError(
                "API_INTROSPECTION_CLIENT_ID and API_INTROSPECTION_CLIENT_SECRET go together"
            )
        return self

    @field_validator("jwks_url", mode="before")
    @classmethod
    def _jwks_url(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return _http_url(str(value))

    @field_validator("audience", "token_types", "groups_claims")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one value is required")
        return value

    @field_validator("algorithms")
    @classmethod
    def _algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one algorithm is required")
        refused = [alg for alg in value if alg not in SUPPORTED_ALGORITHMS]
        if refused:
            # RFC 8725 §3.1-3.2: never `none`, never HMAC
            raise ValueError(f"not allowed: {', '.join(refused)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a SQLAlchemy URL") from None
        if url.drivername not in ASYNC_DRIVERS:
            raise ValueError(f"driver must be one of {', '.join(sorted(ASYNC_DRIVERS))}")
        return value

    @field_validator("bootstrap_admin", mode="before")
    @classmethod
    def _bootstrap_admin(cls, value: Any) -> Any:
        if value is None or isinstance(value, tuple):
            return value
        text = str(value)
        if not text.strip():
            return None
        parts = text.split(" ")
        if len(parts) != 2 or not all(parts):
            raise ValueError("expected 'ISSUER SUBJECT' (one space between)")
        return (parts[0], parts[1])

    @property
    def safe_database_url(self) -> str:
        """`database_url` with its password (if any) masked, for logs and messages."""
        return make_url(self.database_url).render_as_string(hide_password=True)

    def __repr__(self) -> str:
        # the database URL may carry a password
        safe = self.model_dump()
        safe["database_url"] = self.safe_database_url
        return f"Settings({safe!r})"

    __str__ = __repr__


def _http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value.strip()


class _DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL


def database_url_from_env() -> str:
    """Only `API_DATABASE_URL` (for `alembic` run by hand, which needs no other setting)."""
    return _DatabaseSettings().database_url


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read the settings. Raises `SettingsError` naming every bad variable."""
    try:
        return Settings(**dict(overrides or {}))
    except ValidationError as exc:
        raise SettingsError(describe(exc, PREFIX)) from None
