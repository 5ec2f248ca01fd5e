"""Time-ordered UUIDs (RFC 9562 §5.7, version 7).

Keys sort by creation time, so keyset pagination on the primary key alone lists rows in
creation order and new rows land at the right end of the B-tree.
"""

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000  # 48-bit Unix time in milliseconds
    rand = int.from_bytes(os.urandom(10), "big")  # 80 random bits, 74 used
    value = (ms & (2**48 - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 9562 variant
    value |= rand & (2**62 - 1)  # rand_b, 62 bits
    return uuid.UUID(int=value)
