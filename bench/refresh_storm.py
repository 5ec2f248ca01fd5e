"""Refresh storm: N sessions (default 500) whose access tokens are all due at once, 20
concurrent requests each, over two BFF instances sharing Redis, against the real provider
with refresh-token rotation and reuse detection. Prints failures, token-endpoint calls per
session, reuse events and p50/p99 of the storm (tests/e2e/storm.py does the work).

    uv run python bench/refresh_storm.py [--sessions 500] [--per-session 20]
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.storm import run_storm, storm_stack  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--per-session", type=int, default=20)
    parser.add_argument(
        "--ttl", type=int, default=180, help="access-token lifetime, s: longer than the storm"
    )
    args = parser.parse_args()
    with storm_stack("bench-storm", args.ttl) as (stack, second):
        report = run_storm(stack, second, sessions=args.sessions, per_session=args.per_session)
    print(report.summary())
    ok = not report.failures and report.reuse_events == 0 and report.refresh_calls == args.sessions
    if report.failures:
        print("first failures:", report.failures[:5])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
