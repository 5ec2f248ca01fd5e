"""Text from outside (paths, error codes, claims) made safe for one log line."""

import re

# Everything outside printable ASCII is escaped, and so is the backslash that starts an
# escape: no value can end a line (CR, LF, U+2028), forge a record or hide behind
# bidirectional controls (U+202E).
_UNSAFE = re.compile(r"[^\x20-\x5b\x5d-\x7e]")


def log_text(value: str, limit: int = 512) -> str:
    """`value` with unsafe characters escaped as `\\xNN`, cut at `limit` characters ("...")."""
    cut = _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", value[:limit])
    return cut + "..." if len(value) > limit else cut
