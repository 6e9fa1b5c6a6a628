"""Topic administration: create the platform's topics on a broker, describe them.

Services and images need this at start (docker-compose's ``init-topics`` runs
``python -m shared.broker create-topics``, which creates every platform topic on
KAFKA_BOOTSTRAP_SERVERS). The embedded broker itself is the local runner's: ``services.broker``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from shared.settings import get_platform_settings
from shared.topics import all_topics

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36
"""Kafka error code of CreateTopics for a topic that exists: not an error for us."""


class BrokerError(RuntimeError):
    """The broker could not be started, reached or administered."""


def _admin(bootstrap: str, timeout_s: float) -> Any:
    from kafka.admin import KafkaAdminClient

    ms = max(int(timeout_s * 1000), 200)
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="platform-admin",
        bootstrap_timeout_ms=ms,
        request_timeout_ms=max(ms, 5000),
    )


def list_topics(bootstrap: str, timeout_s: float) -> set[str]:
    """Names of the topics on `bootstrap` (raises the client's error when unreachable)."""
    admin = _admin(bootstrap, timeout_s)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    partitions: int,
    replication: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create those of `topics` that do not exist yet; return the names created.

    Topics that already exist are left as they are (whatever their partition count). Retries
    while the broker is still starting, until `timeout_s` has passed.
    """
    wanted = list(dict.fromkeys(topics))
    deadline = time.monotonic() + timeout_s
    created: list[str] = []
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        remaining = max(deadline - time.monotonic(), 0.2)
        try:
            admin = _admin(bootstrap, min(remaining, 5.0))
        except Exception as exc:
            last_error = exc
            time.sleep(0.2)
            continue
        pause = 0.2
        try:
            existing = set(admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if not missing:
                return created
            spec = {t: {"num_partitions": partitions, "replication_factor": replication}
                    for t in missing}  # fmt: skip
            response = admin.create_topics(spec, raise_errors=False)
            failures = []
            for result in response.get("topics", []):
                code = result.get("error_code", 0)
                if code == 0:
                    created.append(result["name"])
                elif code != TOPIC_ALREADY_EXISTS:
                    failures.append(f"{result['name']}: {result.get('error_message') or code}")
            if failures:
                last_error = BrokerError("; ".join(failures))
            else:
                pause = 0.0  # check at once that every topic is now listed
        except Exception as exc:  # retriable while the broker is starting
            last_error = exc
        finally:
            admin.close()
        time.sleep(pause)
    raise BrokerError(f"could not create topics on {bootstrap} in {timeout_s:.0f}s: {last_error}")


def describe_partitions(
    bootstrap: str, topics: Sequence[str], timeout_s: float = 10.0
) -> dict[str, int]:
    """Partition count of each of `topics` (0 for a topic the broker does not know)."""
    admin = _admin(bootstrap, timeout_s)
    try:
        described = admin.describe_topics(list(topics))
    finally:
        admin.close()
    counts = {t: 0 for t in topics}
    for desc in described:
        if desc.get("error_code", 0) == 0:
            counts[desc["name"]] = len(desc.get("partitions") or [])
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.broker")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-topics", help="create every platform topic (idempotent)")
    create.add_argument("--bootstrap", help="default: KAFKA_BOOTSTRAP_SERVERS or the embedded")
    create.add_argument("--partitions", type=int, help="default: KAFKA_TOPIC_PARTITIONS")
    create.add_argument("--replication", type=int, help="default: KAFKA_REPLICATION_FACTOR")
    create.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args(argv)
    settings = get_platform_settings()
    bootstrap = args.bootstrap or settings.bootstrap_servers
    partitions = args.partitions or settings.topic_partitions
    replication = args.replication or settings.topic_replication
    started = time.monotonic()
    try:
        created = ensure_topics(bootstrap, all_topics(), partitions, replication, args.timeout)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = len(all_topics())
    print(
        f"topics on {bootstrap}: {len(created)} created, {total - len(created)} already "
        f"present ({total} in all) in {time.monotonic() - started:.2f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
