"""Soak: steady traffic through the BFF and the resource API for a long while (default 10
minutes), access tokens refreshing every 30 s, against the real provider, the API on
PostgreSQL and the BFF on the Redis store. Prints the RSS curve of both services and fails
when there is any error or when a process grew by 10 % or more after the warm-up.

    uv run python bench/soak.py [--minutes 10] [--sessions 4] [--rate 40]
"""

import argparse
import os
import secrets
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.browser import Browser  # noqa: E402
from tests.e2e.stack import running_stack  # noqa: E402

#: tokens live 40 s and are refreshed 10 s before they expire: every 30 s
ACCESS_TOKEN_TTL_S = 40
REFRESH_MARGIN_S = 10
#: RSS growth allowed after the warm-up
MAX_GROWTH = 0.10
SAMPLE_S = 15.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def traffic(
    bff_url: str, cookies: httpx.Cookies, rate: float, stop: threading.Event, counts: Counter[str]
) -> None:
    """One session's calls: reads, and every tenth call a write then a delete."""
    interval = 1.0 / rate
    with httpx.Client(base_url=bff_url, cookies=cookies, timeout=30, trust_env=False) as client:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.monotonic()
            try:
                if n % 10 == 0:
                    created = client.post(
                        "/api/products", json={"name": f"soak-{n}"}, headers={"X-CSRF": "1"}
                    )
                    counts[str(created.status_code)] += 1
                    if created.status_code == 201:
                        gone = client.delete(
                            f"/api/products/{created.json()['id']}", headers={"X-CSRF": "1"}
                        )
                        counts[str(gone.status_code)] += 1
                else:
                    counts[
                        str(
                            client.get(
                                "/api/products?limit=20", headers={"X-CSRF": "1"}
                            ).status_code
                        )
                    ] += 1
            except httpx.HTTPError as exc:
                counts[type(exc).__name__] += 1
            stop.wait(max(0.0, interval - (time.monotonic() - started)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--rate", type=float, default=40.0, help="requests/s over all sessions")
    parser.add_argument("--warmup", type=float, default=0.2, help="part of the run that warms up")
    args = parser.parse_args()
    env = {
        "BFF_SESSION_STORE": "redis",
        "BFF_REDIS_URL": os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "BFF_REDIS_PREFIX": f"soak-{secrets.token_hex(4)}:",
        "BFF_REFRESH_MARGIN_S": str(REFRESH_MARGIN_S),
    }
    with running_stack("soak", access_token_ttl_s=ACCESS_TOKEN_TTL_S, bff_env=env) as stack:
        pids = {"bff": stack.stack.pid("bff"), "api": stack.stack.pid("resource-api")}
        jars = []
        for _ in range(args.sessions):
            with Browser(stack.bff_url) as browser:
                browser.login(f"soak{secrets.token_hex(3)}")
                jars.append(httpx.Cookies(browser.client.cookies))
        stop, counts = threading.Event(), Counter[str]()
        workers = [
            threading.Thread(
                target=traffic,
                args=(stack.bff_url, jar, args.rate / args.sessions, stop, counts),
                daemon=True,
            )
            for jar in jars
        ]
        before = stack.provider_stats()
        for worker in workers:
            worker.start()
        start, end = time.monotonic(), time.monotonic() + args.minutes * 60
        curve: list[tuple[float, float, float, int]] = []
        print(f"{'t s':>6} {'bff MB':>8} {'api MB':>8} {'requests':>9} {'errors':>7}")
        while True:
            now = time.monotonic()
            total = sum(counts.values())
            errors = total - counts["200"] - counts["201"] - counts["204"]
            sample = (now - start, rss_mb(pids["bff"]), rss_mb(pids["api"]), total)
            curve.append(sample)
            print(
                f"{sample[0]:>6.0f} {sample[1]:>8.1f} {sample[2]:>8.1f} {total:>9} {errors:>7}",
                flush=True,
            )
            if now >= end:
                break
            time.sleep(min(SAMPLE_S, max(0.0, end - now)))
        stop.set()
        for worker in workers:
            worker.join(timeout=35)
        after = stack.provider_stats()
    refreshes = after["grant_success"].get("refresh_token", 0) - before["grant_success"].get(
        "refresh_token", 0
    )
    warm = next(s for s in curve if s[0] >= args.warmup * args.minutes * 60)
    last = curve[-1]
    growth = {"bff": last[1] / warm[1] - 1, "api": last[2] / warm[2] - 1}
    total = sum(counts.values())
    errors = total - counts["200"] - counts["201"] - counts["204"]
    print(
        f"{total} requests in {args.minutes:g} min, {errors} errors {dict(counts)}, "
        f"{refreshes} refreshes, reuse {after['refresh_token_reuse']}; RSS after warm-up "
        f"({warm[0]:.0f} s): bff {warm[1]:.1f} -> {last[1]:.1f} MB ({growth['bff']:+.1%}), "
        f"api {warm[2]:.1f} -> {last[2]:.1f} MB ({growth['api']:+.1%})"
    )
    ok = errors == 0 and after["refresh_token_reuse"] == 0 and max(growth.values()) < MAX_GROWTH
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
