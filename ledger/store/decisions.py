"""Decisions: one merchant's decision in one round, its proof, and each merchant's hash-chain head."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from typing import Final

import sqlalchemy as sa

from ledger.merkle import proof_positions
from ledger.store import bulk
from ledger.store.base import StoreBase
from ledger.store.bulk import built_rounds, chunks, driver_rows
from ledger.store.convert import b32, integer
from ledger.store.errors import NotFound
from ledger.store.rows import DecisionRow, decision_from_db
from ledger.store.schema import decisions, merchant_heads, round_trees, rounds
from ledger.store.types import HASH_SIZE

__all__ = ["DecisionStore"]

#: SELECT of every decisions column, in table order (what :func:`decision_from_db` reads).
DECISION_SELECT: Final = sa.select(*decisions.columns)


class DecisionStore(StoreBase):
    """The ``decisions`` and ``merchant_heads`` tables (written by :meth:`RoundStore.save_built_round`)."""

    def decision(self, round_id: int, merchant_key: bytes | str) -> DecisionRow:
        """The decision of one merchant in one round; :class:`NotFound` if none."""
        key = b32(merchant_key, "merchant_key")
        with self._read() as conn:
            row = conn.execute(
                DECISION_SELECT.where(decisions.c.merchant_key == key, decisions.c.round_id == round_id)
            ).first()
        if row is None:
            raise NotFound(f"no decision for 0x{key.hex()} in round {round_id}")
        return decision_from_db(row)

    def decisions_for_merchant(self, merchant_key: bytes | str) -> list[DecisionRow]:
        """Every decision of one merchant, oldest round first (its hash chain order).

        One probe of the (round_id, merchant_key) index per built round.
        """
        key = b32(merchant_key, "merchant_key")
        with self._read() as conn:
            result = conn.execute(
                DECISION_SELECT.where(
                    decisions.c.round_id.in_(built_rounds()), decisions.c.merchant_key == key
                ).order_by(decisions.c.round_id)
            )
            return [decision_from_db(r) for r in result]

    def latest_leaf_hashes(
        self, before_round: int, merchant_keys: Collection[bytes] | None = None
    ) -> dict[bytes, bytes]:
        """merchant key -> leaf hash of its latest decision in a round before ``before_round``.

        The oracle chains each new leaf to this (``prev_leaf_hash``), so a merchant's
        history is a hash chain even when it skips rounds.

        Read from ``merchant_heads`` (one row per merchant, whatever the history's
        length). A head in ``before_round`` or later (a higher-numbered round built
        first) is not the answer; for those merchants only, the decisions of the
        earlier rounds are probed. Without ``merchant_keys``: every merchant.
        """
        before = integer(before_round, "before_round")
        wanted = None if merchant_keys is None else {bytes(k) for k in merchant_keys}
        found: dict[bytes, bytes] = {}
        if wanted is not None and not wanted:
            return found
        later: list[bytes] = []
        with self._read() as conn:
            if wanted is None or len(wanted) >= bulk.MERCHANT_SCAN_MIN:
                # many keys (a weekly round): one scan of the heads, as driver tuples, and a
                # second only if a round numbered ``before`` or later is built already
                heads = dict(
                    driver_rows(
                        conn, "SELECT merchant_key, leaf_hash FROM merchant_heads WHERE round_id < ?", (before,)
                    )
                )
                if conn.execute(built_rounds(rounds.c.round_id >= before).limit(1)).first() is not None:
                    later = [
                        k
                        for (k,) in driver_rows(
                            conn, "SELECT merchant_key FROM merchant_heads WHERE round_id >= ?", (before,)
                        )
                    ]
                if wanted is None:
                    found = heads
                else:
                    found = {k: heads[k] for k in wanted if k in heads}
                    later = [k for k in later if k in wanted]
                del heads
            else:
                for chunk in chunks(list(wanted), 500):
                    stmt = sa.select(
                        merchant_heads.c.merchant_key, merchant_heads.c.round_id, merchant_heads.c.leaf_hash
                    )
                    for key, round_id, leaf_hash in conn.execute(stmt.where(merchant_heads.c.merchant_key.in_(chunk))):
                        if round_id < before:
                            found[bytes(key)] = bytes(leaf_hash)
                        else:
                            later.append(bytes(key))
            if later:
                earlier_rounds = built_rounds(rounds.c.round_id < before)
                for chunk in chunks(later, 500):
                    stmt = sa.select(decisions.c.merchant_key, decisions.c.round_id, decisions.c.leaf_hash).where(
                        decisions.c.round_id.in_(earlier_rounds), decisions.c.merchant_key.in_(chunk)
                    )
                    newest: dict[bytes, int] = {}
                    for key, round_id, leaf_hash in conn.execute(stmt):
                        key = bytes(key)
                        if round_id > newest.get(key, -1):
                            newest[key] = round_id
                            found[key] = bytes(leaf_hash)
        return found

    def decisions_in_round(self, round_id: int, *, batch_size: int = 10_000) -> Iterator[DecisionRow]:
        """Stream a round's decisions in leaf_index order (the tree's input order).

        The generator holds a connection (and a read snapshot) until exhausted
        or closed.
        """
        with self._engine.connect() as conn:
            conn = conn.execution_options(stream_results=True, yield_per=batch_size)
            with conn.begin():
                result = conn.execute(
                    DECISION_SELECT.where(decisions.c.round_id == round_id).order_by(decisions.c.leaf_index)
                )
                for partition in result.partitions(batch_size):
                    for r in partition:
                        yield decision_from_db(r)

    def proof(self, round_id: int, merchant_key: bytes | str) -> list[bytes]:
        """The Merkle proof (siblings, leaf upwards) of a merchant's decision in a round.

        Regenerated from the stored tree: only the ~log2(n) 32-byte slices of the
        node array are read, not the whole array.
        """
        key = b32(merchant_key, "merchant_key")
        with self._read() as conn:
            tree_index = conn.execute(
                sa.select(decisions.c.tree_index).where(
                    decisions.c.merchant_key == key, decisions.c.round_id == round_id
                )
            ).scalar()
            if tree_index is None:
                raise NotFound(f"no decision for 0x{key.hex()} in round {round_id}")
            positions = proof_positions(tree_index)
            if not positions:
                return []
            raw = conn.connection.driver_connection
            if isinstance(raw, sqlite3.Connection):
                # SQLite through the stdlib driver: substr() would load the whole (up
                # to 64 MB) blob once per sibling; incremental blob I/O reads just the
                # 32-byte slices. round_trees.round_id is INTEGER PRIMARY KEY, i.e. the rowid.
                try:
                    blob = raw.blobopen("round_trees", "nodes", round_id, readonly=True)
                except sqlite3.Error as exc:  # OperationalError: no such row
                    raise NotFound(f"round {round_id} has no tree") from exc
                with blob:
                    out = []
                    for p in positions:
                        blob.seek(p * HASH_SIZE)
                        out.append(blob.read(HASH_SIZE))
                    return out
            row = conn.execute(
                sa.select(
                    *(sa.func.substr(round_trees.c.nodes, p * HASH_SIZE + 1, HASH_SIZE) for p in positions)
                ).where(round_trees.c.round_id == round_id)
            ).first()
        if row is None:  # pragma: no cover - decisions and tree are written together
            raise NotFound(f"round {round_id} has no tree")
        return [bytes(s) for s in row]
