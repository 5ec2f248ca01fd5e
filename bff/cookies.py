"""Cookie names and `Set-Cookie` lines, exactly as SPEC says.

With an https public URL every cookie gets `Secure` and the `__Host-Http-` prefix
(draft-ietf-oauth-browser-based-apps §6.1.3.2; RFC 6265bis §4.1.3.2: Secure, Path=/, no
Domain). On http (loopback development) the names drop the prefix and stay distinct from
the provider's own cookies (`_session`, `_interaction*`).
"""

from collections.abc import Iterable

from starlette.requests import Request

HOST_PREFIX = "__Host-Http-"


class CookiePolicy:
    def __init__(self, *, secure: bool, samesite: str) -> None:
        self.secure = secure
        self.samesite = samesite.capitalize()  # "Strict" or "Lax"
        prefix = HOST_PREFIX if secure else ""
        self.session_name = f"{prefix}bff-session"
        self.login_prefix = f"{prefix}bff-login."

    def chunk_name(self, index: int) -> str:
        return self.session_name if index == 0 else f"{self.session_name}.{index}"

    def session_cookies(self, cookies: Iterable[str]) -> list[str]:
        """The session cookie and its chunks among these cookie names, in their order."""
        base = self.session_name
        return [n for n in cookies if n == base or n.startswith(base + ".")]

    def set(self, name: str, value: str, *, max_age: int, samesite: str | None = None) -> str:
        parts = [f"{name}={value}", "Path=/", f"Max-Age={max(0, int(max_age))}", "HttpOnly"]
        parts.append(f"SameSite={samesite or self.samesite}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    def delete(self, name: str, *, samesite: str | None = None) -> str:
        return (
            self.set(name, "", max_age=0, samesite=samesite)
            + "; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        )


def parse_cookie_header(header: str) -> dict[str, str]:
    """Cookie header to a dict; like Starlette's parser but keeps the first of duplicates.

    A duplicate name means something (a sibling subdomain, an injected cookie) is shadowing
    ours; taking the first is what browsers send for the most specific path.
    """
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or name in cookies:
            continue
        cookies[name] = value
    return cookies


def cookies_of(request: Request) -> dict[str, str]:
    """The request's cookies. HTTP/2 may split the Cookie header (RFC 9113 §8.2.3): the
    parts are joined back first."""
    values = [v for n, v in request.scope["headers"] if n == b"cookie"]
    if not values:
        return {}
    return parse_cookie_header(b"; ".join(values).decode("latin-1"))


__all__ = ["HOST_PREFIX", "CookiePolicy", "cookies_of", "parse_cookie_header"]
