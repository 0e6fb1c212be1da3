"""Rounds: created pending, built in one transaction (decisions, tree, heads), then anchored.

A round's Merkle tree is stored once as its node array (``(2n-1)*32`` bytes, root
first, OpenZeppelin ``StandardMerkleTree`` order); proofs are read back as slices of
it (:meth:`ledger.store.decisions.DecisionStore.proof`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ledger.store.base import StoreBase
from ledger.store.bulk import (
    ADVANCE_HEADS,
    DECISION_GIVEN_COLUMNS,
    check_batch,
    check_columns,
    chunks,
    copy_decisions,
    insert_decisions,
)
from ledger.store.convert import b32, b32_or_none, blob_or_none, choice, integer, now
from ledger.store.errors import InvalidData, NotFound, RoundConflict
from ledger.store.rows import DecisionRow, RoundRow, decision_tuple
from ledger.store.rows import row as as_row
from ledger.store.schema import DECISION_COLUMN_NAMES, round_trees, rounds
from ledger.store.types import ROUND_KINDS, ROUND_STATUSES, SEGMENTS, RoundKind, RoundStatus, Segment

__all__ = ["RoundStore"]


class RoundStore(StoreBase):
    """The ``rounds`` and ``round_trees`` tables, and building a round."""

    def create_round(
        self,
        round_id: int,
        segment: Segment,
        kind: RoundKind,
        model_version: int,
        policy_version: int,
    ) -> RoundRow:
        """Create round ``round_id`` in status 'pending'.

        Idempotent: the same parameters again return the stored round (whatever
        its status); different parameters raise :class:`RoundConflict`.
        """
        round_id = integer(round_id, "round_id")
        params = {
            "segment": choice(segment, SEGMENTS, "segment"),
            "kind": choice(kind, ROUND_KINDS, "kind"),
            "model_version": integer(model_version, "model_version", 0, (1 << 32) - 1),
            "policy_version": integer(policy_version, "policy_version", 0, (1 << 32) - 1),
        }
        try:
            with self._write() as conn:
                existing = self._round_row(conn, round_id, lock=True)
                if existing is None:
                    conn.execute(
                        sa.insert(rounds).values(
                            round_id=round_id,
                            status="pending",
                            decision_count=0,
                            created_at=now(),
                            **params,
                        )
                    )
                    created = self._round_row(conn, round_id)
                    assert created is not None
                    return created
        except IntegrityError:
            # lost a race with a concurrent creator (PostgreSQL): compare with theirs
            existing = self.get_round(round_id)
        differing = {k: (getattr(existing, k), v) for k, v in params.items() if getattr(existing, k) != v}
        if differing:
            detail = ", ".join(f"{k}: stored {a!r}, given {b!r}" for k, (a, b) in differing.items())
            raise RoundConflict(f"round {round_id} exists with different parameters ({detail})")
        return existing

    def get_round(self, round_id: int) -> RoundRow:
        """Round ``round_id``; :class:`NotFound` if none."""
        with self._read() as conn:
            return self._require_round(conn, round_id)

    def latest_round(self, segment: Segment | None = None, *, status: RoundStatus | None = None) -> RoundRow | None:
        """The round with the highest id (optionally of one segment / status), or None."""
        found = self.rounds(segment=segment, status=status, limit=1, descending=True)
        return found[0] if found else None

    def rounds(
        self,
        *,
        segment: Segment | None = None,
        kind: RoundKind | None = None,
        status: RoundStatus | Sequence[RoundStatus] | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[RoundRow]:
        """Rounds ordered by id, filtered by segment, kind and status (one or several)."""
        stmt = sa.select(rounds)
        if segment is not None:
            stmt = stmt.where(rounds.c.segment == choice(segment, SEGMENTS, "segment"))
        if kind is not None:
            stmt = stmt.where(rounds.c.kind == choice(kind, ROUND_KINDS, "kind"))
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            for s in wanted:
                choice(s, ROUND_STATUSES, "status")
            stmt = stmt.where(rounds.c.status.in_(wanted))
        stmt = stmt.order_by(rounds.c.round_id.desc() if descending else rounds.c.round_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as conn:
            return [as_row(RoundRow, r) for r in conn.execute(stmt)]

    def save_built_round(
        self,
        round_id: int,
        decisions: Sequence[DecisionRow],
        nodes: bytes,
        root: bytes | str,
        batch_hash: bytes | str,
        batch_path: str | Path,
        *,
        export_hash: bytes | str | None = None,
        validation_report_hash: bytes | str | None = None,
    ) -> bool:
        """Store a built round in ONE transaction: its decisions, its tree, status 'built'.

        All or nothing: any failure (a bad row, a constraint violation, a crash)
        leaves the round 'pending' with no decisions and no tree. Re-running is
        safe: if the round is already built with the same ``root`` this is a
        no-op and returns False; with a different root it raises
        :class:`RoundConflict`. Returns True when written.

        ``nodes`` is the packed node array (``b"".join(tree.nodes)``); the
        batch is checked against it cheaply before anything is written: size
        ``(2n-1)*32``, ``nodes[0] == root``, each decision's ``leaf_hash`` at
        its ``tree_index``, tree indices distinct, leaf indices in ``0..n-1``,
        every decision of this round with the round's model and policy.
        ``leaf_hash`` itself is taken as given (the builder computed it).
        ``export_hash`` names the platform export the round scored, if any, and
        ``validation_report_hash`` the document of its validation report.
        """
        root_b = b32(root, "root")
        nodes = blob_or_none(nodes, "nodes") or b""
        rows = decisions

        def parts(_rnd: RoundRow) -> Iterator[list[tuple[Any, ...]]]:
            for chunk in chunks(rows, self.chunk_size):
                yield [decision_tuple(d) for d in chunk]

        def check(rnd: RoundRow) -> None:
            check_batch(rnd, rows, nodes, root_b)

        return self._save_built(
            round_id,
            len(rows),
            check,
            parts,
            nodes,
            root_b,
            batch_hash,
            batch_path,
            export_hash,
            validation_report_hash,
        )

    def save_built_round_columns(
        self,
        round_id: int,
        columns: Mapping[str, Sequence[Any]],
        nodes: bytes,
        root: bytes | str,
        batch_hash: bytes | str,
        batch_path: str | Path,
        *,
        export_hash: bytes | str | None = None,
        validation_report_hash: bytes | str | None = None,
    ) -> bool:
        """:meth:`save_built_round` for decisions given column by column (the oracle's round path).

        ``columns`` maps each decision column name (:data:`DECISION_COLUMN_NAMES`)
        to a sequence of n values in leaf order, except ``round_id``,
        ``model_version`` and ``policy_version`` (the round's own) and
        ``leaf_index`` (``0..n-1``, the order of the columns). Values must already
        be canonical (ints, 32-byte ``bytes``, strings): the checks are done per
        column, not per row, and are those of :meth:`save_built_round` (node array
        size and root, each ``leaf_hash`` at its ``tree_index``, tree indices
        distinct leaf positions). Same transaction and return value.
        """
        root_b = b32(root, "root")
        nodes = blob_or_none(nodes, "nodes") or b""
        missing = [c for c in DECISION_GIVEN_COLUMNS if c not in columns]
        if missing:
            raise InvalidData(f"columns: missing {', '.join(missing)}")
        extra = sorted(set(columns) - set(DECISION_GIVEN_COLUMNS))
        if extra:
            raise InvalidData(f"columns: unknown {', '.join(extra)}")
        n = len(columns["leaf_hash"])

        def check(rnd: RoundRow) -> None:
            check_columns(rnd, columns, n, nodes, root_b)

        def parts(rnd: RoundRow) -> Iterator[list[tuple[Any, ...]]]:
            # one iterable per column, in table order: the round's own values repeated,
            # leaf_index counted, every other column sliced from ``columns``
            size = self.chunk_size
            own = {"round_id": rnd.round_id, "model_version": rnd.model_version, "policy_version": rnd.policy_version}
            for start in range(0, n, size):
                part = slice(start, start + size)
                per_column = [
                    itertools.repeat(own[name])
                    if name in own
                    else range(start, min(start + size, n))
                    if name == "leaf_index"
                    else columns[name][part]
                    for name in DECISION_COLUMN_NAMES
                ]
                yield list(zip(*per_column))

        return self._save_built(
            round_id, n, check, parts, nodes, root_b, batch_hash, batch_path, export_hash, validation_report_hash
        )

    def _save_built(
        self,
        round_id: int,
        n: int,
        check: Callable[[RoundRow], None],
        parts: Callable[[RoundRow], Iterator[list[tuple[Any, ...]]]],
        nodes: bytes,
        root_b: bytes,
        batch_hash: bytes | str,
        batch_path: str | Path,
        export_hash: bytes | str | None,
        validation_report_hash: bytes | str | None,
    ) -> bool:
        round_id = integer(round_id, "round_id")
        batch_hash_b = b32(batch_hash, "batch_hash")
        export_hash_b = b32_or_none(export_hash, "export_hash")
        report_hash_b = b32_or_none(validation_report_hash, "validation_report_hash")
        batch_path_s = str(batch_path)
        with self._write() as conn:
            current = self._require_round(conn, round_id, lock=True)
            if current.status != "pending":
                if current.root == root_b:
                    return False
                raise RoundConflict(
                    f"round {round_id} is {current.status} with root 0x{(current.root or b'').hex()},"
                    f" not 0x{root_b.hex()}"
                )
            check(current)
            try:
                if self.backend == "postgresql" and self.use_copy:
                    copy_decisions(conn, parts(current))
                else:
                    insert_decisions(conn, parts(current))
                conn.execute(sa.insert(round_trees).values(round_id=round_id, leaf_count=n, nodes=nodes))
                conn.execute(ADVANCE_HEADS, {"round_id": round_id})
            except IntegrityError as exc:
                raise InvalidData(f"round {round_id}: batch violates a constraint: {exc.orig}") from exc
            conn.execute(
                sa.update(rounds)
                .where(rounds.c.round_id == round_id)
                .values(
                    status="built",
                    decision_count=n,
                    root=root_b,
                    batch_hash=batch_hash_b,
                    batch_path=batch_path_s,
                    built_at=now(),
                    export_hash=export_hash_b,
                    validation_report_hash=report_hash_b,
                )
            )
        return True

    def tree_nodes(self, round_id: int) -> bytes:
        """The packed node array of a built round; :class:`NotFound` if not built."""
        with self._read() as conn:
            nodes = conn.execute(sa.select(round_trees.c.nodes).where(round_trees.c.round_id == round_id)).scalar()
        if nodes is None:
            raise NotFound(f"round {round_id} has no tree (not built)")
        return bytes(nodes)
