"""Exact column types and URL conversions, checked per dialect without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Numeric, String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from shared.db import ExactDecimal, UTCDateTime, async_url, sync_url
from shared.migrations import alembic_config

SQLITE = sqlite.dialect()
POSTGRES = postgresql.dialect()
BEIJING = timezone(timedelta(hours=8))


# --- ExactDecimal -----------------------------------------------------------------------


def test_decimal_is_numeric_on_postgresql_and_text_on_sqlite() -> None:
    pg = ExactDecimal().load_dialect_impl(POSTGRES)
    lite = ExactDecimal().load_dialect_impl(SQLITE)

    assert isinstance(pg, Numeric)
    assert pg.asdecimal
    assert (pg.precision, pg.scale) == (28, 6)
    assert isinstance(lite, String)


@pytest.mark.parametrize(
    "value", ["0", "0.01", "12345678901234.56", "999999999999.999999", "1.10", "-3.5"]
)
def test_decimal_round_trips_exactly_on_sqlite(value: str) -> None:
    column = ExactDecimal()

    stored = column.process_bind_param(Decimal(value), SQLITE)
    loaded = column.process_result_value(stored, SQLITE)

    assert isinstance(stored, str)
    assert "e" not in stored.lower()
    assert loaded == Decimal(value)
    assert isinstance(loaded, Decimal)


def test_decimal_is_bound_as_decimal_on_postgresql() -> None:
    column = ExactDecimal()

    stored = column.process_bind_param(Decimal("12.34"), POSTGRES)

    assert stored == Decimal("12.34")
    assert isinstance(stored, Decimal)
    assert column.process_result_value(Decimal("12.340000"), POSTGRES) == Decimal("12.34")


def test_decimal_bind_accepts_ints_and_strings_exactly() -> None:
    column = ExactDecimal()

    assert column.process_bind_param(7, SQLITE) == "7"
    assert column.process_bind_param("0.10", SQLITE) == "0.10"


def test_large_values_are_not_written_in_exponent_form() -> None:
    assert ExactDecimal().process_bind_param(Decimal("1E+3"), SQLITE) == "1000"


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "postgresql"])
def test_none_passes_through(dialect: Dialect) -> None:
    column = ExactDecimal()
    assert column.process_bind_param(None, dialect) is None
    assert column.process_result_value(None, dialect) is None


def test_whole_amounts_come_back_in_plain_notation_on_sqlite() -> None:
    column = ExactDecimal()

    loaded = column.process_result_value(column.process_bind_param(Decimal("100"), SQLITE), SQLITE)

    assert str(loaded) == "100"


def test_a_float_is_not_stored_with_its_binary_error() -> None:
    try:
        stored = ExactDecimal().process_bind_param(1.1, SQLITE)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return  # refusing floats outright is as good
    assert stored == "1.1"


# --- UTCDateTime ------------------------------------------------------------------------


def test_aware_datetime_is_stored_naive_utc_on_sqlite() -> None:
    column = UTCDateTime()
    local = datetime(2025, 3, 4, 13, 0, tzinfo=BEIJING)

    stored = column.process_bind_param(local, SQLITE)

    assert stored == datetime(2025, 3, 4, 5, 0)
    assert stored.tzinfo is None


def test_aware_datetime_is_stored_aware_utc_on_postgresql() -> None:
    column = UTCDateTime()
    local = datetime(2025, 3, 4, 13, 0, tzinfo=BEIJING)

    stored = column.process_bind_param(local, POSTGRES)

    assert stored == local
    assert stored.utcoffset() == timedelta(0)


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "postgresql"])
def test_naive_datetime_is_refused(dialect: Dialect) -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2025, 1, 1), dialect)


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "postgresql"])
def test_results_are_aware_utc(dialect: Dialect) -> None:
    column = UTCDateTime()

    from_naive = column.process_result_value(datetime(2025, 3, 4, 5, 0), dialect)
    from_local = column.process_result_value(datetime(2025, 3, 4, 13, 0, tzinfo=BEIJING), dialect)

    assert from_naive == datetime(2025, 3, 4, 5, 0, tzinfo=UTC)
    assert from_local == datetime(2025, 3, 4, 5, 0, tzinfo=UTC)
    assert from_local.tzinfo is UTC
    assert column.process_result_value(None, dialect) is None
    assert column.process_bind_param(None, dialect) is None


def test_sqlite_round_trip_keeps_the_instant() -> None:
    column = UTCDateTime()
    local = datetime(2025, 12, 31, 23, 59, 59, 999_999, tzinfo=BEIJING)

    back = column.process_result_value(column.process_bind_param(local, SQLITE), SQLITE)

    assert back == local
    assert back.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        datetime(2025, 3, 4, 13, 0, tzinfo=BEIJING),
        datetime(2025, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),  # no microseconds: still six places
        datetime(1, 1, 1, tzinfo=UTC),  # the year padded to four digits
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2025, 6, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(2025, 6, 1, 12, 0, tzinfo=ZoneInfo("UTC")),  # a UTC that is not `UTC`
    ],
)
def test_sqlite_text_is_what_sqlalchemys_datetime_writes(value: datetime) -> None:
    # The processor SQLAlchemy runs: the type's SQLite implementation, as the engine caches it.
    ours = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    theirs = sqlite.DATETIME().bind_processor(SQLITE)

    text = ours(value)

    assert text == theirs(value.astimezone(UTC).replace(tzinfo=None))
    assert len(text) == len("2025-03-04 05:00:00.000000")


def test_sqlite_text_refuses_naive_and_passes_none() -> None:
    process = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)

    with pytest.raises(ValueError, match="naive"):
        process(datetime(2025, 1, 1))
    assert process(None) is None


# --- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "sync", "async_"),
    [
        ("sqlite:///data/a.db", "sqlite:///data/a.db", "sqlite+aiosqlite:///data/a.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite://", "sqlite://", "sqlite+aiosqlite://"),
        (
            "postgresql://u:p@h:5432/db",
            "postgresql+psycopg://u:p@h:5432/db",
            "postgresql+asyncpg://u:p@h:5432/db",
        ),
        (
            "postgresql+asyncpg://u@h/db",
            "postgresql+psycopg://u@h/db",
            "postgresql+asyncpg://u@h/db",
        ),
        (
            "postgresql+psycopg2://u:p%40ss@h/db?sslmode=require",
            "postgresql+psycopg://u:p%40ss@h/db?sslmode=require",
            "postgresql+asyncpg://u:p%40ss@h/db?ssl=require",
        ),
    ],
)
def test_url_conversions(url: str, sync: str, async_: str) -> None:
    assert sync_url(url) == sync
    assert async_url(url) == async_


@pytest.mark.parametrize("url", ["mysql://u@h/db", "oracle://h/x"])
def test_other_databases_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite or postgresql"):
        sync_url(url)
    with pytest.raises(ValueError, match="sqlite or postgresql"):
        async_url(url)


def test_alembic_config_uses_the_sync_url_and_survives_percent_signs() -> None:
    cfg = alembic_config(Path("migrations"), "postgresql+asyncpg://u:p%40ss@h/db")

    assert cfg.get_main_option("sqlalchemy.url") == "postgresql+psycopg://u:p%40ss@h/db"
    assert cfg.get_main_option("script_location") == "migrations"
