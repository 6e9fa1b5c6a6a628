"""The real notify app in the test's event loop, on the real broker and a fresh database."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from notify_helpers import MAX_ATTEMPTS, MIGRATIONS, MailSink, Notify, Received, Receiver

from notify_svc.app import create_app
from notify_svc.domain import RetryPolicy
from notify_svc.settings import get_notify_settings
from shared.db import SessionFactory, make_engine, make_session_factory
from shared.migrations import upgrade
from testkit import TEST_JWT_SECRET, eventually, unique_group

NotifyFactory = Callable[..., contextlib.AbstractAsyncContextManager[Notify]]


@pytest.fixture
def notify_factory(kafka_bootstrap: str, tmp_path: Path) -> NotifyFactory:
    """Start a notify app on a database (`url`), in a consumer group, with settings overrides;
    two started on one database and group are two replicas; one started again, a restart."""

    @contextlib.asynccontextmanager
    async def start(
        url: str, group: str, *, retry_policy: RetryPolicy | None = None, **overrides: Any
    ) -> AsyncIterator[Notify]:
        settings = get_notify_settings(
            **{
                "database_url": url,
                "kafka_bootstrap_servers": kafka_bootstrap,
                "consumer_group": group,
                "jwt_secret": TEST_JWT_SECRET,
                "data_dir": tmp_path,
                "webhook_max_attempts": MAX_ATTEMPTS,
                "webhook_timeout_s": 3.0,
                "webhook_allow_private": True,  # the test receivers listen on 127.0.0.1
                "outbox_poll_interval_s": 0.1,
                **overrides,
            }
        )
        app = create_app(
            settings,
            retry_policy=retry_policy or RetryPolicy(base_s=0.2, factor=2.0, max_delay_s=1.0),
            worker_poll_interval_s=0.1,
        )
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
            runtime = app.state.runtime
            await eventually(lambda: runtime.faust.started, timeout_s=30, what="faust to start")
            await eventually(
                lambda: app.state.stream_feed.assigned, timeout_s=30, what="the stream reader"
            )
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
                yield Notify(app, client, kafka_bootstrap)

    return start


@pytest.fixture
async def notify(
    notify_factory: NotifyFactory, database_factory: Callable[[str], str]
) -> AsyncIterator[Notify]:
    url = database_factory("notify")
    upgrade(MIGRATIONS, url)
    group = unique_group("notify-test")
    async with notify_factory(url, group) as started:
        yield started
    # faust keeps a "<app id>-data" directory in the working directory: do not leave it.
    shutil.rmtree(Path(f"{group}-data"), ignore_errors=True)


@pytest.fixture
async def sessions(database_factory: Callable[[str], str]) -> AsyncIterator[SessionFactory]:
    """Sessions on a fresh, migrated notify database, for tests of one component (no app)."""
    url = database_factory("notify")
    upgrade(MIGRATIONS, url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    await engine.dispose()


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


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    """A real SMTP server (aiosmtpd) on a free port, NOT started: `start()` it when the test
    wants the mail server up (so a test can begin with it down)."""
    sink = MailSink()
    try:
        yield sink
    finally:
        sink.stop()
