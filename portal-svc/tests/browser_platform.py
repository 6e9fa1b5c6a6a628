"""The whole platform as processes plus the portal, and a Chromium to drive it (browser tests)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from testkit import eventually_sync, free_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the shared end-to-end platform lives there

from e2e_platform import Platform  # noqa: E402

ARTIFACTS = Path(__file__).parent / "artifacts"


def chromium_path() -> str | None:
    """Debian's Chromium (never a downloaded browser build)."""
    for candidate in (os.environ.get("PORTAL_TEST_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


@dataclass
class PortalPlatform:
    """The e2e platform (broker + three services) and a portal process in front of it."""

    workdir: Path
    platform: Platform = field(init=False)
    portal_url: str = ""
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.platform = Platform(self.workdir)

    def start(self) -> PortalPlatform:
        self.platform.start()
        port = free_port()
        env = self.platform.env()
        env.update(
            PORTAL_PORT=str(port),
            PORTAL_APPROVAL_URL=self.platform.urls["approval"],
            PORTAL_SUPERVISION_URL=self.platform.urls["supervision"],
            PORTAL_NOTIFY_URL=self.platform.urls["notify"],
            PLATFORM_DEV_LOGIN="true",
        )
        self.portal_url = f"http://127.0.0.1:{port}"
        log = (self.workdir / "portal.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portal_svc", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the portal exited: {self.log_tail()}")
            try:
                return httpx.get(f"{self.portal_url}/readyz", timeout=3).status_code == 200
            except httpx.HTTPError:
                return False

        eventually_sync(ready, timeout_s=60, interval_s=0.3, what="portal ready")
        return self

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / "portal.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def api(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.platform.urls[service]}{path}", timeout=10, **kwargs)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.platform.stop()
