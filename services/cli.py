"""Command line of the local runner:
`python -m services {up,token,broker,simulate-departments,submit-samples,stop-cycles}`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from pydantic import ValidationError

from services import cycles, keeper, samples, simulate, stack, tokens
from services.broker import EmbeddedBroker
from services.output import Output
from services.supervisor import ShutdownRequested, StopSignals
from shared.broker import BrokerError
from shared.settings import get_platform_settings


def run_broker(args: argparse.Namespace) -> int:
    """Only the embedded broker, in the foreground, with every platform topic created."""
    out = Output()
    try:
        platform = get_platform_settings()
    except ValidationError as exc:
        out.error(f"invalid settings in the environment:\n{exc}")
        return 2
    port = platform.broker_port if args.port is None else args.port
    broker = EmbeddedBroker(port=port, on_output=lambda line: out.line("broker", line))
    signals = StopSignals()
    with signals.installed():
        try:
            broker.start()
            out.info(f"broker ready in {broker.startup_seconds or 0:.2f}s")
            signals.raise_if_requested()
            platform = get_platform_settings(kafka_bootstrap_servers=broker.bootstrap)
            keeper.create_topics(platform, out)
            out.plain(f"bootstrap: {broker.bootstrap}")
            out.info("Ctrl-C to stop")
            while broker.running:
                signals.raise_if_requested()
                time.sleep(0.2)
            out.error("the broker exited on its own:\n" + broker.output_tail())
            return 1
        except ShutdownRequested:
            out.info(f"{signals.name} received: stopping the broker")
            return 0
        except BrokerError as exc:
            out.error(str(exc))
            return 1
        finally:
            broker.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services", description="Run the platform on this machine."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    stack.configure_parser(
        sub.add_parser("up", help="broker, topics, migrations and the three services")
    )
    tokens.configure_parser(
        sub.add_parser("token", help="print a development token (needs PLATFORM_JWT_SECRET)")
    )
    broker = sub.add_parser("broker", help="only the embedded broker, with the topics created")
    broker.add_argument("--port", type=int, help="default BROKER_PORT (9092); 0 picks a free one")
    broker.set_defaults(func=run_broker)
    simulate.configure_parser(
        sub.add_parser("simulate-departments", help="department systems deciding their tasks")
    )
    samples.configure_parser(
        sub.add_parser("submit-samples", help="post realistic sample projects at a given rate")
    )
    cycles.configure_parser(
        sub.add_parser("stop-cycles", help="start and stop (SIGTERM) the platform N times")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
