"""API sign-in nonces in the store, so every API worker process knows every nonce.

Revision ID: 0004_signin_nonces
Revises: 0003_round_first_decisions
Create Date: 2026-11-26

Before this revision the nonces lived in one API process's memory, which limited the
API to a single process. ``ledger.store.schema.signin_nonces`` describes the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_signin_nonces"
down_revision: str | None = "0003_round_first_decisions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signin_nonces",
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name="pk_signin_nonces"),
    )
    op.create_index("ix_signin_nonces_expires_at_ms", "signin_nonces", ["expires_at_ms"])


def downgrade() -> None:
    op.drop_index("ix_signin_nonces_expires_at_ms", table_name="signin_nonces")
    op.drop_table("signin_nonces")
