"""Migrations, URLs, connection settings of the off-chain store (both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledger import indexer
from ledger.store import Store, metadata, normalise_url

HEAD = "0002_chain_events"

TABLES = {
    "merchants",
    "rounds",
    "decisions",
    "round_trees",
    "anchors",
    "disputes",
    "pending_applications",
    "chain_events",
    "chain_cursors",
}


def test_migrate_from_empty(store_url: sa.URL) -> None:
    with Store.open(store_url, migrate=False) as store:
        assert store.current_revision() is None
        assert not TABLES & set(sa.inspect(store.engine).get_table_names())
        assert store.migrate() == Store.head_revision() == HEAD
        assert TABLES <= set(sa.inspect(store.engine).get_table_names())
        # the migrated schema is exactly what the store's metadata describes
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), [metadata, indexer.metadata])
        assert diff == []


def test_migrate_is_idempotent_and_keeps_data(store_url: sa.URL) -> None:
    with Store.open(store_url) as store:
        store.create_round(1, "merchant", "weekly", 1, 1)
        assert store.migrate() == HEAD
        assert store.migrate() == HEAD
    with Store.open(store_url) as again:  # open() migrates again
        assert again.get_round(1).status == "pending"
        assert again.current_revision() == HEAD


def test_schema_constraints_and_indexes(store: Store) -> None:
    insp = sa.inspect(store.engine)
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("decisions")}
    assert ("merchant_key", "round_id") in uniques
    assert insp.get_pk_constraint("decisions")["constrained_columns"] == ["round_id", "leaf_index"]
    indexed = {tuple(i["column_names"]) for i in insp.get_indexes("decisions")}
    assert ("leaf_hash",) in indexed
    fks = insp.get_foreign_keys("decisions")
    assert fks and fks[0]["referred_table"] == "rounds"


def test_sqlite_pragmas(store: Store) -> None:
    if store.backend != "sqlite":
        pytest.skip("SQLite only")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_foreign_keys_enforced(store: Store) -> None:
    from ledger.store import anchors

    with pytest.raises(sa.exc.IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(
                sa.insert(anchors).values(
                    round_id=999, tx_hash=bytes(32), status="sent", confirmations=0
                )
            )


def test_url_normalisation(tmp_path: Path) -> None:
    assert normalise_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:////x/ledger.db").database == "/x/ledger.db"
    bare = normalise_url(tmp_path / "a" / "ledger.db")
    assert bare.drivername == "sqlite" and bare.database == str(tmp_path / "a" / "ledger.db")


def test_open_bare_path_creates_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "ledger.db"
    with Store.open(str(path)) as store:
        assert store.backend == "sqlite"
        store.create_round(5, "farmer", "on_demand", 2, 3)
    assert path.exists()


def test_migrations_ship_inside_the_package() -> None:
    import ledger.migrations

    scripts = Path(ledger.migrations.__file__).parent
    assert (scripts / "env.py").is_file()
    assert (scripts / "versions" / "0001_initial.py").is_file()
    assert (scripts / "versions" / "__init__.py").is_file()  # found by setuptools' find
