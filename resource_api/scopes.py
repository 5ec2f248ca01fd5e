"""The scopes of this API (SPEC "Resource API") and which one a request needs.

Service principals always need `inventory:read` to read (and never write); users need
`inventory:read` to read and `inventory:write` to write only with `API_ENFORCE_SCOPES=true`.
"""

READ_SCOPE = "inventory:read"
WRITE_SCOPE = "inventory:write"

#: RFC 9110 §9.2.1: the safe methods, which only read
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def scope_for(method: str) -> str:
    """The scope a request with `method` needs: read for a safe method, else write."""
    return READ_SCOPE if method.upper() in SAFE_METHODS else WRITE_SCOPE
