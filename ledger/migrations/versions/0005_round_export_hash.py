"""The export a round scored: its export hash on the round row.

Revision ID: 0005_round_export_hash
Revises: 0004_signin_nonces
Create Date: 2026-12-01

A weekly round scores one platform export; ``sources.exports.ExportArchive`` keeps
the export under its hash and the round records that hash, so what the round scored
(the growth plan of that week, an audit) is read back, never regenerated. Nullable:
rounds built before this revision, and on-demand rounds, have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_round_export_hash"
down_revision: str | None = "0004_signin_nonces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rounds", sa.Column("export_hash", sa.LargeBinary(32), nullable=True))


def downgrade() -> None:
    # Not a batch (copy-and-rename) operation: other tables' foreign keys point at
    # ``rounds``, and SQLite >= 3.35 drops a column in place.
    op.execute("ALTER TABLE rounds DROP COLUMN export_hash")
