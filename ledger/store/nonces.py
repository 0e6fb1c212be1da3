"""Sign-in nonces of the API (EIP-4361), shared by every API worker process."""

from __future__ import annotations

import sqlalchemy as sa

from foundation.errors import shown
from ledger.store.base import StoreBase
from ledger.store.convert import ms
from ledger.store.errors import InvalidData
from ledger.store.schema import signin_nonces

__all__ = ["SigninNonceStore"]


class SigninNonceStore(StoreBase):
    """The ``signin_nonces`` table: issued, checked and consumed exactly once."""

    def issue_signin_nonce(self, nonce: str, expires_at: float, *, now: float, capacity: int) -> bool:
        """Record an API sign-in nonce valid until ``expires_at`` (Unix seconds).

        Expired nonces are dropped first. Returns False, recording nothing, when
        ``capacity`` unexpired nonces are already outstanding (a nonce flood).
        """
        if not isinstance(nonce, str) or not 0 < len(nonce) <= 64:
            raise InvalidData(f"nonce: expected 1..64 characters, got {shown(nonce, 80)}")
        with self._write() as conn:
            conn.execute(sa.delete(signin_nonces).where(signin_nonces.c.expires_at_ms <= ms(now)))
            outstanding = conn.execute(sa.select(sa.func.count()).select_from(signin_nonces)).scalar_one()
            if outstanding >= capacity:
                return False
            conn.execute(sa.insert(signin_nonces).values(nonce=nonce, expires_at_ms=ms(expires_at)))
        return True

    def signin_nonce_live(self, nonce: str, *, now: float) -> bool:
        """True if ``nonce`` was issued, is unused and unexpired at ``now``."""
        with self._read() as conn:
            found = conn.execute(
                sa.select(signin_nonces.c.nonce).where(
                    signin_nonces.c.nonce == nonce, signin_nonces.c.expires_at_ms > ms(now)
                )
            ).first()
        return found is not None

    def consume_signin_nonce(self, nonce: str, *, now: float) -> bool:
        """Use ``nonce`` up: True for exactly one caller, and only while it is unexpired."""
        with self._write() as conn:
            used = conn.execute(
                sa.delete(signin_nonces).where(signin_nonces.c.nonce == nonce, signin_nonces.c.expires_at_ms > ms(now))
            )
            return used.rowcount == 1
