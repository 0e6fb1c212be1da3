"""Anchors: each round's anchoring transaction, through the states sent -> mined -> confirmed.

The state machine is :data:`ANCHOR_TRANSITIONS`, one table: every ``record_*`` method
checks its move against it, and the round's status follows the anchor's
(:data:`ROUND_STATUS_OF`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger.store.base import StoreBase
from ledger.store.convert import address, b32, b32_or_none, integer, now, utc
from ledger.store.errors import AnchorConflict, InvalidState, NotFound
from ledger.store.rows import AnchorRow
from ledger.store.rows import row as as_row
from ledger.store.schema import anchors

__all__ = ["ANCHOR_TRANSITIONS", "ROUND_STATUS_OF", "AnchorStore"]


#: The anchor state machine: (event, status before) -> status after. ``None`` is "no
#: anchor record yet". A pair that is missing is refused: :class:`InvalidState` when the
#: round is not that far yet, :class:`AnchorConflict` when the record already says
#: something else (see :data:`_REFUSALS`). Repeating a recorded fact (the same tx, the
#: same block) is accepted as a no-op before the table is consulted.
ANCHOR_TRANSITIONS: Final[dict[tuple[str, str | None], str]] = {
    ("send", None): "sent",
    ("send", "sent"): "sent",  # a replacement with the same nonce (or a re-send after a crash)
    ("mine", None): "mined",  # found on-chain by a restarted oracle that has no 'sent' record
    ("mine", "sent"): "mined",
    ("mine", "mined"): "mined",  # a reorg moved the transaction to another block
    ("reorg", "sent"): "sent",  # nothing mined, nothing to undo
    ("reorg", "mined"): "sent",  # it left the chain: settle it again (wait, or re-send with its nonce)
    ("confirm", "mined"): "confirmed",
    ("confirm", "confirmed"): "confirmed",  # more blocks on top: raise the count
}

#: The round's status once its anchor is in a status.
ROUND_STATUS_OF: Final[dict[str, str]] = {"sent": "anchoring", "mined": "anchored", "confirmed": "confirmed"}

_REFUSALS: Final[dict[tuple[str, str | None], type[Exception]]] = {
    ("send", "mined"): AnchorConflict,
    ("send", "confirmed"): AnchorConflict,
    ("mine", "confirmed"): AnchorConflict,
    ("reorg", None): InvalidState,
    ("reorg", "confirmed"): AnchorConflict,
    ("confirm", None): InvalidState,
    ("confirm", "sent"): InvalidState,
}


class AnchorStore(StoreBase):
    """The ``anchors`` table."""

    def _move(self, round_id: int, event: str, anchor: AnchorRow | None, detail: str) -> str:
        """The status ``event`` takes ``anchor`` to, per :data:`ANCHOR_TRANSITIONS`, or the refusal."""
        before = None if anchor is None else anchor.status
        after = ANCHOR_TRANSITIONS.get((event, before))
        if after is None:
            raise _REFUSALS.get((event, before), InvalidState)(f"round {round_id}: {detail}")
        return after

    def record_anchor_sent(
        self, round_id: int, tx_hash: bytes | str, sender: str | None, nonce: int | None
    ) -> AnchorRow:
        """Record the anchoring transaction as sent; round 'built' -> 'anchoring'.

        Sending again while not yet mined (a replacement with the same nonce
        and higher gas) overwrites the transaction; once mined, the same
        ``tx_hash`` is a no-op and a different one raises :class:`AnchorConflict`.
        """
        tx = b32(tx_hash, "tx_hash")
        sender_s = address(sender, "sender")
        nonce_i = None if nonce is None else integer(nonce, "nonce")
        with self._write() as conn:
            self._require_built(conn, round_id)
            anchor = self._anchor_row(conn, round_id)
            if anchor is not None and anchor.status != "sent" and anchor.tx_hash == tx:
                return anchor  # already recorded
            status = self._move(
                round_id,
                "send",
                anchor,
                f"already {anchor.status} in tx 0x{anchor.tx_hash.hex()}" if anchor else "",
            )
            values = {"tx_hash": tx, "sender": sender_s, "nonce": nonce_i, "status": status, "sent_at": now()}
            if anchor is None:
                conn.execute(sa.insert(anchors).values(round_id=round_id, confirmations=0, **values))
            elif (anchor.tx_hash, anchor.sender, anchor.nonce) != (tx, sender_s, nonce_i):
                conn.execute(sa.update(anchors).where(anchors.c.round_id == round_id).values(**values))
            self._set_round_status(conn, round_id, ROUND_STATUS_OF[status])
            return self._require_anchor(conn, round_id)

    def record_anchor_mined(
        self,
        round_id: int,
        block_number: int,
        block_hash: bytes | str,
        gas_used: int,
        *,
        tx_hash: bytes | str | None = None,
        mined_at: datetime | None = None,
    ) -> AnchorRow:
        """Record the anchor as mined; round -> 'anchored' (``anchored_at`` set).

        ``tx_hash`` lets a restarted oracle record a transaction it finds on
        chain without a 'sent' record (else that record is required); if given
        with a stored 'sent' record it replaces it (the replacement tx won).
        Re-recording after a reorg (different block) is allowed until
        confirmed; after that only the same block is accepted (no-op).
        """
        block_number = integer(block_number, "block_number")
        block = b32(block_hash, "block_hash")
        gas = integer(gas_used, "gas_used")
        tx = b32_or_none(tx_hash, "tx_hash")
        when = utc(mined_at, "mined_at")
        with self._write() as conn:
            self._require_built(conn, round_id)
            anchor = self._anchor_row(conn, round_id)
            if anchor is None and tx is None:
                raise InvalidState(f"round {round_id}: no anchor sent; pass tx_hash")
            if anchor is not None:
                if tx is not None and tx != anchor.tx_hash and anchor.status != "sent":
                    raise AnchorConflict(f"round {round_id} already {anchor.status} in tx 0x{anchor.tx_hash.hex()}")
                same_block = (anchor.block_number, anchor.block_hash, anchor.gas_used) == (block_number, block, gas)
                if anchor.status in ("mined", "confirmed") and same_block:
                    return anchor  # already recorded
            status = self._move(
                round_id, "mine", anchor, f"is confirmed in block {anchor.block_number if anchor else None}"
            )
            values = {
                "status": status,
                "block_number": block_number,
                "block_hash": block,
                "gas_used": gas,
                "mined_at": when,
            }
            if anchor is None:
                assert tx is not None
                conn.execute(sa.insert(anchors).values(round_id=round_id, tx_hash=tx, confirmations=0, **values))
            else:
                conn.execute(
                    sa.update(anchors)
                    .where(anchors.c.round_id == round_id)
                    .values(tx_hash=tx or anchor.tx_hash, **values)
                )
            self._set_round_status(conn, round_id, ROUND_STATUS_OF[status], anchored_at=when)
            return self._require_anchor(conn, round_id)

    def record_anchor_reorged(self, round_id: int) -> AnchorRow:
        """The mined anchoring transaction left the chain (a reorg): anchor back to 'sent'.

        Keeps the transaction hash, sender and nonce and clears the block, so the
        oracle settles it as it does after a crash: it waits if the node still holds
        the transaction, else sends it again with the recorded nonce. The round goes
        back to 'anchoring'. Refused once 'confirmed' (final at the configured depth)
        and a no-op while the anchor is 'sent'.
        """
        with self._write() as conn:
            self._require_round(conn, round_id, lock=True)
            anchor = self._anchor_row(conn, round_id)
            detail = (
                "has no anchor record"
                if anchor is None
                else f"is confirmed in block {anchor.block_number}; a reorg deeper than the"
                " confirmation depth needs an operator"
            )
            status = self._move(round_id, "reorg", anchor, detail)
            assert anchor is not None
            if anchor.status != status:
                conn.execute(
                    sa.update(anchors)
                    .where(anchors.c.round_id == round_id)
                    .values(status=status, block_number=None, block_hash=None, gas_used=None, mined_at=None)
                )
                self._set_round_status(conn, round_id, ROUND_STATUS_OF[status], anchored_at=None)
            return self._require_anchor(conn, round_id)

    def record_anchor_confirmed(self, round_id: int, confirmations: int) -> AnchorRow:
        """Record the anchor as final with ``confirmations`` blocks; round -> 'confirmed'.

        May be called again to raise the confirmation count (never lowers it).
        """
        confirmations = integer(confirmations, "confirmations", 0, (1 << 31) - 1)
        with self._write() as conn:
            self._require_round(conn, round_id, lock=True)
            anchor = self._anchor_row(conn, round_id)
            status = self._move(round_id, "confirm", anchor, "anchor not mined yet")
            assert anchor is not None
            values: dict[str, Any] = {"confirmations": max(confirmations, anchor.confirmations)}
            if anchor.status != status:
                values.update(status=status, confirmed_at=now())
            conn.execute(sa.update(anchors).where(anchors.c.round_id == round_id).values(**values))
            self._set_round_status(conn, round_id, ROUND_STATUS_OF[status])
            return self._require_anchor(conn, round_id)

    def get_anchor(self, round_id: int) -> AnchorRow:
        """The anchor record of ``round_id``; :class:`NotFound` if none."""
        with self._read() as conn:
            return self._require_anchor(conn, round_id)

    def _require_built(self, conn: Connection, round_id: int) -> None:
        if self._require_round(conn, round_id, lock=True).status == "pending":
            raise InvalidState(f"round {round_id} is not built yet")

    def _require_anchor(self, conn: Connection, round_id: int) -> AnchorRow:
        found = self._anchor_row(conn, round_id)
        if found is None:
            raise NotFound(f"round {round_id} has no anchor record")
        return found

    @staticmethod
    def _anchor_row(conn: Connection, round_id: int) -> AnchorRow | None:
        found = conn.execute(sa.select(anchors).where(anchors.c.round_id == round_id)).first()
        return None if found is None else as_row(AnchorRow, found)
