"""The local runner's embedded broker: readiness, a port in use, a clean stop."""

from __future__ import annotations

import socket
import time

import pytest

from services import broker as broker_module
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


def _ephemeral() -> range:
    low, high = broker_module._ephemeral_range()
    return range(low, high + 1)


def test_free_ports_lie_outside_the_range_outgoing_connections_take_theirs_from() -> None:
    # A port the OS picks lies in the ephemeral range, where a client connection can take it
    # as its source port before the server binds it ("Address already in use").
    ephemeral = _ephemeral()
    ports = [free_port() for _ in range(50)]

    assert not [p for p in ports if p in ephemeral]
    assert len(set(ports)) == len(ports)  # never the same one twice in a process


def test_free_port_skips_ports_in_use_and_ports_promised_to_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as sock:
        in_use = free_port()
        sock.bind(("127.0.0.1", in_use))
        sock.listen()
        promised = free_port()
        wanted = free_port()
        # Forget them, so only the bind check and `exclude` can refuse the first two.
        broker_module._handed_out.difference_update({in_use, promised, wanted})
        offers = iter([in_use, promised, wanted])

        def choice(seq):  # the span first (any), then the port in it
            return seq[0] if isinstance(seq, list) else next(offers)

        monkeypatch.setattr(broker_module.random, "choice", choice)

        assert free_port(exclude={promised}) == wanted
