"""Engines and migrations: SQLite by default, PostgreSQL by URL, the schema by Alembic.

SQLite (a file URL ``sqlite:////abs/path/ledger.db`` or a bare path) runs in WAL mode
with ``synchronous=NORMAL`` and foreign keys on, and every write transaction is
``BEGIN IMMEDIATE``; PostgreSQL URLs (``postgresql://`` / ``postgres://``) are
normalised to ``postgresql+psycopg://`` (psycopg 3). The schema is managed by the
Alembic scripts shipped in :mod:`ledger.migrations`; no ``alembic.ini`` is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry

if TYPE_CHECKING:  # alembic is imported when a migration runs, not with the store
    from alembic.config import Config

__all__ = ["PG_MIGRATION_LOCK", "alembic_config", "create_store_engine", "normalise_url"]

PG_MIGRATION_LOCK: Final = 0x43524C4D  # "CRLM": serialises concurrent migrate() calls


def normalise_url(url: str | URL | Path) -> URL:
    """A SQLAlchemy URL: bare paths become SQLite files, PostgreSQL uses psycopg 3."""
    if isinstance(url, Path) or (isinstance(url, str) and "://" not in url):
        return URL.create("sqlite", database=str(Path(url).expanduser().resolve()))
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_store_engine(url: str | URL | Path, **engine_kwargs: Any) -> Engine:
    """An engine with the store's connection settings (SQLite pragmas and transactions)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = dict(engine_kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", 30.0)
        engine = sa.create_engine(parsed, connect_args=connect_args, **engine_kwargs)
        _configure_sqlite(engine)
        return engine
    engine_kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **engine_kwargs)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling begins lazily (only before DML), so a
    # read-check-write sequence would not be atomic. Take control: driver in
    # autocommit, and we emit BEGIN (IMMEDIATE for writes) ourselves.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:  # a sqlite3.Connection
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA cache_size=-131072")  # up to 128 MiB, allocated on use
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("credit_ledger_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def alembic_config(url: str | URL | None = None, connection: Connection | None = None) -> Config:
    """Alembic ``Config`` for the packaged scripts (``script_location = ledger:migrations``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "ledger:migrations")
    if url is not None:
        rendered = normalise_url(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg
