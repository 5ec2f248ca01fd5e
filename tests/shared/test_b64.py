"""`shared.b64`: base64url without padding, and nothing outside its alphabet."""

import binascii
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import b64url_decode, b64url_encode


def test_encode_has_no_padding_and_the_url_alphabet() -> None:
    assert b64url_encode(b"a?\xfe\xff") == "YT_-_w"
    assert b64url_encode(b"") == ""
    assert b64url_encode(b"\xfb\xff") == "-_8"


@pytest.mark.parametrize("text", ["YT_-_w", "YT_-_w==", "YT_-_w="])
def test_padding_is_optional(text: str) -> None:
    assert b64url_decode(text) == b"a?\xfe\xff"


@given(st.binary(max_size=200))
def test_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@pytest.mark.parametrize(
    "text",
    [
        "a",  # one character is 6 bits: no encoder writes it
        "YWJjZ",  # likewise after whole groups
        "YT+/_w",  # the standard alphabet's + and / are not base64url
        "YT_-_w!!",
        "YT_ -_w",
        "YT_-_w\n",
        "YT=_-_w",  # padding in the middle
        "YQ===",
        "ÿÿÿÿ",
        "\uff39\uff31",  # fullwidth YQ: not ASCII
    ],
)
def test_anything_else_raises_a_value_error(text: str) -> None:
    with pytest.raises(binascii.Error):
        b64url_decode(text)
    assert issubclass(binascii.Error, ValueError)


def test_random_keys_survive() -> None:
    key = os.urandom(32)
    assert len(b64url_encode(key)) == 43
    assert b64url_decode(b64url_encode(key)) == key
