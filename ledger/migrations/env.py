"""Alembic environment of the off-chain store.

Runs online only. :meth:`ledger.store.Store.migrate` passes an open connection
(already inside a transaction, with SQLite pragmas applied and, on PostgreSQL,
an advisory lock held) in ``config.attributes["connection"]``; without one (the
developer CLI in ``__main__.py``) an engine is made from ``sqlalchemy.url`` with
the same settings :meth:`Store.open` uses.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from ledger.store import create_store_engine, metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url set")
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; pass a database URL")
run_migrations_online()
