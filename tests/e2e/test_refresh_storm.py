"""A 50-session refresh storm against the real provider (rotation + reuse detection) and two
BFF instances on Redis: exactly one refresh per session, no failure, no reuse. The full
500-session storm is `bench/refresh_storm.py`."""

from tests.e2e.storm import run_storm, storm_stack

SESSIONS = 50
PER_SESSION = 20
#: long enough for the storm to end before the refreshed tokens are due again
ACCESS_TOKEN_TTL_S = 60


def test_refresh_storm_one_refresh_per_session() -> None:
    with storm_stack("storm", ACCESS_TOKEN_TTL_S) as (stack, second):
        report = run_storm(stack, second, sessions=SESSIONS, per_session=PER_SESSION)
    print(report.summary())
    assert not report.failures, report.failures[:5]
    assert report.reuse_events == 0
    assert report.refresh_errors == 0
    assert report.refresh_calls == SESSIONS
    assert len(report.latencies_s) == SESSIONS * PER_SESSION
