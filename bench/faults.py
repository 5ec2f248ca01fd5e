"""Faults during steady traffic, as a table: each dependency of the stack (provider, JWKS,
upstream API, PostgreSQL, Redis) is cut for a while and restored while a signed-in client
keeps reading and writing through the BFF. The stack is the end-to-end one (real provider,
API on PostgreSQL, BFF on the Redis store) with a cuttable relay in front of each dependency
(tests/e2e/faults.py); tests/e2e/test_faults.py asserts on the same runs.

    uv run python bench/faults.py [--down 6] [--after 8]
"""

import argparse
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.browser import Browser  # noqa: E402
from tests.e2e.faults import FAULTS, fault_stack, run_fault, stored_names  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--down", type=float, default=6.0, help="seconds each dependency is cut")
    parser.add_argument("--after", type=float, default=8.0, help="seconds watched after it")
    args = parser.parse_args()
    header = (
        f"{'fault':<11} {'requests':>8} {'2xx':>5} {'502':>4} {'503':>4} {'504':>4} "
        f"{'5xx other':>9} {'401':>4} {'no answer':>9} {'recovery s':>10} "
        f"{'writes ok':>9} {'rows ok':>7}"
    )
    print(header)
    failed = False
    with fault_stack() as stack:
        for fault in FAULTS:
            proxy = stack.proxies[fault]
            with Browser(stack.e2e.bff_url) as browser:
                browser.login(f"b{secrets.token_hex(4)}")
                report = run_fault(
                    fault,
                    browser.client,
                    stack.e2e.bff_url,
                    proxy.cut,
                    proxy.restore,
                    down_s=args.down,
                    after_s=args.after,
                )
            counts = report.statuses
            stored = stored_names(stack.database, f"fault-{fault}-")
            rows_ok = sorted(stored) == sorted(report.created())
            recovery = report.recovery_s()
            other = len(report.server_errors())
            failed |= bool(other or counts[0] or counts[401] or not rows_ok or recovery is None)
            print(
                f"{fault:<11} {len(report.outcomes):>8} {counts[200] + counts[201]:>5} "
                f"{counts[502]:>4} {counts[503]:>4} {counts[504]:>4} {other:>9} "
                f"{counts[401]:>4} {counts[0]:>9} "
                f"{'never' if recovery is None else f'{recovery:.2f}':>10} "
                f"{len(report.created()):>9} {'yes' if rows_ok else 'NO':>7}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
