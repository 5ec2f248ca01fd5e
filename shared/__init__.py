"""Framework-free OpenID Connect core shared by the BFF and the resource API.

This module is the whole public surface: the applications import from `shared` only,
never from its submodules. Nothing here imports a web framework or either application
(STYLE rule 1).
"""

from shared.b64 import b64url_decode, b64url_encode
from shared.clock import Clock, system_clock
from shared.discovery import MetadataCache, ProviderMetadata, check_issuer, is_loopback_host
from shared.errors import InvalidToken, ProviderError, SettingsError, SharedError
from shared.fetch import RetryPolicy
from shared.introspection import Introspector, basic_authorization
from shared.jwks import SUPPORTED_ALGORITHMS, JWKSCache
from shared.logs import audit, configure_logging
from shared.logsafe import log_text
from shared.principal import DEFAULT_GROUPS_CLAIMS, Principal
from shared.profiles import check_nonce
from shared.request_log import RequestIdFilter, RequestLogMiddleware, current_request_id
from shared.settings import describe, load_or_exit
from shared.singleflight import KeyedSingleFlight
from shared.verifier import TokenProfile, TokenVerifier, VerifiedToken, looks_like_jws

__all__ = [
    "DEFAULT_GROUPS_CLAIMS",
    "SUPPORTED_ALGORITHMS",
    "Clock",
    "Introspector",
    "InvalidToken",
    "JWKSCache",
    "KeyedSingleFlight",
    "MetadataCache",
    "Principal",
    "ProviderError",
    "ProviderMetadata",
    "RequestIdFilter",
    "RequestLogMiddleware",
    "RetryPolicy",
    "SettingsError",
    "SharedError",
    "TokenProfile",
    "TokenVerifier",
    "VerifiedToken",
    "audit",
    "b64url_decode",
    "b64url_encode",
    "basic_authorization",
    "check_issuer",
    "check_nonce",
    "configure_logging",
    "current_request_id",
    "describe",
    "is_loopback_host",
    "load_or_exit",
    "log_text",
    "looks_like_jws",
    "system_clock",
]
