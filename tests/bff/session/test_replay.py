"""`MemoryOneTimeMarkers` bounds: one kind of marker never pushes out another."""

from bff.session.replay import MemoryOneTimeMarkers
from tests.support.clock import FakeClock


async def test_state_flood_does_not_push_out_jti_markers() -> None:
    clock = FakeClock()
    markers = MemoryOneTimeMarkers(clock, max_markers=10)
    assert await markers.first_use("jti:iss:logout-1", 900) is True
    for i in range(100):
        assert await markers.first_use(f"state:{i}", 600) is True
    assert await markers.first_use("jti:iss:logout-1", 900) is False
