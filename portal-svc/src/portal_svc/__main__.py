"""`python -m portal_svc serve` (and `migrate`, a no-op: the portal has no database; the runner
calls it for every service)."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from portal_svc.app import create_app
from portal_svc.settings import get_portal_settings
from shared.logs import configure_logging
from shared.server import run_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="portal_svc")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="nothing to do: the portal has no database")
    sub.add_parser("serve", help="serve the pages")
    args = parser.parse_args(argv)
    settings = get_portal_settings()
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
    if args.command == "migrate":
        logging.getLogger("portal").info("the portal has no database: nothing to migrate")
        return
    settings.require_jwt_secret()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="asyncio",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    run_server(config)  # uvicorn's server, with a tick a second instead of ten


if __name__ == "__main__":
    main()
