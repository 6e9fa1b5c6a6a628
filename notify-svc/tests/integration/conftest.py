"""The real notify app in the test's event loop, on the real broker and a fresh database."""

from __future__ import annotations

import shutil
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from notify_helpers import MAX_ATTEMPTS, MIGRATIONS, Notify, Received, Receiver

from notify_svc.app import create_app
from notify_svc.domain import RetryPolicy
from notify_svc.settings import get_notify_settings
from shared.migrations import upgrade
from testkit import TEST_JWT_SECRET, eventually, unique_group


@pytest.fixture
async def notify(
    kafka_bootstrap: str,
    database_factory: Callable[[str], str],
    tmp_path: Path,
) -> AsyncIterator[Notify]:
    url = database_factory("notify")
    upgrade(MIGRATIONS, url)
    group = unique_group("notify-test")
    settings = get_notify_settings(
        database_url=url,
        kafka_bootstrap_servers=kafka_bootstrap,
        consumer_group=group,
        jwt_secret=TEST_JWT_SECRET,
        data_dir=tmp_path,
        webhook_max_attempts=MAX_ATTEMPTS,
        webhook_timeout_s=3.0,
        outbox_poll_interval_s=0.1,
    )
    app = create_app(
        settings,
        retry_policy=RetryPolicy(base_s=0.2, factor=2.0, max_delay_s=1.0),
        worker_poll_interval_s=0.1,
    )
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        # Stopping while faust is still starting has been seen to hang the runtime's stop:
        # every test lets the consumer finish starting first.
        runtime = app.state.runtime
        await eventually(lambda: runtime.faust.started, timeout_s=30, what="faust to start")
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
            yield Notify(app, client, kafka_bootstrap)
    # faust keeps a "<app id>-data" directory in the working directory: do not leave it.
    shutil.rmtree(Path(f"{group}-data"), ignore_errors=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint on 127.0.0.1: paths starting /fail answer 500, others 204."""
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            holder["r"].requests.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            self.send_response(500 if self.path.startswith("/fail") else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["r"]
    finally:
        server.shutdown()
        server.server_close()
