"""The bulk paths: million-row reads and writes straight to the driver, and their checks.

A weekly round writes a million decisions and reads a million merchants and heads;
going row by row through SQLAlchemy's ORM-level machinery would cost more than the
work itself. Here statements are compiled once and executed with plain tuples
(``executemany``), PostgreSQL takes decisions by binary ``COPY`` on the same
connection (so the same transaction), and big reads come back as the driver's own
tuples. The consistency checks of a built batch run column by column, before
anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger.store.errors import InvalidData
from ledger.store.rows import DecisionRow, RoundRow
from ledger.store.schema import DECISION_COLUMN_NAMES, decisions, merchants, rounds
from ledger.store.types import HASH_SIZE

if TYPE_CHECKING:  # the dialects' own INSERTs are imported when a statement is made
    from sqlalchemy.dialects import postgresql, sqlite

__all__ = [
    "ADVANCE_HEADS",
    "DECISION_GIVEN_COLUMNS",
    "MERCHANT_SCAN_MIN",
    "built_rounds",
    "check_batch",
    "check_columns",
    "chunks",
    "copy_decisions",
    "driver_rows",
    "executemany",
    "insert_decisions",
    "upsert_statement",
]

#: Decision columns a caller of ``save_built_round_columns`` gives (the rest are the round's).
DECISION_GIVEN_COLUMNS: Final = tuple(
    c for c in DECISION_COLUMN_NAMES if c not in ("round_id", "leaf_index", "model_version", "policy_version")
)

#: From this many merchants on, one scan of a table beats per-key index probes.
MERCHANT_SCAN_MIN: Final = 20_000

# Same text on SQLite (>= 3.24) and PostgreSQL. The WHERE after SELECT is required by
# SQLite's parser here; the one after DO UPDATE keeps a head at the highest round when
# rounds are built out of order (a later on-demand round before a long weekly one).
ADVANCE_HEADS: Final = sa.text(
    "INSERT INTO merchant_heads (merchant_key, round_id, leaf_hash)"
    " SELECT merchant_key, round_id, leaf_hash FROM decisions WHERE round_id = :round_id"
    " ON CONFLICT (merchant_key) DO UPDATE SET round_id = excluded.round_id, leaf_hash = excluded.leaf_hash"
    " WHERE excluded.round_id > merchant_heads.round_id"
)

#: PostgreSQL binary COPY types of the decisions columns, in table order.
_PG_TYPE = {sa.BigInteger: "int8", sa.Integer: "int4", sa.LargeBinary: "bytea", sa.String: "text"}
DECISION_PG_TYPES: Final = tuple(
    next(name for kind, name in _PG_TYPE.items() if isinstance(c.type, kind)) for c in decisions.columns
)


def _column_kind(column: sa.Column[Any]) -> tuple[set[type], str]:
    """The Python types a decisions column takes on the column path, and their description."""
    kind = column.type
    if isinstance(kind, sa.LargeBinary):
        if kind.length == HASH_SIZE:
            return {bytes}, "32-byte bytes"
        return {bytes, type(None)}, "bytes or None"
    if isinstance(kind, sa.Integer):
        return {int}, "int"
    return {str}, "str"


_COLUMN_KINDS: Final = {c.name: _column_kind(c) for c in decisions.columns}

# Merchant upserts, executed as plain tuples (see executemany).
MERCHANT_INSERT_NAMES: Final = tuple(c.name for c in merchants.columns)
MERCHANT_INSERT = sa.insert(merchants).values({c: sa.bindparam(c) for c in MERCHANT_INSERT_NAMES})
MERCHANT_UPDATE_NAMES: Final = ("segment", "industry", "region", "account", "updated_at", "b_merchant_id")
MERCHANT_UPDATE = (
    sa.update(merchants)
    .where(merchants.c.merchant_id == sa.bindparam("b_merchant_id"))
    .values(
        segment=sa.bindparam("segment"),
        industry=sa.bindparam("industry"),
        region=sa.bindparam("region"),
        # None means "not known here", not "unbind": keep a recorded account.
        account=sa.func.coalesce(sa.bindparam("account", type_=sa.String(42)), merchants.c.account),
        updated_at=sa.bindparam("updated_at"),
    )
)


def driver_rows(conn: Connection, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """All rows of ``sql`` (``?`` placeholders) as the driver's own tuples, in ``conn``'s transaction.

    For million-row reads: no SQLAlchemy ``Row`` objects and no per-value type
    processing, so the whole fetch runs in the driver's C code. Values are what the
    driver returns (``bytes`` for BLOB / bytea on SQLite and psycopg).
    """
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def built_rounds(*conditions: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """Ids of the rounds that hold decisions (built or later), for per-round index probes."""
    return sa.select(rounds.c.round_id).where(rounds.c.status != "pending", *conditions)


T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def executemany(
    conn: Connection, stmt: sa.Insert | sa.Update, names: Sequence[str], params: list[tuple[Any, ...]], chunk_size: int
) -> None:
    """executemany of plain tuples (in ``names`` order) on the DBAPI cursor, in chunks."""
    compiled = stmt.compile(dialect=conn.dialect)
    sql = str(compiled)
    if conn.dialect.positional:
        assert compiled.positiontup is not None  # set by every positional compiler
        order = [names.index(p) for p in compiled.positiontup]
        if order != list(range(len(names))):
            params = [tuple(row[i] for i in order) for row in params]
        for chunk in chunks(params, chunk_size):
            conn.exec_driver_sql(sql, list(chunk))
    else:
        for chunk in chunks(params, chunk_size):
            conn.exec_driver_sql(sql, [dict(zip(names, row)) for row in chunk])


def insert_decisions(conn: Connection, parts: Iterable[list[tuple[Any, ...]]]) -> None:
    """Decision tuples (table order) inserted by executemany, chunk by chunk.

    The core insert is compiled once for this dialect, then executed with plain
    tuples (dicts for named paramstyles) straight to the driver: no per-row bind
    processing.
    """
    sql = str(sa.insert(decisions).compile(dialect=conn.dialect))
    positional = conn.dialect.positional
    for chunk in parts:
        params: list[tuple[Any, ...]] | list[dict[str, Any]] = (
            chunk if positional else [dict(zip(DECISION_COLUMN_NAMES, t)) for t in chunk]
        )
        conn.exec_driver_sql(sql, params)


def copy_decisions(conn: Connection, parts: Iterable[list[tuple[Any, ...]]]) -> None:
    """Decision tuples written by PostgreSQL binary COPY on ``conn``'s own connection (same transaction)."""
    import psycopg

    raw = conn.connection.driver_connection
    assert raw is not None
    columns = ", ".join(DECISION_COLUMN_NAMES)
    try:
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY decisions ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(list(DECISION_PG_TYPES))
                write_row = copy.write_row
                for chunk in parts:
                    for t in chunk:
                        write_row(t)
    except psycopg.IntegrityError as exc:  # raised by psycopg itself, not wrapped
        raise InvalidData(f"batch violates a constraint: {exc}") from exc


