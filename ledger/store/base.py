"""The store's connection handling: one engine, one transaction per call, migrations.

Every aggregate module (merchants, rounds, anchors, ...) subclasses :class:`StoreBase`
and :class:`ledger.store.Store` combines them; a write is always ONE transaction
(SQLite ``BEGIN IMMEDIATE``; PostgreSQL locks the round row ``FOR UPDATE`` where it
matters), so concurrent writers serialise and a crash leaves everything or nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from ledger.store.engine import PG_MIGRATION_LOCK, alembic_config, create_store_engine
from ledger.store.errors import InvalidData, NotFound
from ledger.store.rows import RoundRow
from ledger.store.rows import row as as_row
from ledger.store.schema import rounds

__all__ = ["DEFAULT_CHUNK_SIZE", "StoreBase"]

DEFAULT_CHUNK_SIZE: Final = 50_000
S = TypeVar("S", bound="StoreBase")


class StoreBase:
    """Engine, transactions and schema revision; the aggregates add the methods."""

    def __init__(self, engine: Engine, *, chunk_size: int = DEFAULT_CHUNK_SIZE, use_copy: bool = True) -> None:
        """Wrap ``engine`` (prefer :meth:`open`, which applies the SQLite settings).

        ``chunk_size`` rows go to the database per executemany/COPY round trip
        in :meth:`save_built_round`; ``use_copy`` selects PostgreSQL binary COPY
        for decisions (else executemany).
        """
        if chunk_size < 1:
            raise InvalidData("chunk_size: must be positive")
        self._engine = engine
        self.chunk_size = chunk_size
        self.use_copy = use_copy

    @classmethod
    def open(
        cls: type[S],
        url: str | URL | Path,
        *,
        migrate: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        use_copy: bool = True,
        **engine_kwargs: Any,
    ) -> S:
        """Connect to ``url`` (SQLite file URL or path, or PostgreSQL URL); migrate unless told not to."""
        store = cls(create_store_engine(url, **engine_kwargs), chunk_size=chunk_size, use_copy=use_copy)
        if migrate:
            try:
                store.migrate()
            except BaseException:
                store.close()
                raise
        return store

    # -- lifecycle ------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Release pooled connections."""
        self._engine.dispose()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._engine.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction (SQLite BEGIN IMMEDIATE), committed on success."""
        with self._engine.connect() as conn:
            conn.execution_options(credit_ledger_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            with conn.begin():
                yield conn

    def migrate(self) -> str | None:
        """``alembic upgrade head`` with the packaged scripts, in one transaction; returns the revision.

        Safe to call repeatedly and from concurrent processes (SQLite: the write
        lock; PostgreSQL: an advisory transaction lock).
        """
        from alembic import command

        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
            command.upgrade(alembic_config(connection=conn), "head")
        return self.current_revision()

    def current_revision(self) -> str | None:
        """The schema revision in the database (None before the first migrate)."""
        from alembic.migration import MigrationContext

        with self._read() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        """The newest revision shipped with this package."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    # -- shared by the aggregates -------------------------------------------------

    @staticmethod
    def _round_row(conn: Connection, round_id: int, *, lock: bool = False) -> RoundRow | None:
        stmt = sa.select(rounds).where(rounds.c.round_id == round_id)
        if lock:
            stmt = stmt.with_for_update()
        found = conn.execute(stmt).first()
        return None if found is None else as_row(RoundRow, found)

    def _require_round(self, conn: Connection, round_id: int, *, lock: bool = False) -> RoundRow:
        found = self._round_row(conn, round_id, lock=lock)
        if found is None:
            raise NotFound(f"no round {round_id}")
        return found

    @staticmethod
    def _set_round_status(conn: Connection, round_id: int, status: str, **extra: Any) -> None:
        conn.execute(sa.update(rounds).where(rounds.c.round_id == round_id).values(status=status, **extra))
