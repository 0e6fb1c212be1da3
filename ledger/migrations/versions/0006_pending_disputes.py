"""Relayed dispute transactions that are not mined yet.

Revision ID: 0006_pending_disputes
Revises: 0005_round_export_hash
Create Date: 2026-12-08

The API's dispute relay waits only a short, bounded time for a relayed ``fileDispute``
transaction to be mined; one still unmined is recorded here and shown to its merchant
as "pending" until its ``DisputeFiled`` event is recorded in ``disputes``.
``ledger.store.schema.pending_disputes`` describes the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_pending_disputes"
down_revision: str | None = "0005_round_export_hash"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_disputes",
        sa.Column("tx_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("round_id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_key", sa.LargeBinary(32), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("signer", sa.String(42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash", name="pk_pending_disputes"),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_pending_disputes_round_id_rounds"),
    )
    op.create_index("ix_pending_disputes_merchant_key", "pending_disputes", ["merchant_key"])


def downgrade() -> None:
    op.drop_index("ix_pending_disputes_merchant_key", table_name="pending_disputes")
    op.drop_table("pending_disputes")
