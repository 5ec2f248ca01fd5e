"""`bff.b64`: base64url with or without padding."""

import binascii

import pytest

from bff.b64 import b64url_decode


@pytest.mark.parametrize("text", ["YT_-_w", "YT_-_w==", "YT_-_w="])
def test_padding_is_optional(text: str) -> None:
    assert b64url_decode(text) == b"a?\xfe\xff"


def test_not_base64url_raises_a_value_error() -> None:
    with pytest.raises(binascii.Error):
        b64url_decode("a")
    assert issubclass(binascii.Error, ValueError)
