"""Every table of the store, in one SQLAlchemy ``MetaData``.

This mirrors the Alembic revisions in :mod:`ledger.migrations` (a test compares the
migrated schema with :data:`metadata`). The decisions table's leaf columns come from
the leaf layout (:data:`ledger.leaf.LEAF_LAYOUT`), so a leaf field is described once.

* ``merchants``: the platform's merchant ids (PRIVATE) and their pseudonymous keys;
* ``rounds``, ``round_trees``, ``decisions``, ``merchant_heads``: each round, its
  Merkle node array, its decisions and each merchant's newest leaf;
* ``anchors``: each round's anchoring transaction;
* ``disputes``, ``pending_disputes``, ``pending_applications``, ``signin_nonces``: disputes
  mirrored from the chain, relayed dispute transactions not mined yet, on-demand
  applications, the API's sign-in nonces;
* ``chain_events``, ``chain_cursors``: the event indexer's copy of the chain.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

from ledger.leaf import LEAF_LAYOUT, LeafField
from ledger.store.convert import UTCDateTime
from ledger.store.types import ANCHOR_STATUSES, DISPUTE_STATUSES, HASH_SIZE, ROUND_KINDS, ROUND_STATUSES, SEGMENTS

__all__ = [
    "DECISION_COLUMN_NAMES",
    "anchors",
    "chain_cursors",
    "chain_events",
    "decisions",
    "disputes",
    "merchant_heads",
    "merchants",
    "metadata",
    "pending_applications",
    "pending_disputes",
    "round_trees",
    "rounds",
    "signin_nonces",
]

metadata = sa.MetaData()
_ROWID_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _hash_col(name: str, nullable: bool = False) -> sa.Column[bytes]:
    return sa.Column(name, sa.LargeBinary(HASH_SIZE), nullable=nullable)


def _leaf_columns(field: LeafField) -> list[sa.Column[bytes]] | list[sa.Column[int]]:
    """The store columns of one leaf field: bytes32 as 32-byte blobs, integers by width."""
    if field.kind == "bytes32":
        return [_hash_col(name) for name in field.columns]
    kind = sa.Integer() if field.bits <= 16 else sa.BigInteger()
    return [sa.Column(name, kind, nullable=False) for name in field.columns]


def _one_of(column: str, values: tuple[str, ...]) -> str:
    """``column IN ('a', 'b')``: a CHECK from the store's vocabulary (ledger/store/types.py)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_LEAF = {f.name: _leaf_columns(f) for f in LEAF_LAYOUT}
_KEYS = ("merchant_key", "round")  # the two leaf fields the table is keyed by, placed first

