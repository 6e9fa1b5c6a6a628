"""Fixtures of the runner tests: an embedded broker, and stand-in service packages for `up`.

`up` is exercised with stand-in service packages (tiny HTTP servers put first on PYTHONPATH),
so these tests check the runner itself whatever state the real services are in.
"""

from __future__ import annotations

import os
import textwrap

import pytest

from services import stack
from services.broker import EmbeddedBroker, free_port


@pytest.fixture(scope="module")
def broker():
    with EmbeddedBroker(port=0, startup_timeout_s=30) as b:
        yield b


FAKE_SERVICE = textwrap.dedent(
    """
    import os, subprocess, sys, threading, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    PKG = __package__
    PREFIX = PKG.split("_")[0].upper()

    if sys.argv[1] == "migrate":
        failing = os.environ.get("FAKE_MIGRATE_FAIL") == PKG
        print(f"{PKG}: {'migration failed' if failing else 'migrated'}", flush=True)
        sys.exit(4 if failing else 0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            ready = os.environ.get("FAKE_NOT_READY") != PKG
            code = 200 if ready or self.path != "/readyz" else 503
            body = b'{"status": "ok"}' if code == 200 else b'{"detail": "database unreachable"}'
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    if os.environ.get("FAKE_GRANDCHILD"):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    if os.environ.get("FAKE_CRASH") == PKG:
        threading.Timer(1.5, lambda: os._exit(3)).start()
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ[PREFIX + "_PORT"])), Handler)
    print(f"{PKG}: serving", flush=True)
    server.serve_forever()
    """
)


@pytest.fixture
def fake_env(tmp_path):
    for definition in stack.SERVICES:
        package = tmp_path / "fakes" / definition.package
        package.mkdir(parents=True)
        # The stand-in's `__main__` is found first; its other modules (the settings the runner
        # imports) are the real package's, found further along sys.path.
        (package / "__init__.py").write_text(
            "from pkgutil import extend_path\n__path__ = extend_path(__path__, __name__)\n"
        )
        (package / "__main__.py").write_text(FAKE_SERVICE)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PLATFORM_", "KAFKA_", "APPROVAL_", "SUPERVISION_", "NOTIFY_"))
    }
    env.update(
        PYTHONPATH=str(tmp_path / "fakes"),
        PLATFORM_DATA_DIR=str(tmp_path / "data"),
        BROKER_PORT=str(free_port()),
        APPROVAL_PORT=str(free_port()),
        SUPERVISION_PORT=str(free_port()),
        NOTIFY_PORT=str(free_port()),
        PORTAL_PORT=str(free_port()),
        NO_COLOR="1",
    )
    return env
