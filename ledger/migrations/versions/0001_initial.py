"""Initial schema: merchants, rounds, decisions, round_trees, anchors, disputes, pending_applications.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-26

Hashes are 32-byte binary (BLOB / bytea), addresses 0x-hex strings, times UTC.
``round_id`` and ``dispute_id`` are the on-chain numbers; on SQLite their
primary keys are plain ``INTEGER`` so they alias the rowid.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROWID_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def _hash(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.LargeBinary(32), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "merchants",
        sa.Column("merchant_id", sa.String(128), nullable=False),
        _hash("merchant_key"),
        sa.Column("segment", sa.String(16), nullable=False),
        sa.Column("industry", sa.String(64), nullable=True),
        sa.Column("region", sa.String(64), nullable=True),
        sa.Column("account", sa.String(42), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", name="pk_merchants"),
        sa.UniqueConstraint("merchant_key", name="uq_merchants_merchant_key"),
        sa.CheckConstraint("segment IN ('merchant', 'farmer')", name="ck_merchants_segment"),
    )

    op.create_table(
        "rounds",
        sa.Column("round_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
        sa.Column("segment", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model_version", sa.BigInteger(), nullable=False),
        sa.Column("policy_version", sa.BigInteger(), nullable=False),
        sa.Column("decision_count", sa.Integer(), nullable=False),
        _hash("root", nullable=True),
        _hash("batch_hash", nullable=True),
        sa.Column("batch_path", sa.String(1024), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("built_at", _TS, nullable=True),
        sa.Column("anchored_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("round_id", name="pk_rounds"),
        sa.CheckConstraint("segment IN ('merchant', 'farmer')", name="ck_rounds_segment"),
        sa.CheckConstraint("kind IN ('weekly', 'on_demand')", name="ck_rounds_kind"),
        sa.CheckConstraint(
            "status IN ('pending', 'built', 'anchoring', 'anchored', 'confirmed')",
            name="ck_rounds_status",
        ),
    )
    op.create_index("ix_rounds_segment_round_id", "rounds", ["segment", "round_id"])

    op.create_table(
        "decisions",
        sa.Column("round_id", sa.BigInteger(), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("tree_index", sa.Integer(), nullable=False),
        _hash("merchant_key"),
        sa.Column("merchant_id", sa.String(128), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("limit_cny", sa.BigInteger(), nullable=False),
        sa.Column("product_mask", sa.BigInteger(), nullable=False),
        sa.Column("reason1", sa.Integer(), nullable=False),
        sa.Column("reason2", sa.Integer(), nullable=False),
        sa.Column("reason3", sa.Integer(), nullable=False),
        sa.Column("reason4", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.BigInteger(), nullable=False),
        sa.Column("policy_version", sa.BigInteger(), nullable=False),
        _hash("feature_commitment"),
        _hash("prev_leaf_hash"),
        _hash("leaf_hash"),
        sa.Column("feature_salt", sa.LargeBinary(), nullable=True),
        sa.Column("feature_bytes", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("round_id", "leaf_index", name="pk_decisions"),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_decisions_round_id_rounds"),
        # merchant_key first: the same index enforces one decision per merchant
        # per round AND serves a merchant's history ordered by round.
        sa.UniqueConstraint("merchant_key", "round_id", name="uq_decisions_merchant_key_round_id"),
    )
    op.create_index("ix_decisions_leaf_hash", "decisions", ["leaf_hash"])

    op.create_table(
        "round_trees",
        sa.Column("round_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("nodes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("round_id", name="pk_round_trees"),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_round_trees_round_id_rounds"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Random hashes do not compress; EXTERNAL lets substr() read a proof's
        # 32-byte slices straight from TOAST instead of de-toasting the whole tree.
        op.execute("ALTER TABLE round_trees ALTER COLUMN nodes SET STORAGE EXTERNAL")

    op.create_table(
        "anchors",
        sa.Column("round_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
        _hash("tx_hash"),
        sa.Column("sender", sa.String(42), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        _hash("block_hash", nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("confirmations", sa.Integer(), nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("mined_at", _TS, nullable=True),
        sa.Column("confirmed_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("round_id", name="pk_anchors"),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_anchors_round_id_rounds"),
        sa.CheckConstraint("status IN ('sent', 'mined', 'confirmed')", name="ck_anchors_status"),
    )
    op.create_index("ix_anchors_tx_hash", "anchors", ["tx_hash"])

    op.create_table(
        "disputes",
        sa.Column("dispute_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
        sa.Column("round_id", sa.BigInteger(), nullable=False),
        _hash("merchant_key"),
        _hash("leaf_hash"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _hash("filed_tx", nullable=True),
        _hash("resolved_tx", nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("filed_at", _TS, nullable=False),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("dispute_id", name="pk_disputes"),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_disputes_round_id_rounds"),
        sa.CheckConstraint("status IN ('open', 'upheld', 'rejected')", name="ck_disputes_status"),
    )
    op.create_index("ix_disputes_merchant_key", "disputes", ["merchant_key"])
    op.create_index("ix_disputes_round_id", "disputes", ["round_id"])

    op.create_table(
        "pending_applications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("merchant_id", sa.String(128), nullable=False),
        sa.Column("segment", sa.String(16), nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("batched_round", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pending_applications"),
        sa.ForeignKeyConstraint(
            ["batched_round"],
            ["rounds.round_id"],
            name="fk_pending_applications_batched_round_rounds",
        ),
        sa.CheckConstraint("segment IN ('merchant', 'farmer')", name="ck_pending_applications_segment"),
    )
    op.create_index(
        "ix_pending_applications_batched_round",
        "pending_applications",
        ["batched_round", "segment", "id"],
    )


def downgrade() -> None:
    op.drop_table("pending_applications")
    op.drop_table("disputes")
    op.drop_table("anchors")
    op.drop_table("round_trees")
    op.drop_table("decisions")
    op.drop_table("rounds")
    op.drop_table("merchants")
