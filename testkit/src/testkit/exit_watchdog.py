"""A pytest run that finished must also exit.

Once the session is over, the interpreter still joins every non-daemon thread and every
worker of a `concurrent.futures` pool (`asyncio.to_thread`'s included) before it exits. A
thread a test left blocked (a client of a broker the session fixture has already stopped, a
library call with no timeout) then keeps the finished run waiting forever, silently: CI only
sees its time run out. Here, when the run has not exited `EXIT_GRACE_S` after its end
(`TEST_EXIT_GRACE_S`, default 60), the stack of every thread is written to stderr (what held
it, for whoever reads the log) and the process ends with the session's own exit status: the
tests' verdict stands, and the rest of the suite still runs.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time

import pytest

EXIT_GRACE_S = float(os.environ.get("TEST_EXIT_GRACE_S", "60"))

_status: list[int] = [0]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _status[0] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    threading.Thread(target=_end_if_stuck, name="exit-watchdog", daemon=True).start()


def _end_if_stuck() -> None:
    time.sleep(EXIT_GRACE_S)  # a daemon: a run that exits in time never gets past this
    sys.stderr.write(
        f"\nexit watchdog: the test run had not exited {EXIT_GRACE_S:.0f} s after its end; "
        f"the threads that held it:\n"
    )
    for thread in threading.enumerate():  # faulthandler names threads by id only
        kind = "daemon" if thread.daemon else "non-daemon"
        sys.stderr.write(f"  {thread.ident or 0:#018x} {thread.name} ({kind})\n")
    sys.stderr.flush()
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.flush()
    os._exit(_status[0])
