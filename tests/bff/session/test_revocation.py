"""`MemoryRevocationList` bounds: fail closed, no O(n) pruning."""

import time

from bff.session.replay import MemoryOneTimeMarkers
from bff.session.revocation import MemoryRevocationList
from tests.support.clock import FakeClock


async def test_a_full_list_never_unrevokes_a_session() -> None:
    clock = FakeClock()
    now = clock()
    revocations = MemoryRevocationList(clock, max_revoked=3)
    await revocations.revoke("sid:victim", now, 43200)
    for i in range(10):  # local logouts push the victim's entry out
        clock.advance(1)
        await revocations.revoke(f"bff:{i}", clock(), 43200)
    latest = await revocations.revoked_since(["sid:victim", "sub:victim"])
    assert latest is not None
    assert latest >= now  # the victim's session (created before `now`) stays revoked
    # a session created after the evicted revocations is not affected
    fresh = await revocations.revoked_since(["bff:new"])
    assert fresh is not None
    assert fresh < clock() + 1


async def test_expired_entries_make_room_without_a_watermark() -> None:
    clock = FakeClock()
    revocations = MemoryRevocationList(clock, max_revoked=3)
    for i in range(3):
        await revocations.revoke(f"bff:{i}", clock(), 10)
    clock.advance(11)
    for i in range(3):
        await revocations.revoke(f"bff:x{i}", clock(), 10)
    assert await revocations.revoked_since(["bff:other"]) is None


async def test_inserts_do_not_scan_the_whole_list() -> None:
    clock = FakeClock()
    revocations = MemoryRevocationList(clock)
    markers = MemoryOneTimeMarkers(clock)
    started = time.perf_counter()
    for i in range(30_000):  # an O(n) prune per insert takes tens of seconds here
        await markers.first_use(f"state:{i}", 600)
        await revocations.revoke(f"bff:{i}", clock(), 43200)
    assert time.perf_counter() - started < 5
    assert await markers.first_use("state:0", 600) is False
    assert await revocations.revoked_since(["bff:0"]) == clock()
