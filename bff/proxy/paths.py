"""Which `/api` paths and queries may be forwarded at all."""

import functools
from urllib.parse import unquote_to_bytes

from starlette.types import Scope

from bff.errors import InvalidPath

PREFIX = b"/api/"


def api_target(scope: Scope) -> tuple[bytes, bytes]:
    """The raw path after `/api/` and the raw query of a request. Raises `InvalidPath`.

    Routing matched the decoded path: `/%61pi/x` reaches us too, but only the raw form says
    what would be forwarded.
    """
    raw_path = scope.get("raw_path") or scope["path"].encode()
    raw_path = raw_path.split(b"?", 1)[0]
    if raw_path != PREFIX.rstrip(b"/") and not raw_path.startswith(PREFIX):
        raise InvalidPath("path must start with /api/")
    rest = raw_path[len(PREFIX) :]
    query: bytes = scope["query_string"]
    problem = path_problem(rest) or query_problem(query)
    if problem:
        raise InvalidPath(problem)
    return rest, query


@functools.lru_cache(maxsize=1024)
def path_problem(raw: bytes) -> str | None:
    """Why the raw path (after `/api/`) may not be forwarded, or None.

    A pure function of `raw` (SPAs repeat their paths), so its answers are cached.

    Percent-encoded dots, slashes and backslashes, NUL, `..` and `..;` would let a path climb out
    of the API prefix at a server that decodes differently (RFC 3986 §6.2.2.3). Checked
    after one and two rounds of decoding, so double encoding does not slip through.
    """
    if b"\\" in raw or b"\x00" in raw:
        return "backslash or NUL in path"
    if raw.startswith(b"/"):
        return "empty path segment"
    # RFC 3986 §3.3: printable ASCII only; '#' would start a fragment (h11 lets it in)
    if not _printable(raw):
        return "character not allowed in a path"
    segments = raw.split(b"/")
    for index, segment in enumerate(segments):
        if segment == b"" and 0 < index < len(segments) - 1:
            return "empty path segment"
        once = unquote_to_bytes(segment)
        twice = unquote_to_bytes(once)
        for decoded in (once, twice):
            # `..;/x`: servers that strip matrix parameters (Tomcat) see `..` (RFC 3986 §3.3)
            dots = decoded.split(b";", 1)[0]
            if dots in (b".", b"..") or b"/" in decoded or b"\\" in decoded:
                return "dot segment or encoded separator in path"
            if any(c < 0x20 or c == 0x7F for c in decoded):
                return "control character in path"
    return None


def query_problem(query: bytes) -> str | None:
    """Why the raw query may not be forwarded, or None: printable ASCII without '#'."""
    return None if _printable(query) else "character not allowed in the query"


def _printable(raw: bytes) -> bool:
    return not any(c < 0x21 or c > 0x7E or c == 0x23 for c in raw)
