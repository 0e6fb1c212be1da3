"""Disputes: a merchant's challenge of one decision, mirrored from the chain, and relayed ones not mined yet."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger.store.base import StoreBase
from ledger.store.convert import address, b32, b32_or_none, choice, integer, utc
from ledger.store.errors import DisputeConflict, NotFound
from ledger.store.rows import DisputeRow, PendingDisputeRow
from ledger.store.rows import row as as_row
from ledger.store.schema import disputes, pending_disputes
from ledger.store.types import DISPUTE_STATUSES, DisputeStatus

__all__ = ["DisputeStore"]


class DisputeStore(StoreBase):
    """The ``disputes`` and ``pending_disputes`` tables."""

    def add_dispute(
        self,
        dispute_id: int,
        round_id: int,
        merchant_key: bytes | str,
        leaf_hash: bytes | str,
        reason: str,
        *,
        filed_tx: bytes | str | None = None,
        filed_at: datetime | None = None,
    ) -> DisputeRow:
        """Record an on-chain dispute as 'open'. Idempotent for the same content.

        The pending relay of ``filed_tx`` (:meth:`add_pending_dispute`), if any, is
        deleted in the same transaction: the dispute is no longer pending once recorded.
        """
        dispute_id = integer(dispute_id, "dispute_id")
        round_id = integer(round_id, "round_id")
        values = {
            "round_id": round_id,
            "merchant_key": b32(merchant_key, "merchant_key"),
            "leaf_hash": b32(leaf_hash, "leaf_hash"),
            "reason": str(reason),
            "filed_tx": b32_or_none(filed_tx, "filed_tx"),
        }
        with self._write() as conn:
            self._require_round(conn, round_id)
            existing = self._dispute_row(conn, dispute_id)
            if existing is not None and (
                any(getattr(existing, k) != v for k, v in values.items() if k != "filed_tx")
                or (values["filed_tx"] is not None and existing.filed_tx != values["filed_tx"])
            ):
                raise DisputeConflict(f"dispute {dispute_id} exists with different content")
            if values["filed_tx"] is not None:
                conn.execute(sa.delete(pending_disputes).where(pending_disputes.c.tx_hash == values["filed_tx"]))
            if existing is None:
                conn.execute(
                    sa.insert(disputes).values(
                        dispute_id=dispute_id,
                        status="open",
                        filed_at=utc(filed_at, "filed_at"),
                        **values,
                    )
                )
                existing = self._dispute_row(conn, dispute_id)
                assert existing is not None
        return existing

    def resolve_dispute(
        self,
        dispute_id: int,
        status: Literal["upheld", "rejected"],
        *,
        resolved_tx: bytes | str | None = None,
        note: str | None = None,
        resolved_at: datetime | None = None,
    ) -> DisputeRow:
        """Close an open dispute as 'upheld' or 'rejected'. Same resolution again is a no-op."""
        status_s = choice(status, ("upheld", "rejected"), "status")
        tx = b32_or_none(resolved_tx, "resolved_tx")
        with self._write() as conn:
            existing = self._dispute_row(conn, dispute_id)
            if existing is None:
                raise NotFound(f"no dispute {dispute_id}")
            if existing.status != "open":
                if existing.status == status_s and (tx is None or tx == existing.resolved_tx):
                    return existing
                raise DisputeConflict(f"dispute {dispute_id} is already {existing.status}")
            conn.execute(
                sa.update(disputes)
                .where(disputes.c.dispute_id == dispute_id)
                .values(
                    status=status_s,
                    resolved_tx=tx,
                    note=note,
                    resolved_at=utc(resolved_at, "resolved_at"),
                )
            )
            result = self._dispute_row(conn, dispute_id)
        assert result is not None
        return result

    def get_dispute(self, dispute_id: int) -> DisputeRow:
        """Dispute ``dispute_id``; :class:`NotFound` if none."""
        with self._read() as conn:
            found = self._dispute_row(conn, dispute_id)
        if found is None:
            raise NotFound(f"no dispute {dispute_id}")
        return found

    def disputes(
        self,
        *,
        round_id: int | None = None,
        merchant_key: bytes | str | None = None,
        status: DisputeStatus | None = None,
    ) -> list[DisputeRow]:
        """Disputes by id, filtered by round, merchant and status."""
        stmt = sa.select(disputes).order_by(disputes.c.dispute_id)
        if round_id is not None:
            stmt = stmt.where(disputes.c.round_id == round_id)
        if merchant_key is not None:
            stmt = stmt.where(disputes.c.merchant_key == b32(merchant_key, "merchant_key"))
        if status is not None:
            stmt = stmt.where(disputes.c.status == choice(status, DISPUTE_STATUSES, "status"))
        with self._read() as conn:
            return [as_row(DisputeRow, r) for r in conn.execute(stmt)]

    # -- relayed, not mined yet ----------------------------------------------------

    def add_pending_dispute(
        self,
        tx_hash: bytes | str,
        round_id: int,
        merchant_key: bytes | str,
        leaf_hash: bytes | str,
        reason: str,
        *,
        signer: str,
        nonce: int,
        relayed_at: datetime | None = None,
    ) -> PendingDisputeRow:
        """Record a relayed ``fileDispute`` transaction that is not mined yet. Idempotent for the same content."""
        tx = b32(tx_hash, "tx_hash")
        round_id = integer(round_id, "round_id")
        values = {
            "round_id": round_id,
            "merchant_key": b32(merchant_key, "merchant_key"),
            "leaf_hash": b32(leaf_hash, "leaf_hash"),
            "reason": str(reason),
            "signer": address(signer, "signer"),
            "nonce": integer(nonce, "nonce"),
        }
        with self._write() as conn:
            self._require_round(conn, round_id)
            existing = self._pending_dispute_row(conn, tx)
            if existing is None:
                conn.execute(
                    sa.insert(pending_disputes).values(tx_hash=tx, relayed_at=utc(relayed_at, "relayed_at"), **values)
                )
                existing = self._pending_dispute_row(conn, tx)
                assert existing is not None
                return existing
        if any(getattr(existing, k) != v for k, v in values.items()):
            raise DisputeConflict(f"pending dispute transaction 0x{tx.hex()} exists with different content")
        return existing

    def pending_disputes(self, *, merchant_key: bytes | str | None = None) -> list[PendingDisputeRow]:
        """Relayed dispute transactions not mined yet, oldest first, optionally of one merchant."""
        stmt = sa.select(pending_disputes).order_by(pending_disputes.c.relayed_at, pending_disputes.c.tx_hash)
        if merchant_key is not None:
            stmt = stmt.where(pending_disputes.c.merchant_key == b32(merchant_key, "merchant_key"))
        with self._read() as conn:
            return [as_row(PendingDisputeRow, r) for r in conn.execute(stmt)]

    def drop_pending_dispute(self, tx_hash: bytes | str) -> bool:
        """Forget a pending relay that will never file its dispute (reverted, or replaced); True if there was one."""
        tx = b32(tx_hash, "tx_hash")
        with self._write() as conn:
            return conn.execute(sa.delete(pending_disputes).where(pending_disputes.c.tx_hash == tx)).rowcount == 1

    @staticmethod
    def _pending_dispute_row(conn: Connection, tx_hash: bytes) -> PendingDisputeRow | None:
        row = conn.execute(sa.select(pending_disputes).where(pending_disputes.c.tx_hash == tx_hash)).first()
        return None if row is None else as_row(PendingDisputeRow, row)

    @staticmethod
    def _dispute_row(conn: Connection, dispute_id: int) -> DisputeRow | None:
        row = conn.execute(sa.select(disputes).where(disputes.c.dispute_id == dispute_id)).first()
        return None if row is None else as_row(DisputeRow, row)
