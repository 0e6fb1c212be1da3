"""Migrations, URLs, connection settings of the off-chain store (both backends)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledger.store import Store, metadata, normalise_url

HEAD = "0007_round_validation_report"

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
    "merchant_heads",
    "signin_nonces",
    "pending_disputes",
}


def test_migrate_from_empty(store_url: sa.URL) -> None:
    with Store.open(store_url, migrate=False) as store:
        assert store.current_revision() is None
        assert not TABLES & set(sa.inspect(store.engine).get_table_names())
        assert store.migrate() == Store.head_revision() == HEAD
        assert TABLES <= set(sa.inspect(store.engine).get_table_names())
        # the migrated schema is exactly what the store's metadata describes
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
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
    assert ("round_id", "merchant_key") in uniques  # round first: a round's entries are contiguous
    assert ("merchant_key", "round_id") not in uniques
    assert insp.get_pk_constraint("decisions")["constrained_columns"] == ["round_id", "leaf_index"]
    indexed = {tuple(i["column_names"]) for i in insp.get_indexes("decisions")}
    assert ("leaf_hash",) not in indexed
    assert insp.get_pk_constraint("merchant_heads")["constrained_columns"] == ["merchant_key"]
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
    from ledger.store.schema import anchors

    with pytest.raises(sa.exc.IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(sa.insert(anchors).values(round_id=999, tx_hash=bytes(32), status="sent", confirmations=0))


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


def _migrate_to(store: Store, revision: str, direction: str) -> None:
    from alembic import command

    from ledger.store import alembic_config

    with store.engine.begin() as conn:
        getattr(command, direction)(alembic_config(connection=conn), revision)


def test_0003_keeps_decisions_and_fills_heads_from_them(
    store: Store, built_round: Callable[..., Any], keyof: Callable[[str], bytes]
) -> None:
    """Down to 0002 and up again with rounds stored: same decisions, heads rebuilt from them."""
    prev: dict[bytes, bytes] = {}
    for round_id, names in ((1, ["a", "b", "c"]), (2, ["b", "c"]), (3, ["c", "d"])):
        built = built_round(round_id, names, prev=prev)
        store.create_round(round_id, "merchant", "weekly", 1, 1)
        store.save_built_round(round_id, built.rows, built.nodes, built.root, built.batch_hash, f"/b/{round_id}")
    before = {r: list(store.decisions_in_round(r)) for r in (1, 2, 3)}
    heads = store.latest_leaf_hashes(4)
    assert set(heads) == {keyof(n) for n in "abcd"}

    _migrate_to(store, "0002_chain_events", "downgrade")
    insp = sa.inspect(store.engine)
    assert "merchant_heads" not in insp.get_table_names()
    assert ("merchant_key", "round_id") in {tuple(u["column_names"]) for u in insp.get_unique_constraints("decisions")}

    _migrate_to(store, "head", "upgrade")
    assert store.current_revision() == HEAD
    assert {r: list(store.decisions_in_round(r)) for r in (1, 2, 3)} == before
    assert store.latest_leaf_hashes(4) == heads
    assert heads[keyof("a")] == before[1][0].leaf_hash and heads[keyof("c")] == before[3][0].leaf_hash
    assert [d.round_id for d in store.decisions_for_merchant(keyof("c"))] == [1, 2, 3]


def test_0005_records_the_export_a_round_scored(store: Store, built_round: Callable[..., Any]) -> None:
    """A built round keeps its export hash; down to 0004 and up again keeps the round (hash gone)."""
    built = built_round(1, ["a", "b"])
    store.create_round(1, "merchant", "weekly", 1, 1)
    store.save_built_round(1, built.rows, built.nodes, built.root, built.batch_hash, "/b/1", export_hash=b"\x07" * 32)
    assert store.get_round(1).export_hash == b"\x07" * 32
    store.create_round(2, "merchant", "on_demand", 1, 1)
    other = built_round(2, ["a"])
    store.save_built_round(2, other.rows, other.nodes, other.root, other.batch_hash, "/b/2")
    assert store.get_round(2).export_hash is None

    _migrate_to(store, "0004_signin_nonces", "downgrade")
    assert "export_hash" not in {c["name"] for c in sa.inspect(store.engine).get_columns("rounds")}
    _migrate_to(store, "head", "upgrade")
    assert store.get_round(1).root == built.root and store.get_round(1).export_hash is None


def test_0006_pending_disputes_down_and_up(store: Store, built_round: Callable[..., Any]) -> None:
    """0006 adds the pending relays' table alone: down to 0005 drops it, the rest of the store stays."""
    built = built_round(1, ["a"])
    store.create_round(1, "merchant", "weekly", 1, 1)
    store.save_built_round(1, built.rows, built.nodes, built.root, built.batch_hash, "/b/1")
    store.add_pending_dispute(b"\x01" * 32, 1, built.rows[0].merchant_key, built.rows[0].leaf_hash, "r",
                              signer="0x" + "ab" * 20, nonce=3)  # fmt: skip

    _migrate_to(store, "0005_round_export_hash", "downgrade")
    assert "pending_disputes" not in sa.inspect(store.engine).get_table_names()
    _migrate_to(store, "head", "upgrade")
    assert store.pending_disputes() == [] and store.get_round(1).root == built.root


def test_0007_records_the_validation_report_of_the_export(store: Store, built_round: Callable[..., Any]) -> None:
    """A built round keeps its report's hash; down to 0006 and up again keeps the round and its export hash."""
    built = built_round(1, ["a", "b"])
    store.create_round(1, "merchant", "weekly", 1, 1)
    store.save_built_round(
        1,
        built.rows,
        built.nodes,
        built.root,
        built.batch_hash,
        "/b/1",
        export_hash=b"\x07" * 32,
        validation_report_hash=b"\x08" * 32,
    )
    assert (store.get_round(1).export_hash, store.get_round(1).validation_report_hash) == (b"\x07" * 32, b"\x08" * 32)

    _migrate_to(store, "0006_pending_disputes", "downgrade")
    assert "validation_report_hash" not in {c["name"] for c in sa.inspect(store.engine).get_columns("rounds")}
    _migrate_to(store, "head", "upgrade")
    row = store.get_round(1)
    assert (row.root, row.export_hash, row.validation_report_hash) == (built.root, b"\x07" * 32, None)
