"""`CookieSessionStore`: the whole session sealed (AES-256-GCM) in chunked cookies.

Browsers keep about 4,096 bytes per cookie (RFC 6265 §6.1), so a sealed value above
`CHUNK_BYTES` is split: the first cookie holds `N~part0`, the others `part1..part(N-1)`.
The chunks are only concatenated then opened as one AEAD value, so a missing, reordered,
truncated or foreign chunk fails authentication and is no session.
"""

from collections import OrderedDict
from collections.abc import Mapping

from bff.cookies import CookiePolicy
from bff.errors import SessionTooLarge
from bff.keyring import KeyRing
from bff.session.model import Session
from bff.session.store import Loaded

PURPOSE = "bff-session"
#: value bytes per cookie, leaving room for the name and attributes under 4,096
CHUNK_BYTES = 3800
#: hard budget: more chunks than this is refused at login (about 15 KB of Cookie header)
MAX_CHUNKS = 4


class CookieSessionStore:
    def __init__(self, ring: KeyRing, policy: CookiePolicy, cache_size: int = 2048) -> None:
        self._ring = ring
        self._policy = policy
        # Opened sessions by their exact sealed text: a cookie seen before skips AES-GCM
        # and JSON. Only values that authenticated get in, so a forged cookie never hits;
        # expiry and revocation are still checked on every request by SessionManager.
        self._opened: OrderedDict[str, Loaded] = OrderedDict()
        self._cache_size = cache_size

    async def load(self, cookies: Mapping[str, str]) -> Loaded | None:
        first = cookies.get(self._policy.session_name)
        if not first:
            return None
        count_text, sep, part0 = first.partition("~")
        # isdigit() alone accepts "²" and other non-ASCII digits that int() refuses
        if not sep or len(count_text) != 1 or count_text not in "123456789":
            return None
        if not 1 <= int(count_text) <= MAX_CHUNKS:
            return None
        parts = [part0]
        for index in range(1, int(count_text)):
            part = cookies.get(self._policy.chunk_name(index))
            if part is None:
                return None
            parts.append(part)
        sealed = "".join(parts)
        hit = self._opened.get(sealed)
        if hit is not None:
            self._opened.move_to_end(sealed)
            return hit
        opened = self._ring.open(sealed, PURPOSE)
        if opened is None:
            return None
        session = Session.from_payload(opened.payload)
        if session is None:
            return None
        loaded = Loaded(session, opened.stale_key)
        self._opened[sealed] = loaded
        if len(self._opened) > self._cache_size:
            self._opened.popitem(last=False)
        return loaded

    async def save(self, session: Session, cookies: Mapping[str, str], max_age_s: int) -> list[str]:
        sealed = self._ring.seal(session.to_payload(), PURPOSE)
        parts = [sealed[i : i + CHUNK_BYTES] for i in range(0, len(sealed), CHUNK_BYTES)]
        if len(parts) > MAX_CHUNKS:
            raise SessionTooLarge(
                f"sealed session is {len(sealed)} bytes, over {MAX_CHUNKS} cookies "
                f"of {CHUNK_BYTES} bytes"
            )
        parts[0] = f"{len(parts)}~{parts[0]}"
        lines = [
            self._policy.set(self._policy.chunk_name(i), part, max_age=max_age_s)
            for i, part in enumerate(parts)
        ]
        written = {self._policy.chunk_name(i) for i in range(len(parts))}
        # stale chunks of a previous, longer session would otherwise linger
        lines += [
            self._policy.delete(n)
            for n in self._policy.session_cookies(cookies)
            if n not in written
        ]
        return lines

    async def clear(self, cookies: Mapping[str, str]) -> list[str]:
        return [self._policy.delete(n) for n in self._policy.session_cookies(cookies)]

    async def verify_connection(self) -> None:
        return None
