"""The validation report of a round's export: its document hash on the round row.

Revision ID: 0007_round_validation_report
Revises: 0006_pending_disputes
Create Date: 2026-12-01

A weekly round scored from a platform export validates it first; the validation report
(``scoring.validation_report``: per-rule counts and every rejected record with its
reason) is stored as a content-addressed document and its SHA-256 is kept here, next to
``export_hash`` (and in the batch file's metadata). Nullable: rounds built before this
revision, and on-demand rounds, have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_round_validation_report"
down_revision: str | None = "0006_pending_disputes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rounds", sa.Column("validation_report_hash", sa.LargeBinary(32), nullable=True))


def downgrade() -> None:
    # As 0005's: in place, not a batch copy (other tables' foreign keys point at ``rounds``).
    op.execute("ALTER TABLE rounds DROP COLUMN validation_report_hash")
