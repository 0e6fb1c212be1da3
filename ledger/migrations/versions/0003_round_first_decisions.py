"""Round-first decision index and merchant_heads, so storing a round costs the same every week.

Revision ID: 0003_round_first_decisions
Revises: 0002_chain_events
Create Date: 2026-11-26

The unique (merchant_key, round_id) index and the leaf_hash index took each round's
million decisions as random inserts spread over the whole history, so storing a
1,000,000-merchant round grew by about 5 s every week (12.8 s in week 1, 27.5 s in
week 4). This revision:

* adds ``merchant_heads`` (merchant_key -> round_id, leaf_hash of its decision in the
  highest-numbered round), filled here from the existing decisions and kept by the
  store in the same transaction that stores a round; the oracle's prev links are read
  from it instead of from the decision history;
* replaces the unique (merchant_key, round_id) constraint by (round_id, merchant_key),
  whose entries for one round are contiguous (on SQLite a table rebuild, once);
* drops ``ix_decisions_leaf_hash`` (nothing looks decisions up by leaf hash alone).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_round_first_decisions"
down_revision: str | None = "0002_chain_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "merchant_heads",
        sa.Column("merchant_key", sa.LargeBinary(32), nullable=False),
        sa.Column("round_id", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("merchant_key", name="pk_merchant_heads"),
        sqlite_with_rowid=False,
    )
    # Filled while the merchant-first index still exists to serve the GROUP BY.
    op.execute(
        "INSERT INTO merchant_heads (merchant_key, round_id, leaf_hash)"
        " SELECT d.merchant_key, d.round_id, d.leaf_hash FROM decisions d"
        " JOIN (SELECT merchant_key, MAX(round_id) AS last_round FROM decisions GROUP BY merchant_key) latest"
        " ON d.merchant_key = latest.merchant_key AND d.round_id = latest.last_round"
    )
    op.drop_index("ix_decisions_leaf_hash", table_name="decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_constraint("uq_decisions_merchant_key_round_id", type_="unique")
        batch.create_unique_constraint("uq_decisions_round_id_merchant_key", ["round_id", "merchant_key"])


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_constraint("uq_decisions_round_id_merchant_key", type_="unique")
        batch.create_unique_constraint("uq_decisions_merchant_key_round_id", ["merchant_key", "round_id"])
    op.create_index("ix_decisions_leaf_hash", "decisions", ["leaf_hash"])
    op.drop_table("merchant_heads")
