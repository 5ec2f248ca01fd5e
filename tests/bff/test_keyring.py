"""Unit tests for `bff.keyring`: purpose binding, rotation flag, size and zip-bomb guards."""

import base64
import os
import zlib

from joserfc import jwe
from joserfc.jwk import OctKey

from bff.keyring import KeyRing
from bff.settings import parse_session_keys


def _ring(*kids: str) -> tuple[KeyRing, list[str]]:
    keys = [f"{k}:{base64.urlsafe_b64encode(os.urandom(32)).rstrip(b'=').decode()}" for k in kids]
    return KeyRing(parse_session_keys(",".join(keys))), keys


def test_round_trip_and_purpose_binding() -> None:
    ring, _ = _ring("a")
    sealed = ring.seal({"x": 1}, "one")
    opened = ring.open(sealed, "one")
    assert opened is not None
    assert opened.payload == {"x": 1}
    assert opened.stale_key is False
    assert ring.open(sealed, "two") is None


def test_stale_key_flag() -> None:
    old, keys = _ring("old")
    sealed = old.seal({"x": 1}, "p")
    both = KeyRing(parse_session_keys(f"{_ring('new')[1][0]},{keys[0]}"))
    opened = both.open(sealed, "p")
    assert opened is not None
    assert opened.stale_key is True


def test_oversized_and_malformed_refused() -> None:
    ring, _ = _ring("a")
    assert ring.open("x" * 70_000, "p") is None
    assert ring.open("a.b.c.d.e", "p") is None
    assert ring.open("", "p") is None


def test_zip_bomb_refused() -> None:
    ring, keys = _ring("a")
    secret = base64.urlsafe_b64decode(keys[0].split(":")[1] + "=")
    bomb = zlib.compress(b"[" + b"0," * 2_000_000 + b"0]", 9)
    token = jwe.encrypt_compact(
        {"alg": "dir", "enc": "A256GCM", "kid": "a", "typ": "p"},
        bomb,
        OctKey.import_key(secret),
        registry=jwe.JWERegistry(algorithms=["dir", "A256GCM"]),
    )
    assert ring.open(token, "p") is None


def test_deeply_nested_or_overlong_header_is_no_value() -> None:
    ring, _ = _ring("a")
    deep = base64.urlsafe_b64encode(b"[" * 2000).rstrip(b"=").decode()
    assert ring.open(deep + ".a.b.c.d", "one") is None  # was a RecursionError
    shallow = base64.urlsafe_b64encode(b"[" * 300).rstrip(b"=").decode()
    assert ring.open(shallow + ".a.b.c.d", "one") is None
