"""On-demand applications: decided at once, queued, then claimed by a small batch."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger.store.base import StoreBase
from ledger.store.bulk import chunks
from ledger.store.convert import choice, utc
from ledger.store.errors import NotFound
from ledger.store.rows import ApplicationRow
from ledger.store.rows import row as as_row
from ledger.store.schema import pending_applications
from ledger.store.types import SEGMENTS, Segment

__all__ = ["ApplicationStore"]


class ApplicationStore(StoreBase):
    """The ``pending_applications`` table."""

    def add_application(
        self,
        merchant_id: str,
        segment: Segment,
        payload: Mapping[str, Any],
        *,
        received_at: datetime | None = None,
    ) -> ApplicationRow:
        """Queue an on-demand application (``payload``: JSON-serialisable decision input)."""
        values = {
            "merchant_id": str(merchant_id),
            "segment": choice(segment, SEGMENTS, "segment"),
            "received_at": utc(received_at, "received_at"),
            "payload": dict(payload),
        }
        with self._write() as conn:
            inserted = conn.execute(sa.insert(pending_applications).values(**values)).inserted_primary_key
            assert inserted is not None  # a single-row INSERT always reports its key
            new_id = inserted[0]
            row = conn.execute(sa.select(pending_applications).where(pending_applications.c.id == new_id)).one()
        return as_row(ApplicationRow, row)

    def get_application(self, application_id: int) -> ApplicationRow:
        """Application ``application_id``; :class:`NotFound` if none."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(pending_applications).where(pending_applications.c.id == application_id)
            ).first()
        if row is None:
            raise NotFound(f"no application {application_id}")
        return as_row(ApplicationRow, row)

    def pending_applications(self, segment: Segment | None = None, *, limit: int | None = None) -> list[ApplicationRow]:
        """Applications not yet batched, oldest first."""
        with self._read() as conn:
            return self._pending(conn, segment, limit)

    @staticmethod
    def _pending(conn: Connection, segment: str | None, limit: int | None) -> list[ApplicationRow]:
        stmt = sa.select(pending_applications).where(pending_applications.c.batched_round.is_(None))
        if segment is not None:
            stmt = stmt.where(pending_applications.c.segment == choice(segment, SEGMENTS, "segment"))
        stmt = stmt.order_by(pending_applications.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [as_row(ApplicationRow, r) for r in conn.execute(stmt)]

    def claim_applications(self, round_id: int, segment: Segment, *, limit: int | None = None) -> list[ApplicationRow]:
        """Atomically take the oldest unbatched applications of ``segment`` into ``round_id``."""
        with self._write() as conn:
            self._require_round(conn, round_id, lock=True)
            pending = self._pending(conn, segment, limit)
            ids = [a.id for a in pending]
            for chunk in chunks(ids, 5_000):
                conn.execute(
                    sa.update(pending_applications)
                    .where(
                        pending_applications.c.id.in_(chunk),
                        pending_applications.c.batched_round.is_(None),
                    )
                    .values(batched_round=round_id)
                )
        return [ApplicationRow(a.id, a.merchant_id, a.segment, a.received_at, a.payload, round_id) for a in pending]

    def applications_in_round(self, round_id: int) -> list[ApplicationRow]:
        """Applications batched into ``round_id``, oldest first."""
        with self._read() as conn:
            result = conn.execute(
                sa.select(pending_applications)
                .where(pending_applications.c.batched_round == round_id)
                .order_by(pending_applications.c.id)
            )
            return [as_row(ApplicationRow, r) for r in result]
