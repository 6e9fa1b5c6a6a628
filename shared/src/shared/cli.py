"""The command line every service offers: `python -m <service> migrate | serve`."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fastapi import FastAPI

from shared.logs import configure_logging
from shared.migrations import upgrade
from shared.server import serve
from shared.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def service_main(
    *,
    settings_factory: Callable[[], S],
    app_factory: Callable[[S], FastAPI],
    migrations: Path,
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade the database to the newest migration")
    sub.add_parser("serve", help="run the HTTP API and the stream consumers")
    args = parser.parse_args(argv)

    settings = settings_factory()
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
    log = logging.getLogger(settings.service_name)
    if args.command == "migrate":
        upgrade(migrations, settings.resolved_database_url)
        log.info("database migrated to head")
        return
    settings.require_jwt_secret()
    serve(app_factory(settings), settings)
