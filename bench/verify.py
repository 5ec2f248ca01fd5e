"""Token verification throughput: `shared.TokenVerifier` cold and warm against PyJWT.

    uv run python bench/verify.py [--tokens N] [--rounds R] [--alg RS256,ES256]

- cold: the verified-token cache is disabled (`cache_size=0`); keys are already loaded,
  so every token costs a full parse, header check, signature and claims validation.
- warm: every token is already in the cache (a repeated bearer token).
- reference: PyJWT `jwt.decode` with a key from `PyJWKClient` (its key set cached), the
  same checks (signature, `iss`, `aud`, `exp`, `nbf`, `iat`, leeway 30 s).

The JWKS is served from a loopback `http.server` thread; nothing leaves 127.0.0.1.
Costs are compared per token: a ratio below 1 means `shared` is cheaper than PyJWT.
"""

import argparse
import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import jwt as pyjwt

from shared import JWKSCache, TokenProfile, TokenVerifier
from tests.support.tokens import AUDIENCE, ISSUER, TokenFactory, generate_key

LEEWAY_S = 30
WARM_TARGET = 0.1  # warm cost at most 0.1x PyJWT's
COLD_TARGET = 1.0  # cold cost no worse than PyJWT's


@contextmanager
def serve_jwks(document: dict[str, Any]) -> Iterator[str]:
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks"
    finally:
        server.shutdown()
        server.server_close()


def best_rate(run: Callable[[], float], count: int, rounds: int) -> float:
    """Tokens per second of the fastest of `rounds` runs (the least disturbed one)."""
    return max(count / run() for _ in range(rounds))


def bench_shared(url: str, tokens: list[str], rounds: int) -> tuple[float, float]:
    profile = TokenProfile.access_token((AUDIENCE,), ("at+jwt", "application/at+jwt", "JWT"))

    async def main() -> tuple[float, float]:
        async with httpx.AsyncClient() as client:
            keys = JWKSCache(client, url)
            await keys.refresh()  # keys loaded before timing, as in a running service
            cold = TokenVerifier(keys, issuer=ISSUER, leeway_s=LEEWAY_S, cache_size=0)
            warm = TokenVerifier(keys, issuer=ISSUER, leeway_s=LEEWAY_S, cache_size=len(tokens) + 1)
            for token in tokens:  # fill the warm cache; also proves every token is valid
                assert (await warm.verify(token, profile)).claims["iss"] == ISSUER

            async def timed(verifier: TokenVerifier) -> float:
                start = time.perf_counter()
                for token in tokens:
                    await verifier.verify(token, profile)
                return time.perf_counter() - start

            cold_rates = [len(tokens) / await timed(cold) for _ in range(rounds)]
            warm_rates = [len(tokens) / await timed(warm) for _ in range(rounds)]
            return max(cold_rates), max(warm_rates)

    return asyncio.run(main())


def bench_pyjwt(url: str, tokens: list[str], alg: str, rounds: int) -> float:
    client = pyjwt.PyJWKClient(url, cache_keys=True, cache_jwk_set=True, lifespan=3600)
    client.get_signing_key_from_jwt(tokens[0])  # JWKS fetched before timing

    def run() -> float:
        start = time.perf_counter()
        for token in tokens:
            key = client.get_signing_key_from_jwt(token)
            claims = pyjwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud"]},
            )
            assert claims["iss"] == ISSUER
        return time.perf_counter() - start

    return best_rate(run, len(tokens), rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000, help="distinct tokens per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--alg", default="RS256,ES256", help="comma-separated algorithms")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    failed = False
    for alg in args.alg.split(","):
        factory = TokenFactory(keys=[generate_key(alg, f"{alg.lower()}-bench")])
        tokens = [factory.mint(lifetime_s=3600) for _ in range(args.tokens)]
        with serve_jwks(factory.jwks()) as url:
            cold, warm = bench_shared(url, tokens, args.rounds)
            reference = bench_pyjwt(url, tokens, alg, args.rounds)
        # cost per token is 1/rate, so cost ratio = reference rate / our rate
        cold_ratio, warm_ratio = reference / cold, reference / warm
        print(f"== {alg}: {args.tokens} distinct tokens, best of {args.rounds} runs")
        print(f"  shared cold (no cache, keys loaded): {cold:12,.0f} tokens/s")
        print(f"  shared warm (cache hit):             {warm:12,.0f} tokens/s")
        print(f"  PyJWT + PyJWKClient (reference):     {reference:12,.0f} tokens/s")
        print(
            f"  cold cost / PyJWT cost = {cold_ratio:.3f}  (target <= {COLD_TARGET})"
            f"  {'ok' if cold_ratio <= COLD_TARGET else 'MISSED'}"
        )
        print(
            f"  warm cost / PyJWT cost = {warm_ratio:.4f} (target <= {WARM_TARGET})"
            f"  {'ok' if warm_ratio <= WARM_TARGET else 'MISSED'}"
        )
        failed |= cold_ratio > COLD_TARGET or warm_ratio > WARM_TARGET
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
