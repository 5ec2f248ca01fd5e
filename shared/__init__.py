"""Framework-free OpenID Connect core shared by the BFF and the resource API.

Nothing here imports a web framework or either application (STYLE rule 1).
"""

from shared.clock import Clock, system_clock
from shared.discovery import MetadataCache, ProviderMetadata
from shared.errors import (
    AuthError,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    ProviderError,
    SharedError,
)
from shared.fetch import RetryPolicy
from shared.jwks import JWKSCache
from shared.principal import Principal
from shared.verifier import TokenProfile, TokenVerifier, VerifiedToken

__all__ = [
    "AuthError",
    "Clock",
    "InsufficientScope",
    "InvalidRequest",
    "InvalidToken",
    "JWKSCache",
    "MetadataCache",
    "Principal",
    "ProviderError",
    "ProviderMetadata",
    "RetryPolicy",
    "SharedError",
    "TokenProfile",
    "TokenVerifier",
    "VerifiedToken",
    "system_clock",
]
