"""The off-chain store: merchants, rounds, decisions, trees, anchors, disputes, applications.

SQLite by default and PostgreSQL by URL (:mod:`ledger.store.engine`); the schema is
managed by the Alembic scripts in :mod:`ledger.migrations` and described in
:mod:`ledger.store.schema`. :class:`Store` is the one object callers use; each
aggregate lives in its own module:

============================  ===========================================================
module                        what it holds
============================  ===========================================================
:mod:`~ledger.store.merchants`     platform ids (PRIVATE) bound to pseudonymous keys
:mod:`~ledger.store.rounds`        rounds, their node arrays, building a round in one transaction
:mod:`~ledger.store.anchors`       the anchoring transaction's state machine (one table)
:mod:`~ledger.store.decisions`     decisions, proofs, each merchant's hash-chain head
:mod:`~ledger.store.disputes`      disputes mirrored from the chain; relayed ones not mined yet
:mod:`~ledger.store.applications`  on-demand applications and their batching
:mod:`~ledger.store.nonces`        the API's sign-in nonces
:mod:`~ledger.store.bulk`          executemany / COPY / driver-tuple paths and batch checks
============================  ===========================================================

Conventions
-----------
* Hashes, keys and commitments are 32-byte ``bytes`` inside the store and in
  every returned row; inputs may also be ``0x``-hex strings (converted at the
  edge, :mod:`ledger.store.convert`). Addresses are ``0x``-hex strings (EIP-55
  checksummed when stored).
* Times are timezone-aware UTC ``datetime`` values.
* ``merchant_id``, ``feature_salt`` and ``feature_bytes`` are PRIVATE: the store
  keeps them for the platform and for audits; they never go on-chain.
* Exact look-ups (``get_round``, ``decision``, ``merchant_by_key``...) raise
  :class:`NotFound`; listings return empty lists; ``latest_round`` returns None.
* Every write is one transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the
  round row is locked ``FOR UPDATE``), so concurrent writers serialise and a
  crash leaves either everything or nothing.
* A round's Merkle tree is stored once as its node array (``(2n-1)*32`` bytes,
  root first, OpenZeppelin ``StandardMerkleTree`` order); a proof is read back as
  the ~log2(n) sibling slices of that array (:func:`ledger.merkle.proof_positions`).
"""

from __future__ import annotations

from ledger.store.anchors import ANCHOR_TRANSITIONS, AnchorStore
from ledger.store.applications import ApplicationStore
from ledger.store.base import DEFAULT_CHUNK_SIZE
from ledger.store.decisions import DecisionStore
from ledger.store.disputes import DisputeStore
from ledger.store.engine import alembic_config, create_store_engine, normalise_url
from ledger.store.errors import (
    AnchorConflict,
    Conflict,
    DisputeConflict,
    InvalidData,
    InvalidState,
    MerchantConflict,
    NotFound,
    RoundConflict,
    StoreError,
)
from ledger.store.merchants import MerchantStore
from ledger.store.nonces import SigninNonceStore
from ledger.store.rounds import RoundStore
from ledger.store.rows import (
    AnchorRow,
    ApplicationRow,
    DecisionRow,
    DisputeRow,
    MerchantRow,
    PendingDisputeRow,
    RoundRow,
)
from ledger.store.schema import DECISION_COLUMN_NAMES, metadata
from ledger.store.types import (
    ANCHOR_STATUSES,
    DISPUTE_STATUSES,
    ROUND_KINDS,
    ROUND_STATUSES,
    SEGMENTS,
    AnchorStatus,
    DisputeStatus,
    RoundKind,
    RoundStatus,
    Segment,
)

__all__ = [
    "ANCHOR_STATUSES",
    "ANCHOR_TRANSITIONS",
    "DECISION_COLUMN_NAMES",
    "DEFAULT_CHUNK_SIZE",
    "DISPUTE_STATUSES",
    "ROUND_KINDS",
    "ROUND_STATUSES",
    "SEGMENTS",
    "AnchorConflict",
    "AnchorRow",
    "AnchorStatus",
    "ApplicationRow",
    "Conflict",
    "DecisionRow",
    "DisputeConflict",
    "DisputeRow",
    "DisputeStatus",
    "InvalidData",
    "InvalidState",
    "MerchantConflict",
    "MerchantRow",
    "NotFound",
    "PendingDisputeRow",
    "RoundConflict",
    "RoundKind",
    "RoundRow",
    "RoundStatus",
    "Segment",
    "Store",
    "StoreError",
    "alembic_config",
    "create_store_engine",
    "metadata",
    "normalise_url",
]


class Store(
    MerchantStore,
    RoundStore,
    AnchorStore,
    DecisionStore,
    DisputeStore,
    ApplicationStore,
    SigninNonceStore,
):
    """The off-chain store. Thread-safe to share (one engine, pooled connections).

    Create with :meth:`open`; close with :meth:`close` or a ``with`` block. The
    methods come from one module per aggregate (see the package docstring).
    """
