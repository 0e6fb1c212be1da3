"""Merchants: the platform's ids (PRIVATE) bound to their pseudonymous keys, with segment and peers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from foundation.errors import shown
from ledger.store import bulk
from ledger.store.base import StoreBase
from ledger.store.bulk import (
    MERCHANT_INSERT,
    MERCHANT_INSERT_NAMES,
    MERCHANT_UPDATE,
    MERCHANT_UPDATE_NAMES,
    chunks,
    driver_rows,
    executemany,
)
from ledger.store.convert import b32, choice, now, utc
from ledger.store.errors import InvalidData, MerchantConflict, NotFound
from ledger.store.rows import MerchantRow
from ledger.store.rows import row as as_row
from ledger.store.schema import merchants
from ledger.store.types import HASH_SIZE, SEGMENTS, Segment

__all__ = ["MerchantStore"]


class MerchantStore(StoreBase):
    """The ``merchants`` table."""

    def upsert_merchants(self, rows: Iterable[MerchantRow | Mapping[str, Any]]) -> int:
        """Insert or update merchants by ``merchant_id``; returns the number of rows given.

        Updates segment, industry, region and account (a None account keeps the
        recorded one); ``created_at`` stays. Rows whose stored values already match
        are left alone (``updated_at`` is the time of the last actual change).
        A merchant's key never changes: a different key for a known id, or a
        key already bound to another id, raises :class:`MerchantConflict` and
        nothing is written.
        """
        items = [r if isinstance(r, MerchantRow) else MerchantRow(**r) for r in rows]
        if not items:
            return 0
        return self._upsert(
            [m.merchant_id for m in items],
            [m.merchant_key for m in items],
            [m.segment for m in items],
            [m.industry for m in items],
            [m.region for m in items],
            [m.account for m in items],
            [m.created_at for m in items],
        )

    def upsert_merchant_columns(
        self,
        segment: Segment,
        merchant_ids: Sequence[str],
        merchant_keys: Sequence[bytes],
        industries: Sequence[str | None],
        regions: Sequence[str | None],
    ) -> int:
        """:meth:`upsert_merchants` for one segment's merchants given column by column.

        The oracle's round path: no :class:`MerchantRow` per merchant. Same
        semantics (accounts are left as recorded); returns the number given.
        """
        choice(segment, SEGMENTS, "segment")
        n = len(merchant_ids)
        if not (len(merchant_keys) == len(industries) == len(regions) == n):
            raise InvalidData("merchant columns: lengths differ")
        if not n:
            return 0
        if (
            not set(map(type, merchant_ids)) <= {str}
            or not 0 < min(map(len, merchant_ids)) <= max(map(len, merchant_ids)) <= 128
        ):
            for mid in merchant_ids:
                if not isinstance(mid, str) or not 0 < len(mid) <= 128:
                    raise InvalidData(f"merchant_id: expected 1..128 characters, got {shown(mid, 80)}")
        if not (set(map(type, merchant_keys)) <= {bytes} and set(map(len, merchant_keys)) <= {HASH_SIZE}):
            merchant_keys = [b32(k, "merchant_key") for k in merchant_keys]
        for name, column in (("industry", industries), ("region", regions)):
            if not set(map(type, column)) <= {str, type(None)}:
                raise InvalidData(f"{name}: expected strings or None")
        return self._upsert(
            merchant_ids,
            merchant_keys,
            itertools.repeat(segment, n),
            industries,
            regions,
            itertools.repeat(None, n),
            itertools.repeat(None, n),
        )

    def _upsert(
        self,
        ids: Sequence[str],
        keys: Sequence[bytes],
        segments: Iterable[str],
        industries: Iterable[str | None],
        regions: Iterable[str | None],
        accounts: Iterable[str | None],
        created: Iterable[datetime | None],
    ) -> int:
        # One select of what is stored, then plain-tuple executemany straight to the
        # driver: inserts for new merchants, updates only where something changed
        # (in a weekly round every merchant is known and almost none changes).
        n = len(ids)
        if len(set(ids)) != n or len(set(keys)) != n:
            raise MerchantConflict("duplicate merchant_id or merchant_key in one upsert")
        try:
            with self._write() as conn:
                dialect = conn.dialect
                to_db: Callable[[datetime], object] = merchants.c.updated_at.type.bind_processor(dialect) or _unchanged
                stamp = to_db(now())
                stored = self._stored_merchants(conn, ids)
                inserts: list[tuple[Any, ...]] = []
                updates: list[tuple[Any, ...]] = []
                skipped = 0
                for mid, key, seg, ind, reg, acct, made in zip(
                    ids, keys, segments, industries, regions, accounts, created
                ):
                    old = stored.get(mid)
                    if old is None:
                        inserts.append(
                            (mid, key, seg, ind, reg, acct, to_db(utc(made, "created_at")) if made else stamp, stamp)
                        )
                        continue
                    old_key, old_seg, old_ind, old_reg, old_acct = old
                    if old_key != key:
                        raise MerchantConflict(f"merchant {mid!r} is bound to key 0x{old_key.hex()}")
                    if seg != old_seg or ind != old_ind or reg != old_reg or (acct is not None and acct != old_acct):
                        updates.append((seg, ind, reg, acct, stamp, mid))
                    else:
                        skipped += 1
                del stored
                if len(inserts) + len(updates) + skipped != n:  # pragma: no cover - columns of unequal length
                    raise InvalidData("merchant columns: lengths differ")
                if inserts:
                    executemany(conn, MERCHANT_INSERT, MERCHANT_INSERT_NAMES, inserts, self.chunk_size)
                if updates:
                    executemany(conn, MERCHANT_UPDATE, MERCHANT_UPDATE_NAMES, updates, self.chunk_size)
        except IntegrityError as exc:
            raise MerchantConflict(f"merchant_key already bound to another merchant: {exc.orig}") from exc
        return n

    def _stored_merchants(self, conn: Connection, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """merchant_id -> (key, segment, industry, region, account) of the stored merchants among ``ids``."""
        cols = (
            merchants.c.merchant_id,
            merchants.c.merchant_key,
            merchants.c.segment,
            merchants.c.industry,
            merchants.c.region,
            merchants.c.account,
        )
        found: dict[str, tuple[Any, ...]] = {}
        if len(ids) >= bulk.MERCHANT_SCAN_MIN:  # read at call time: tests lower it
            # a whole round: one scan of the table beats a million index probes; the
            # driver's tuples as they are (bytes for the key on both backends), so the
            # scan is C code, not a Python loop holding the GIL the oracle's thread needs
            sql = "SELECT merchant_id, merchant_key, segment, industry, region, account FROM merchants"
            return {row[0]: row[1:] for row in driver_rows(conn, sql)}
        else:
            rows: Iterable[Any] = itertools.chain.from_iterable(
                conn.execute(sa.select(*cols).where(merchants.c.merchant_id.in_(list(chunk))))
                for chunk in chunks(ids, 5_000)
            )
        for mid, key, seg, ind, reg, acct in rows:
            found[mid] = (key if type(key) is bytes else bytes(key), seg, ind, reg, acct)
        return found

    def merchant_by_key(self, merchant_key: bytes | str) -> MerchantRow:
        """The merchant with this pseudonymous key; :class:`NotFound` if none."""
        key = b32(merchant_key, "merchant_key")
        with self._read() as conn:
            row = conn.execute(sa.select(merchants).where(merchants.c.merchant_key == key)).first()
        if row is None:
            raise NotFound(f"no merchant with key 0x{key.hex()}")
        return as_row(MerchantRow, row)

    def merchant_by_id(self, merchant_id: str) -> MerchantRow:
        """The merchant with this platform id; :class:`NotFound` if none."""
        with self._read() as conn:
            row = conn.execute(sa.select(merchants).where(merchants.c.merchant_id == merchant_id)).first()
        if row is None:
            raise NotFound(f"no merchant with id {merchant_id!r}")
        return as_row(MerchantRow, row)

    def merchants(self, *, segment: Segment | None = None) -> list[MerchantRow]:
        """All merchants (optionally of one segment), by id."""
        stmt = sa.select(merchants).order_by(merchants.c.merchant_id)
        if segment is not None:
            stmt = stmt.where(merchants.c.segment == choice(segment, SEGMENTS, "segment"))
        with self._read() as conn:
            return [as_row(MerchantRow, r) for r in conn.execute(stmt)]


def _unchanged(value: datetime) -> datetime:
    """The bind processor of a type that has none: the value goes to the driver as it is."""
    return value
