"""`python -m resource_api [serve|migrate|check-config]` (SPEC "Processes and commands").

Exit status 2, one line per problem on stderr naming the variable, when settings are bad.
"""

import argparse
import logging
import signal
import sys
from types import FrameType

from resource_api.settings import Settings, load_settings
from shared.settings import load_or_exit


def _settings() -> Settings:
    return load_or_exit(load_settings)


def _migrate(settings: Settings) -> int:
    from resource_api.migrate import upgrade

    try:
        upgrade(settings.database_url)
    except Exception as exc:  # report the cause in one line, not a traceback
        url = settings.safe_database_url
        print(f"migrate: {url}: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


def _stopped(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _serve(settings: Settings) -> int:
    import uvicorn

    from resource_api.app import create_app

    if settings.auto_migrate and _migrate(settings) != 0:
        return 1
    # uvicorn finishes in-flight requests on SIGTERM/SIGINT and runs the lifespan shutdown
    # (closing the pool and the HTTP client), then re-raises the signal with the handlers it
    # found installed: these, so that a requested stop exits 0 (SPEC).
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _stopped)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the handler above (request ids) for uvicorn's records too
        # uvicorn's access line includes the query string, where a client may have put a
        # token; shared.request_log writes one without it, with the request id
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=20,  # seconds
    )
    return 0


LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def _configure_logging() -> None:
    from shared import RequestIdFilter

    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resource_api")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "check-config"]
    )
    args = parser.parse_args(argv)
    _configure_logging()
    settings = _settings()
    if args.command == "check-config":
        print("configuration ok")
        return 0
    if args.command == "migrate":
        return _migrate(settings)
    return _serve(settings)


if __name__ == "__main__":
    sys.exit(main())
