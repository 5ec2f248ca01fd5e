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
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Round:
    """Tokens per second of one round."""

    cold: float
    warm: float
    reference: float


def make_pyjwt(url: str, alg: str) -> Callable[[str], dict[str, Any]]:
    client = pyjwt.PyJWKClient(url, cache_keys=True, cache_jwk_set=True, lifespan=3600)

    def verify(token: str) -> dict[str, Any]:
        key = client.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = pyjwt.decode(
            token,
            key.key,
            algorithms=[alg],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iss", "aud"]},
        )
        return claims

    return verify


async def measure(url: str, tokens: list[str], alg: str, rounds: int) -> list[Round]:
    """Each round times cold, warm and PyJWT back to back over the same tokens, so a
    busy machine slows all three alike; per-round ratios are then comparable."""
    profile = TokenProfile.access_token((AUDIENCE,), ("at+jwt", "application/at+jwt", "JWT"))
    reference = make_pyjwt(url, alg)
    async with httpx.AsyncClient() as client:
        keys = JWKSCache(client, url)
        await keys.refresh()  # keys loaded before timing, as in a running service
        cold = TokenVerifier(keys, issuer=ISSUER, leeway_s=LEEWAY_S, cache_size=0)
        warm = TokenVerifier(keys, issuer=ISSUER, leeway_s=LEEWAY_S, cache_size=len(tokens) + 1)
        for token in tokens:  # fill the warm cache; also proves every token is valid
            assert (await warm.verify(token, profile)).claims["iss"] == ISSUER
            assert reference(token)["iss"] == ISSUER  # and PyJWT has its keys too

        async def timed(verifier: TokenVerifier) -> float:
            start = time.perf_counter()
            for token in tokens:
                await verifier.verify(token, profile)
            return time.perf_counter() - start

        def timed_reference() -> float:
            start = time.perf_counter()
            for token in tokens:
                reference(token)
            return time.perf_counter() - start

        results = []
        for _ in range(rounds):
            c, w, r = await timed(cold), await timed(warm), timed_reference()
            n = len(tokens)
            results.append(Round(cold=n / c, warm=n / w, reference=n / r))
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000, help="distinct tokens per round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--alg", default="RS256,ES256", help="comma-separated algorithms")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    failed = False
    for alg in args.alg.split(","):
        factory = TokenFactory(keys=[generate_key(alg, f"{alg.lower()}-bench")])
        tokens = [factory.mint(lifetime_s=3600) for _ in range(args.tokens)]
        with serve_jwks(factory.jwks()) as url:
            rounds = asyncio.run(measure(url, tokens, alg, args.rounds))
        cold = max(r.cold for r in rounds)
        warm = max(r.warm for r in rounds)
        reference = max(r.reference for r in rounds)
        # cost per token is 1/rate, so a cost ratio is the reference rate over ours
        cold_ratio = statistics.median(r.reference / r.cold for r in rounds)
        warm_ratio = statistics.median(r.reference / r.warm for r in rounds)
        print(f"== {alg}: {args.tokens} distinct tokens, {args.rounds} interleaved rounds")
        print(f"  shared cold (no cache, keys loaded): {cold:12,.0f} tokens/s (best round)")
        print(f"  shared warm (cache hit):             {warm:12,.0f} tokens/s (best round)")
        print(f"  PyJWT + PyJWKClient (reference):     {reference:12,.0f} tokens/s (best round)")
        print(
            f"  cold cost / PyJWT cost = {cold_ratio:.3f}  (median of rounds; target <= "
            f"{COLD_TARGET})  {'ok' if cold_ratio <= COLD_TARGET else 'MISSED'}"
        )
        print(
            f"  warm cost / PyJWT cost = {warm_ratio:.4f} (median of rounds; target <= "
            f"{WARM_TARGET})  {'ok' if warm_ratio <= WARM_TARGET else 'MISSED'}"
        )
        failed |= cold_ratio > COLD_TARGET or warm_ratio > WARM_TARGET
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
