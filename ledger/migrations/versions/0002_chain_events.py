"""Chain-event index: chain_events and chain_cursors (see :mod:`ledger.indexer`).

Revision ID: 0002_chain_events
Revises: 0001_initial
Create Date: 2025-11-27

One row per contract log, unique by (chain_id, tx_hash, log_index) so that the
indexer's re-runs are idempotent; merchant key, round, model and policy version
are copied out of the JSON args into indexed columns for the regulator's filters.
``ledger.store.schema`` describes the same tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_chain_events"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROWID_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chain_events",
        sa.Column("id", _ROWID_BIGINT, autoincrement=True, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("block_time", _TS, nullable=True),
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
    )
    op.create_index(
        "ix_chain_events_chain_id_block_number_log_index", "chain_events", ["chain_id", "block_number", "log_index"]
    )
    for column in ("event", "merchant_key", "round_id", "model_version", "policy_version", "block_time"):
        op.create_index(f"ix_chain_events_{column}", "chain_events", [column])
    op.create_table(
        "chain_cursors",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ledger_address", sa.String(42), nullable=False),
        sa.Column("deployment_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("last_block_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "ledger_address", name="pk_chain_cursors"),
    )


def downgrade() -> None:
    op.drop_table("chain_cursors")
    for column in ("event", "merchant_key", "round_id", "model_version", "policy_version", "block_time"):
        op.drop_index(f"ix_chain_events_{column}", table_name="chain_events")
    op.drop_index("ix_chain_events_chain_id_block_number_log_index", table_name="chain_events")
    op.drop_table("chain_events")