merchants = sa.Table(
    "merchants",
    metadata,
    sa.Column("merchant_id", sa.String(128), nullable=False),
    _hash_col("merchant_key"),
    sa.Column("segment", sa.String(16), nullable=False),
    sa.Column("industry", sa.String(64)),
    sa.Column("region", sa.String(64)),
    sa.Column("account", sa.String(42)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("merchant_id", name="pk_merchants"),
    sa.UniqueConstraint("merchant_key", name="uq_merchants_merchant_key"),
    sa.CheckConstraint(_one_of("segment", SEGMENTS), name="ck_merchants_segment"),
)

rounds = sa.Table(
    "rounds",
    metadata,
    sa.Column("round_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
    sa.Column("segment", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("model_version", sa.BigInteger(), nullable=False),
    sa.Column("policy_version", sa.BigInteger(), nullable=False),
    sa.Column("decision_count", sa.Integer(), nullable=False),
    _hash_col("root", nullable=True),
    _hash_col("batch_hash", nullable=True),
    sa.Column("batch_path", sa.String(1024)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("built_at", UTCDateTime()),
    sa.Column("anchored_at", UTCDateTime()),
    # the platform export the round scored (sources.exports), None for on-demand rounds
    _hash_col("export_hash", nullable=True),
    # the document hash of that export's validation report (scoring.validation_report)
    _hash_col("validation_report_hash", nullable=True),
    sa.PrimaryKeyConstraint("round_id", name="pk_rounds"),
    sa.CheckConstraint(_one_of("segment", SEGMENTS), name="ck_rounds_segment"),
    sa.CheckConstraint(_one_of("kind", ROUND_KINDS), name="ck_rounds_kind"),
    sa.CheckConstraint(_one_of("status", ROUND_STATUSES), name="ck_rounds_status"),
    sa.Index("ix_rounds_segment_round_id", "segment", "round_id"),
)


decisions = sa.Table(
    "decisions",
    metadata,
    *_LEAF["round"],
    sa.Column("leaf_index", sa.Integer(), nullable=False),
    sa.Column("tree_index", sa.Integer(), nullable=False),
    *_LEAF["merchant_key"],
    sa.Column("merchant_id", sa.String(128), nullable=False),
    *(column for name, columns in _LEAF.items() if name not in _KEYS for column in columns),
    _hash_col("leaf_hash"),
    sa.Column("feature_salt", sa.LargeBinary()),
    sa.Column("feature_bytes", sa.LargeBinary()),
    sa.Column("status", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("round_id", "leaf_index", name="pk_decisions"),
    sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_decisions_round_id_rounds"),
    # Round first, so each round's entries form one contiguous, append-only region of
    # the index: a round writes into its own region however long the history is. (A
    # merchant-first index takes a round's million random inserts all over a history
    # that grows every week; its cost grew ~5 s per week at 1M merchants.) A merchant's
    # own decisions are found through ``merchant_heads`` and per-round probes.
    sa.UniqueConstraint("round_id", "merchant_key", name="uq_decisions_round_id_merchant_key"),
)

#: Every decisions column, in table order (the order of the positional row tuples).
DECISION_COLUMN_NAMES: Final = tuple(c.name for c in decisions.columns)

merchant_heads = sa.Table(
    "merchant_heads",
    metadata,
    # The head of each merchant's hash chain: its decision in the highest-numbered
    # built round. Derived from ``decisions`` in the same transaction that stores a
    # round, so it never disagrees with them; the oracle reads its prev links here.
    _hash_col("merchant_key"),
    sa.Column("round_id", sa.BigInteger(), nullable=False),
    _hash_col("leaf_hash"),
    sa.PrimaryKeyConstraint("merchant_key", name="pk_merchant_heads"),
    sqlite_with_rowid=False,
)

round_trees = sa.Table(
    "round_trees",
    metadata,
    sa.Column("round_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
    sa.Column("leaf_count", sa.Integer(), nullable=False),
    sa.Column("nodes", sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint("round_id", name="pk_round_trees"),
    sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_round_trees_round_id_rounds"),
)

anchors = sa.Table(
    "anchors",
    metadata,
    sa.Column("round_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
    _hash_col("tx_hash"),
    sa.Column("sender", sa.String(42)),
    sa.Column("nonce", sa.BigInteger()),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("block_number", sa.BigInteger()),
    _hash_col("block_hash", nullable=True),
    sa.Column("gas_used", sa.BigInteger()),
    sa.Column("confirmations", sa.Integer(), nullable=False),
    sa.Column("sent_at", UTCDateTime()),
    sa.Column("mined_at", UTCDateTime()),
    sa.Column("confirmed_at", UTCDateTime()),
    sa.PrimaryKeyConstraint("round_id", name="pk_anchors"),
    sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_anchors_round_id_rounds"),
    sa.CheckConstraint(_one_of("status", ANCHOR_STATUSES), name="ck_anchors_status"),
    sa.Index("ix_anchors_tx_hash", "tx_hash"),
)

disputes = sa.Table(
    "disputes",
    metadata,
    sa.Column("dispute_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
    sa.Column("round_id", sa.BigInteger(), nullable=False),
    _hash_col("merchant_key"),
    _hash_col("leaf_hash"),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    _hash_col("filed_tx", nullable=True),
    _hash_col("resolved_tx", nullable=True),
    sa.Column("note", sa.Text()),
    sa.Column("filed_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime()),
    sa.PrimaryKeyConstraint("dispute_id", name="pk_disputes"),
    sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_disputes_round_id_rounds"),
    sa.CheckConstraint(_one_of("status", DISPUTE_STATUSES), name="ck_disputes_status"),
    sa.Index("ix_disputes_merchant_key", "merchant_key"),
    sa.Index("ix_disputes_round_id", "round_id"),
)

pending_disputes = sa.Table(
    "pending_disputes",
    metadata,
    # Dispute transactions the API relayed that were not mined within its wait: shown
    # to their merchant as "pending" until the DisputeFiled event is recorded in
    # ``disputes`` (which deletes the row in the same transaction).
    _hash_col("tx_hash"),
    sa.Column("round_id", sa.BigInteger(), nullable=False),
    _hash_col("merchant_key"),
    _hash_col("leaf_hash"),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("signer", sa.String(42), nullable=False),
    sa.Column("nonce", sa.BigInteger(), nullable=False),
    sa.Column("relayed_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("tx_hash", name="pk_pending_disputes"),
    sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_pending_disputes_round_id_rounds"),
    sa.Index("ix_pending_disputes_merchant_key", "merchant_key"),
)

pending_applications = sa.Table(
    "pending_applications",
    metadata,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("merchant_id", sa.String(128), nullable=False),
    sa.Column("segment", sa.String(16), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("batched_round", sa.BigInteger()),
    sa.PrimaryKeyConstraint("id", name="pk_pending_applications"),
    sa.ForeignKeyConstraint(
        ["batched_round"], ["rounds.round_id"], name="fk_pending_applications_batched_round_rounds"
    ),
    sa.CheckConstraint(_one_of("segment", SEGMENTS), name="ck_pending_applications_segment"),
    sa.Index("ix_pending_applications_batched_round", "batched_round", "segment", "id"),
)

signin_nonces = sa.Table(
    "signin_nonces",
    metadata,
    # Outstanding EIP-4361 sign-in nonces of the API, here rather than in one API
    # process's memory so that every worker knows every nonce. Deleted when used.
    sa.Column("nonce", sa.String(64), nullable=False),
    sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),  # Unix time, milliseconds
    sa.PrimaryKeyConstraint("nonce", name="pk_signin_nonces"),
    sa.Index("ix_signin_nonces_expires_at_ms", "expires_at_ms"),
)


# -- the event indexer's tables (mirrored by revision 0002_chain_events) ----------

chain_events = sa.Table(
    "chain_events",
    metadata,
    sa.Column("id", _ROWID_BIGINT, autoincrement=True, nullable=False),
    sa.Column("chain_id", sa.BigInteger(), nullable=False),
    sa.Column("block_number", sa.BigInteger(), nullable=False),
    sa.Column("block_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("block_time", UTCDateTime(), nullable=True),
    sa.Column("tx_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("log_index", sa.Integer(), nullable=False),
    sa.Column("contract", sa.String(64), nullable=False),
    sa.Column("address", sa.String(42), nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("args", sa.JSON(), nullable=False),
    sa.Column("merchant_key", sa.LargeBinary(32), nullable=True),
    sa.Column("round_id", sa.BigInteger(), nullable=True),
    sa.Column("model_version", sa.BigInteger(), nullable=True),
    sa.Column("policy_version", sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint("id", name="pk_chain_events"),
    sa.UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_chain_events_chain_id_tx_hash_log_index"),
    sa.Index("ix_chain_events_chain_id_block_number_log_index", "chain_id", "block_number", "log_index"),
    sa.Index("ix_chain_events_event", "event"),
    sa.Index("ix_chain_events_merchant_key", "merchant_key"),
    sa.Index("ix_chain_events_round_id", "round_id"),
    sa.Index("ix_chain_events_model_version", "model_version"),
    sa.Index("ix_chain_events_policy_version", "policy_version"),
    sa.Index("ix_chain_events_block_time", "block_time"),
)

chain_cursors = sa.Table(
    "chain_cursors",
    metadata,
    sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column("ledger_address", sa.String(42), nullable=False),
    sa.Column("deployment_block", sa.BigInteger(), nullable=False),
    sa.Column("last_block", sa.BigInteger(), nullable=False),
    sa.Column("last_block_hash", sa.LargeBinary(32), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("chain_id", "ledger_address", name="pk_chain_cursors"),
)