def upsert_statement(conn: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT with ``ON CONFLICT`` support (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def check_batch(rnd: RoundRow, rows: Sequence[DecisionRow], nodes: bytes, root: bytes) -> None:
    """Cheap consistency checks of a built batch against its node array (InvalidData)."""
    n = len(rows)
    if n == 0:
        raise InvalidData(f"round {rnd.round_id}: no decisions")
    if len(nodes) != (2 * n - 1) * HASH_SIZE:
        raise InvalidData(f"nodes: {len(nodes)} bytes, expected (2*{n}-1)*32 = {(2 * n - 1) * HASH_SIZE}")
    if nodes[:HASH_SIZE] != root:
        raise InvalidData("root: differs from nodes[0]")
    first_leaf = n - 1
    round_id, mv, pv = rnd.round_id, rnd.model_version, rnd.policy_version
    seen_tree: set[int] = set()
    add = seen_tree.add
    for d in rows:
        if type(d) is not DecisionRow:
            raise InvalidData(f"decisions: expected DecisionRow, got {type(d).__name__}")
        t = d.tree_index
        if d.round_id != round_id:
            raise InvalidData(f"decision {d.leaf_index}: round_id {d.round_id} != {round_id}")
        if d.model_version != mv or d.policy_version != pv:
            raise InvalidData(
                f"decision {d.leaf_index}: model/policy {d.model_version}/{d.policy_version} != round's {mv}/{pv}"
            )
        if not 0 <= d.leaf_index < n:
            raise InvalidData(f"decision leaf_index {d.leaf_index} out of range 0..{n - 1}")
        if not first_leaf <= t < 2 * n - 1:
            raise InvalidData(f"decision {d.leaf_index}: tree_index {t} is not a leaf position")
        if nodes[t * HASH_SIZE : (t + 1) * HASH_SIZE] != d.leaf_hash:
            raise InvalidData(f"decision {d.leaf_index}: leaf_hash is not the node at {t}")
        add(t)
    if len(seen_tree) != n:
        raise InvalidData("decisions: tree_index values are not distinct")


def check_columns(rnd: RoundRow, c: Mapping[str, Sequence[Any]], n: int, nodes: bytes, root: bytes) -> None:
    """:func:`check_batch` for column batches, column by column (InvalidData)."""
    import numpy as np

    if n == 0:
        raise InvalidData(f"round {rnd.round_id}: no decisions")
    for name in DECISION_GIVEN_COLUMNS:
        if len(c[name]) != n:
            raise InvalidData(f"{name}: {len(c[name])} values for {n} decisions")
    if len(nodes) != (2 * n - 1) * HASH_SIZE:
        raise InvalidData(f"nodes: {len(nodes)} bytes, expected (2*{n}-1)*32 = {(2 * n - 1) * HASH_SIZE}")
    if nodes[:HASH_SIZE] != root:
        raise InvalidData("root: differs from nodes[0]")
    for name in DECISION_GIVEN_COLUMNS:
        kinds = set(map(type, c[name]))
        expected, what = _COLUMN_KINDS[name]
        if not kinds <= expected:
            raise InvalidData(f"{name}: expected {what} values")
        if what == "32-byte bytes" and not set(map(len, c[name])) <= {HASH_SIZE}:
            raise InvalidData(f"{name}: expected {what} values")
    tree_index = np.fromiter(c["tree_index"], dtype=np.int64, count=n)
    if tree_index.min() < n - 1 or tree_index.max() >= 2 * n - 1:
        raise InvalidData("decisions: a tree_index is not a leaf position")
    if len(np.unique(tree_index)) != n:
        raise InvalidData("decisions: tree_index values are not distinct")
    at_positions = np.frombuffer(nodes, dtype="V32")[tree_index]
    given = np.frombuffer(b"".join(c["leaf_hash"]), dtype="V32")
    wrong = np.flatnonzero(at_positions != given)
    if len(wrong):
        i = int(wrong[0])
        raise InvalidData(f"decision {i}: leaf_hash is not the node at {int(tree_index[i])}")
