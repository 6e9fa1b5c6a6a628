"""The platform's test kit, shared by every package's tests.

- :func:`eventually` / :func:`eventually_sync`: wait for a condition, with a bound.
- :func:`mint_token` / :func:`auth_headers` with :data:`TEST_JWT_SECRET`.
- :class:`TopicReader` (topics from the beginning) and :func:`produce_events`.
- :func:`unique_region`: distinct GB/T 2260 regions, hence distinct project codes per test.
- :func:`compressed_clock_env` / :func:`clock_from_env`: faster platform time across processes.
- :func:`create_database`, :func:`unique_group`, :func:`free_port`.
- Pytest fixtures in :mod:`testkit.fixtures` (``kafka_bootstrap``, ``database_factory``,
  ``unique_group``, ``region_code``), enabled by the root conftest.
"""

from services.broker import free_port
from testkit.clock import clock_from_env, compressed_clock_env
from testkit.databases import create_database, unique_group
from testkit.kafka import (
    TopicReader,
    aproduce_events,
    by_subject,
    decode,
    produce_events,
)
from testkit.polling import eventually, eventually_sync
from testkit.regions import county_codes, unique_region
from testkit.tokens import TEST_JWT_SECRET, auth_headers, mint_token

__all__ = [
    "TEST_JWT_SECRET",
    "TopicReader",
    "aproduce_events",
    "auth_headers",
    "by_subject",
    "clock_from_env",
    "compressed_clock_env",
    "county_codes",
    "create_database",
    "decode",
    "eventually",
    "eventually_sync",
    "free_port",
    "mint_token",
    "produce_events",
    "unique_group",
    "unique_region",
]
