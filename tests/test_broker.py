"""The local runner's embedded broker: readiness, a port in use, a clean stop."""

from __future__ import annotations

import socket
import time

import pytest

from services.broker import EmbeddedBroker, free_port, port_accepts, wait_for_broker
from shared.broker import BrokerError

pytestmark = pytest.mark.integration


def test_waiting_for_a_broker_that_is_not_there_fails_in_time() -> None:
    started = time.monotonic()

    with pytest.raises(BrokerError, match="not ready"):
        wait_for_broker(f"127.0.0.1:{free_port()}", timeout_s=0.5)

    assert time.monotonic() - started < 3


def test_a_port_in_use_is_refused_with_a_clear_message() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_accepts("127.0.0.1", port)

        with pytest.raises(BrokerError, match="already in use"):
            EmbeddedBroker(port=port).start()


def test_embedded_broker_stops_and_frees_its_port() -> None:
    broker = EmbeddedBroker(port=0, die_with_parent=False)
    with broker:
        assert broker.running
        assert port_accepts(broker.host, broker.port)
        port = broker.port

    assert not broker.running
    assert not port_accepts("127.0.0.1", port)
