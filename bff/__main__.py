"""`python -m bff [serve | keys generate | check-config]` (SPEC "Processes and commands")."""

import argparse
import signal
import sys

from bff.keyring import generate_key
from bff.settings import Settings, load_settings
from shared.settings import load_or_exit


def _settings_or_exit() -> Settings:
    return load_or_exit(load_settings)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(settings: Settings) -> None:
    import uvicorn

    from bff.app import create_app
    from bff.logs import configure

    configure(settings.log_level)
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, then re-raises the signal
    # with the previous handlers in place: make those exit 0 (SPEC: stop cleanly).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        server_header=False,
        access_log=False,  # its lines carry query strings (authorization codes); see logs
        proxy_headers=False,
        # h11, not httptools: httptools accepts request heads of any size (10 MB seen), h11
        # bounds them. Four session chunks of 3,800 bytes need more than its 16 KiB default.
        http="h11",
        h11_max_incomplete_event_size=64 * 1024,
        timeout_graceful_shutdown=30,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bff", description="OIDC BFF gateway")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the BFF (default)")
    keys = sub.add_parser("keys", help="session key tools")
    keys.add_argument("action", choices=["generate"])
    sub.add_parser("check-config", help="validate settings; exit 0 or 2")
    args = parser.parse_args(argv)

    if args.command == "keys":
        print(generate_key())
        return 0
    settings = _settings_or_exit()
    if args.command == "check-config":
        print("configuration ok")
        return 0
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
