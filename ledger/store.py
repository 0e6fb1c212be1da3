"""Off-chain store: merchants, rounds, decisions, trees, anchors, disputes, applications.

SQLite by default (a file URL ``sqlite:////abs/path/ledger.db`` or a bare path;
WAL, ``synchronous=NORMAL``, foreign keys on) and PostgreSQL by URL
(``postgresql://`` / ``postgres://`` are normalised to ``postgresql+psycopg://``,
psycopg 3). The schema is managed by the Alembic scripts shipped in
:mod:`ledger.migrations`; :meth:`Store.migrate` runs ``upgrade head``
programmatically, no ``alembic.ini`` needed.

Conventions
-----------
* Hashes, keys and commitments are 32-byte ``bytes`` inside the store and in
  every returned row; inputs may also be ``0x``-hex strings (converted at the
  edge). Addresses are ``0x``-hex strings (EIP-55 checksummed when stored).
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
  the ~log2(n) sibling slices of that array (:func:`proof_from_nodes`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError

from ledger.leaf import REASON_CODE_COUNT, DecisionLeaf

__all__ = [
    "SEGMENTS",
    "ROUND_KINDS",
    "ROUND_STATUSES",
    "ANCHOR_STATUSES",
    "DISPUTE_STATUSES",
    "StoreError",
    "NotFound",
    "Conflict",
    "RoundConflict",
    "MerchantConflict",
    "AnchorConflict",
    "DisputeConflict",
    "InvalidState",
    "InvalidData",
    "MerchantRow",
    "RoundRow",
    "DecisionRow",
    "AnchorRow",
    "DisputeRow",
    "ApplicationRow",
    "Store",
    "proof_from_nodes",
    "normalise_url",
    "create_store_engine",
    "alembic_config",
    "metadata",
    "DECISION_COLUMN_NAMES",
]

Segment = Literal["merchant", "farmer"]
RoundKind = Literal["weekly", "on_demand"]
RoundStatus = Literal["pending", "built", "anchoring", "anchored", "confirmed"]
AnchorStatus = Literal["sent", "mined", "confirmed"]
DisputeStatus = Literal["open", "upheld", "rejected"]

SEGMENTS: Final = ("merchant", "farmer")
ROUND_KINDS: Final = ("weekly", "on_demand")
ROUND_STATUSES: Final = ("pending", "built", "anchoring", "anchored", "confirmed")
ANCHOR_STATUSES: Final = ("sent", "mined", "confirmed")
DISPUTE_STATUSES: Final = ("open", "upheld", "rejected")

HASH_SIZE: Final = 32
DEFAULT_CHUNK_SIZE: Final = 50_000
_PG_LOCK_KEY: Final = 0x43524C4D  # "CRLM": serialises concurrent migrate() calls


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class NotFound(StoreError, LookupError):
    """The requested row does not exist."""


class Conflict(StoreError):
    """A write contradicts what is already stored (idempotent repeats are not conflicts)."""


class RoundConflict(Conflict):
    """A round exists with different parameters, or was built with a different root."""


class MerchantConflict(Conflict):
    """A merchant id or key is already bound to a different key or id."""


class AnchorConflict(Conflict):
    """An anchor record contradicts the one stored (e.g. another tx already mined)."""


class DisputeConflict(Conflict):
    """A dispute exists with different content, or was already resolved differently."""


class InvalidState(StoreError):
    """The operation is not allowed in the row's current status (e.g. anchoring an unbuilt round)."""


class InvalidData(StoreError, ValueError):
    """An argument is malformed or a batch is inconsistent (nothing was written)."""


# ---------------------------------------------------------------------------
# edge conversions
# ---------------------------------------------------------------------------

_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}\Z")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}\Z")


def _b32(value: Any, name: str) -> bytes:
    """32 bytes from bytes-like or ``0x``-hex; InvalidData otherwise."""
    if type(value) is bytes and len(value) == HASH_SIZE:
        return value
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    elif isinstance(value, str):
        if not _HEX32.match(value):
            raise InvalidData(f"{name}: expected '0x' + 64 hex digits, got {value!r:.80}")
        return bytes.fromhex(value[2:])
    if not isinstance(value, bytes):
        raise InvalidData(f"{name}: expected 32 bytes or 0x-hex, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise InvalidData(f"{name}: expected 32 bytes, got {len(value)}")
    return value


def _b32_or_none(value: Any, name: str) -> bytes | None:
    return None if value is None else _b32(value, name)


def _blob_or_none(value: Any, name: str) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise InvalidData(f"{name}: expected bytes, got {type(value).__name__}")


def _address(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)) and len(value) == 20:
        value = "0x" + bytes(value).hex()
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise InvalidData(f"{name}: expected a 0x-hex address, got {value!r:.80}")
    try:  # eth_utils ships with web3, a dependency of the project
        from eth_utils import to_checksum_address
    except ImportError:  # pragma: no cover
        return value.lower()
    return str(to_checksum_address(value))


def _choice(value: Any, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise InvalidData(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _int(value: Any, name: str, minimum: int = 0, maximum: int = (1 << 63) - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import operator

            value = operator.index(value)
        except TypeError:
            raise InvalidData(f"{name}: expected an integer, got {type(value).__name__}") from None
    if not minimum <= value <= maximum:
        raise InvalidData(f"{name}: {value} out of range {minimum}..{maximum}")
    return int(value)


def _ms(unix_seconds: float) -> int:
    return int(unix_seconds * 1000)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(value: datetime | None, name: str) -> datetime:
    if value is None:
        return _now()
    if not isinstance(value, datetime):
        raise InvalidData(f"{name}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise InvalidData(f"{name}: naive datetime; pass an aware (UTC) datetime")
    return value.astimezone(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise InvalidData("naive datetime; pass an aware (UTC) datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# ---------------------------------------------------------------------------
# schema (mirrors ledger/migrations/versions; a test compares the two)
# ---------------------------------------------------------------------------

metadata = sa.MetaData()
_ROWID_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _hash_col(name: str, nullable: bool = False) -> sa.Column[bytes]:
    return sa.Column(name, sa.LargeBinary(HASH_SIZE), nullable=nullable)


merchants = sa.Table(
    "merchants",
    metadata,
    sa.Column("merchant_id", sa.String(128), nullable=False),
    _hash_col("merchant_key"),
    sa.Column("segment", sa.String(16), nullable=False),
    sa.Column("industry", sa.String(64)),
    sa.Column("region", sa.String(64)),
    sa.Column("account", sa.String(42)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("merchant_id", name="pk_merchants"),
    sa.UniqueConstraint("merchant_key", name="uq_merchants_merchant_key"),
    sa.CheckConstraint("segment IN ('merchant', 'farmer')", name="ck_merchants_segment"),
)

rounds = sa.Table(
    "rounds",
    metadata,
    sa.Column("round_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
    sa.Column("segment", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("model_version", sa.BigInteger(), nullable=False),
    sa.Column("policy_version", sa.BigInteger(), nullable=False),
    sa.Column("decision_count", sa.Integer(), nullable=False),
    _hash_col("root", nullable=True),
    _hash_col("batch_hash", nullable=True),
    sa.Column("batch_path", sa.String(1024)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("built_at", UTCDateTime()),
    sa.Column("anchored_at", UTCDateTime()),
    sa.PrimaryKeyConstraint("round_id", name="pk_rounds"),
    sa.CheckConstraint("segment IN ('merchant', 'farmer')", name="ck_rounds_segment"),
    sa.CheckConstraint("kind IN ('weekly', 'on_demand')", name="ck_rounds_kind"),
    sa.CheckConstraint(
        "status IN ('pending', 'built', 'anchoring', 'anchored', 'confirmed')",
        name="ck_rounds_status",
    ),
    sa.Index("ix_rounds_segment_round_id", "segment", "round_id"),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("round_id", sa.BigInteger(), nullable=False),
    sa.Column("leaf_index", sa.Integer(), nullable=False),
    sa.Column("tree_index", sa.Integer(), nullable=False),
    _hash_col("merchant_key"),
    sa.Column("merchant_id", sa.String(128), nullable=False),
    sa.Column("score", sa.Integer(), nullable=False),
    sa.Column("limit_cny", sa.BigInteger(), nullable=False),
    sa.Column("product_mask", sa.BigInteger(), nullable=False),
    sa.Column("reason1", sa.Integer(), nullable=False),
    sa.Column("reason2", sa.Integer(), nullable=False),
    sa.Column("reason3", sa.Integer(), nullable=False),
    sa.Column("reason4", sa.Integer(), nullable=False),
    sa.Column("model_version", sa.BigInteger(), nullable=False),
    sa.Column("policy_version", sa.BigInteger(), nullable=False),
    _hash_col("feature_commitment"),
    _hash_col("prev_leaf_hash"),
    _hash_col("leaf_hash"),
    sa.Column("feature_salt", sa.LargeBinary()),
    sa.Column("feature_bytes", sa.LargeBinary()),
    sa.Column("status", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("round_id", "leaf_index", name="pk_decisions"),
    sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_decisions_round_id_rounds"),
    # Round first, so each round's entries form one contiguous, append-only region of
    # the index: a round writes into its own region however long the history is. (A
    # merchant-first index takes a round's million random inserts all over a history
    # that grows every week; its cost grew ~5 s per week at 1M merchants.) A merchant's
    # own decisions are found through ``merchant_heads`` and per-round probes.
    sa.UniqueConstraint("round_id", "merchant_key", name="uq_decisions_round_id_merchant_key"),
)

merchant_heads = sa.Table(
    "merchant_heads",
    metadata,
    # The head of each merchant's hash chain: its decision in the highest-numbered
    # built round. Derived from ``decisions`` in the same transaction that stores a
    # round, so it never disagrees with them; the oracle reads its prev links here.
    _hash_col("merchant_key"),
    sa.Column("round_id", sa.BigInteger(), nullable=False),
    _hash_col("leaf_hash"),
    sa.PrimaryKeyConstraint("merchant_key", name="pk_merchant_heads"),
    sqlite_with_rowid=False,
)

round_trees = sa.Table(
    "round_trees",
    metadata,
    sa.Column("round_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
    sa.Column("leaf_count", sa.Integer(), nullable=False),
    sa.Column("nodes", sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint("round_id", name="pk_round_trees"),
    sa.ForeignKeyConstraint(
        ["round_id"], ["rounds.round_id"], name="fk_round_trees_round_id_rounds"
    ),
)

anchors = sa.Table(
    "anchors",
    metadata,
    sa.Column("round_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
    _hash_col("tx_hash"),
    sa.Column("sender", sa.String(42)),
    sa.Column("nonce", sa.BigInteger()),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("block_number", sa.BigInteger()),
    _hash_col("block_hash", nullable=True),
    sa.Column("gas_used", sa.BigInteger()),
    sa.Column("confirmations", sa.Integer(), nullable=False),
    sa.Column("sent_at", UTCDateTime()),
    sa.Column("mined_at", UTCDateTime()),
    sa.Column("confirmed_at", UTCDateTime()),
    sa.PrimaryKeyConstraint("round_id", name="pk_anchors"),
    sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_anchors_round_id_rounds"),
    sa.CheckConstraint("status IN ('sent', 'mined', 'confirmed')", name="ck_anchors_status"),
    sa.Index("ix_anchors_tx_hash", "tx_hash"),
)

disputes = sa.Table(
    "disputes",
    metadata,
    sa.Column("dispute_id", _ROWID_BIGINT, autoincrement=False, nullable=False),
    sa.Column("round_id", sa.BigInteger(), nullable=False),
    _hash_col("merchant_key"),
    _hash_col("leaf_hash"),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    _hash_col("filed_tx", nullable=True),
    _hash_col("resolved_tx", nullable=True),
    sa.Column("note", sa.Text()),
    sa.Column("filed_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime()),
    sa.PrimaryKeyConstraint("dispute_id", name="pk_disputes"),
    sa.ForeignKeyConstraint(["round_id"], ["rounds.round_id"], name="fk_disputes_round_id_rounds"),
    sa.CheckConstraint("status IN ('open', 'upheld', 'rejected')", name="ck_disputes_status"),
    sa.Index("ix_disputes_merchant_key", "merchant_key"),
    sa.Index("ix_disputes_round_id", "round_id"),
)

pending_applications = sa.Table(
    "pending_applications",
    metadata,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("merchant_id", sa.String(128), nullable=False),
    sa.Column("segment", sa.String(16), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("batched_round", sa.BigInteger()),
    sa.PrimaryKeyConstraint("id", name="pk_pending_applications"),
    sa.ForeignKeyConstraint(
        ["batched_round"], ["rounds.round_id"], name="fk_pending_applications_batched_round_rounds"
    ),
    sa.CheckConstraint("segment IN ('merchant', 'farmer')", name="ck_pending_applications_segment"),
    sa.Index("ix_pending_applications_batched_round", "batched_round", "segment", "id"),
)

signin_nonces = sa.Table(
    "signin_nonces",
    metadata,
    # Outstanding EIP-4361 sign-in nonces of the API, here rather than in one API
    # process's memory so that every worker knows every nonce. Deleted when used.
    sa.Column("nonce", sa.String(64), nullable=False),
    sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),  # Unix time, milliseconds
    sa.PrimaryKeyConstraint("nonce", name="pk_signin_nonces"),
    sa.Index("ix_signin_nonces_expires_at_ms", "expires_at_ms"),
)


# ---------------------------------------------------------------------------
# row types
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MerchantRow:
    """A merchant. ``merchant_id`` is the platform's id: PRIVATE, never on-chain."""

    merchant_id: str
    merchant_key: bytes
    segment: Segment
    industry: str | None = None
    region: str | None = None
    account: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.merchant_id, str) or not 0 < len(self.merchant_id) <= 128:
            raise InvalidData(f"merchant_id: expected 1..128 characters, got {self.merchant_id!r:.80}")
        object.__setattr__(self, "merchant_key", _b32(self.merchant_key, "merchant_key"))
        _choice(self.segment, SEGMENTS, "segment")
        object.__setattr__(self, "account", _address(self.account, "account"))


@dataclass(frozen=True, slots=True)
class RoundRow:
    """One round (= one anchored Merkle root), as stored."""

    round_id: int
    segment: Segment
    kind: RoundKind
    status: RoundStatus
    model_version: int
    policy_version: int
    decision_count: int
    root: bytes | None
    batch_hash: bytes | None
    batch_path: str | None
    created_at: datetime
    built_at: datetime | None
    anchored_at: datetime | None


_DECISION_BYTES32 = ("merchant_key", "feature_commitment", "prev_leaf_hash", "leaf_hash")


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One merchant's decision in one round: the leaf plus its position and private inputs.

    ``leaf_index`` is the position in the round's input order (the order the
    tree was built from); ``tree_index`` its position in the node array.
    ``merchant_id``, ``feature_salt`` and ``feature_bytes`` are PRIVATE.
    Bytes fields accept ``0x``-hex too; ``reason_codes`` any 4-sequence.
    """

    round_id: int
    leaf_index: int
    tree_index: int
    merchant_key: bytes
    merchant_id: str
    score: int
    limit_cny: int
    product_mask: int
    reason_codes: tuple[int, int, int, int]
    model_version: int
    policy_version: int
    feature_commitment: bytes
    prev_leaf_hash: bytes
    leaf_hash: bytes
    feature_salt: bytes | None = None
    feature_bytes: bytes | None = None
    status: str = "scored"

    def __post_init__(self) -> None:
        setter = object.__setattr__
        for name in _DECISION_BYTES32:
            value = getattr(self, name)
            if type(value) is not bytes or len(value) != HASH_SIZE:
                setter(self, name, _b32(value, name))
        codes = self.reason_codes
        if type(codes) is not tuple or len(codes) != REASON_CODE_COUNT:
            if isinstance(codes, (str, bytes)) or not isinstance(codes, Iterable):
                raise InvalidData(f"reason_codes: expected {REASON_CODE_COUNT} integers")
            codes = tuple(codes)
            if len(codes) != REASON_CODE_COUNT:
                raise InvalidData(
                    f"reason_codes: expected {REASON_CODE_COUNT} codes, got {len(codes)}"
                )
            setter(self, "reason_codes", codes)
        for name in ("feature_salt", "feature_bytes"):
            value = getattr(self, name)
            if value is not None and type(value) is not bytes:
                setter(self, name, _blob_or_none(value, name))

    def to_leaf(self) -> DecisionLeaf:
        """The on-chain record (:class:`ledger.leaf.DecisionLeaf`) of this decision."""
        return DecisionLeaf(
            merchant_key=self.merchant_key,
            round=self.round_id,
            score=self.score,
            limit_cny=self.limit_cny,
            product_mask=self.product_mask,
            reason_codes=self.reason_codes,
            model_version=self.model_version,
            policy_version=self.policy_version,
            feature_commitment=self.feature_commitment,
            prev_leaf_hash=self.prev_leaf_hash,
        )

    @classmethod
    def from_leaf(
        cls,
        leaf: DecisionLeaf,
        *,
        leaf_index: int,
        tree_index: int,
        merchant_id: str,
        leaf_hash: bytes | None = None,
        feature_salt: bytes | None = None,
        feature_bytes: bytes | None = None,
        status: str = "scored",
    ) -> DecisionRow:
        """Row for ``leaf``; ``leaf_hash`` is computed when not given."""
        return cls(
            round_id=leaf.round,
            leaf_index=leaf_index,
            tree_index=tree_index,
            merchant_key=leaf.merchant_key,
            merchant_id=merchant_id,
            score=leaf.score,
            limit_cny=leaf.limit_cny,
            product_mask=leaf.product_mask,
            reason_codes=leaf.reason_codes,
            model_version=leaf.model_version,
            policy_version=leaf.policy_version,
            feature_commitment=leaf.feature_commitment,
            prev_leaf_hash=leaf.prev_leaf_hash,
            leaf_hash=leaf.leaf_hash() if leaf_hash is None else leaf_hash,
            feature_salt=feature_salt,
            feature_bytes=feature_bytes,
            status=status,
        )


@dataclass(frozen=True, slots=True)
class AnchorRow:
    """The anchoring transaction of one round."""

    round_id: int
    tx_hash: bytes
    sender: str | None
    nonce: int | None
    status: AnchorStatus
    block_number: int | None
    block_hash: bytes | None
    gas_used: int | None
    confirmations: int
    sent_at: datetime | None
    mined_at: datetime | None
    confirmed_at: datetime | None


@dataclass(frozen=True, slots=True)
class DisputeRow:
    """A merchant's dispute of one decision, mirrored from the chain."""

    dispute_id: int
    round_id: int
    merchant_key: bytes
    leaf_hash: bytes
    reason: str
    status: DisputeStatus
    filed_tx: bytes | None
    resolved_tx: bytes | None
    note: str | None
    filed_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class ApplicationRow:
    """An on-demand application waiting for (or already in) a small batch."""

    id: int
    merchant_id: str
    segment: Segment
    received_at: datetime
    payload: Any
    batched_round: int | None = None


def _row(cls: type, row: sa.Row[Any]) -> Any:
    return cls(**row._mapping)


def _decision_from_db(r: Sequence[Any]) -> DecisionRow:
    # positional, in _DECISION_COLUMNS order (hot path when streaming a round)
    return DecisionRow(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], (r[8], r[9], r[10], r[11]),
        r[12], r[13], r[14], r[15], r[16], r[17], r[18], r[19],
    )  # fmt: skip


_DECISION_COLUMNS: Final = tuple(c.name for c in decisions.columns)
_DECISION_SELECT = sa.select(*decisions.columns)

# Same text on SQLite (>= 3.24) and PostgreSQL. The WHERE after SELECT is required by
# SQLite's parser here; the one after DO UPDATE keeps a head at the highest round when
# rounds are built out of order (a later on-demand round before a long weekly one).
_ADVANCE_HEADS: Final = sa.text(
    "INSERT INTO merchant_heads (merchant_key, round_id, leaf_hash)"
    " SELECT merchant_key, round_id, leaf_hash FROM decisions WHERE round_id = :round_id"
    " ON CONFLICT (merchant_key) DO UPDATE SET round_id = excluded.round_id, leaf_hash = excluded.leaf_hash"
    " WHERE excluded.round_id > merchant_heads.round_id"
)
DECISION_COLUMN_NAMES: Final = _DECISION_COLUMNS
_DECISION_GIVEN_COLUMNS: Final = tuple(
    c for c in _DECISION_COLUMNS if c not in ("round_id", "leaf_index", "model_version", "policy_version")
)

# Merchant upserts, executed as plain tuples (see Store._executemany).
_MERCHANT_SCAN_MIN: Final = 20_000
_MERCHANT_INSERT_NAMES: Final = tuple(c.name for c in merchants.columns)
_MERCHANT_INSERT = sa.insert(merchants).values({c: sa.bindparam(c) for c in _MERCHANT_INSERT_NAMES})
_MERCHANT_UPDATE_NAMES: Final = ("segment", "industry", "region", "account", "updated_at", "b_merchant_id")
_MERCHANT_UPDATE = (
    sa.update(merchants)
    .where(merchants.c.merchant_id == sa.bindparam("b_merchant_id"))
    .values(
        segment=sa.bindparam("segment"),
        industry=sa.bindparam("industry"),
        region=sa.bindparam("region"),
        # None means "not known here", not "unbind": keep a recorded account.
        account=sa.func.coalesce(sa.bindparam("account", type_=sa.String(42)), merchants.c.account),
        updated_at=sa.bindparam("updated_at"),
    )
)


def _decision_tuple(d: DecisionRow) -> tuple[Any, ...]:
    c = d.reason_codes
    return (
        d.round_id, d.leaf_index, d.tree_index, d.merchant_key, d.merchant_id, d.score,
        d.limit_cny, d.product_mask, c[0], c[1], c[2], c[3], d.model_version,
        d.policy_version, d.feature_commitment, d.prev_leaf_hash, d.leaf_hash,
        d.feature_salt, d.feature_bytes, d.status,
    )  # fmt: skip


# PostgreSQL binary COPY types, in _DECISION_COLUMNS order.
_DECISION_PG_TYPES: Final = (
    "int8", "int4", "int4", "bytea", "text", "int4", "int8", "int8", "int4", "int4", "int4",
    "int4", "int8", "int8", "bytea", "bytea", "bytea", "bytea", "bytea", "text",
)  # fmt: skip
assert len(_DECISION_PG_TYPES) == len(_DECISION_COLUMNS) == 20


# ---------------------------------------------------------------------------
# proofs
# ---------------------------------------------------------------------------


def proof_positions(tree_index: int) -> list[int]:
    """Node positions of the proof of the node at ``tree_index``, leaf upwards."""
    positions: list[int] = []
    i = tree_index
    while i > 0:
        positions.append(i - 1 if i % 2 == 0 else i + 1)
        i = (i - 1) // 2
    return positions


def proof_from_nodes(nodes: bytes, tree_index: int) -> list[bytes]:
    """The Merkle proof of node ``tree_index`` from a packed node array.

    ``nodes`` is ``(2n-1)*32`` bytes, root first, in OpenZeppelin
    ``StandardMerkleTree`` order (node ``i`` has children ``2i+1``, ``2i+2``).
    The sibling of ``i`` is ``i-1`` if ``i`` is even, else ``i+1``; the walk goes
    to the parent ``(i-1)//2`` and stops at the root. Equal to
    ``MerkleTree.proof(leaf)`` for the leaf stored at ``tree_index``.
    """
    size = len(nodes)
    if size == 0 or size % HASH_SIZE or (size // HASH_SIZE) % 2 == 0:
        raise InvalidData(f"nodes: {size} bytes is not (2n-1)*32")
    count = size // HASH_SIZE
    if not isinstance(tree_index, int) or not 0 <= tree_index < count:
        raise InvalidData(f"tree_index: {tree_index!r} out of range 0..{count - 1}")
    return [nodes[p * HASH_SIZE : (p + 1) * HASH_SIZE] for p in proof_positions(tree_index)]


# ---------------------------------------------------------------------------
# engine and migrations
# ---------------------------------------------------------------------------


def normalise_url(url: str | URL | Path) -> URL:
    """A SQLAlchemy URL: bare paths become SQLite files, PostgreSQL uses psycopg 3."""
    if isinstance(url, Path) or (isinstance(url, str) and "://" not in url):
        return URL.create("sqlite", database=str(Path(url).expanduser().resolve()))
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_store_engine(url: str | URL | Path, **engine_kwargs: Any) -> Engine:
    """An engine with the store's connection settings (SQLite pragmas and transactions)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = dict(engine_kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", 30.0)
        engine = sa.create_engine(parsed, connect_args=connect_args, **engine_kwargs)
        _configure_sqlite(engine)
        return engine
    engine_kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **engine_kwargs)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling begins lazily (only before DML), so a
    # read-check-write sequence would not be atomic. Take control: driver in
    # autocommit, and we emit BEGIN (IMMEDIATE for writes) ourselves.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA cache_size=-131072")  # up to 128 MiB, allocated on use
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("credit_ledger_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def alembic_config(url: str | URL | None = None, connection: Connection | None = None) -> Any:
    """Alembic ``Config`` for the packaged scripts (``script_location = ledger:migrations``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "ledger:migrations")
    if url is not None:
        rendered = normalise_url(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


# ---------------------------------------------------------------------------
# the store
# ---------------------------------------------------------------------------


class Store:
    """The off-chain store. Thread-safe to share (one engine, pooled connections).

    Create with :meth:`open`; close with :meth:`close` or a ``with`` block.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        use_copy: bool = True,
    ) -> None:
        """Wrap ``engine`` (prefer :meth:`open`, which applies the SQLite settings).

        ``chunk_size`` rows go to the database per executemany/COPY round trip
        in :meth:`save_built_round`; ``use_copy`` selects PostgreSQL binary COPY
        for decisions (else executemany).
        """
        if chunk_size < 1:
            raise InvalidData("chunk_size: must be positive")
        self._engine = engine
        self.chunk_size = chunk_size
        self.use_copy = use_copy

    @classmethod
    def open(
        cls,
        url: str | URL | Path,
        *,
        migrate: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        use_copy: bool = True,
        **engine_kwargs: Any,
    ) -> Store:
        """Connect to ``url`` (SQLite file URL or path, or PostgreSQL URL); migrate unless told not to."""
        store = cls(
            create_store_engine(url, **engine_kwargs), chunk_size=chunk_size, use_copy=use_copy
        )
        if migrate:
            try:
                store.migrate()
            except BaseException:
                store.close()
                raise
        return store

    # -- lifecycle ------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Release pooled connections."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._engine.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction (SQLite BEGIN IMMEDIATE), committed on success."""
        with self._engine.connect() as conn:
            conn.execution_options(credit_ledger_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            with conn.begin():
                yield conn

    def migrate(self) -> str | None:
        """``alembic upgrade head`` with the packaged scripts, in one transaction; returns the revision.

        Safe to call repeatedly and from concurrent processes (SQLite: the write
        lock; PostgreSQL: an advisory transaction lock).
        """
        from alembic import command

        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            command.upgrade(alembic_config(connection=conn), "head")
        return self.current_revision()

    def current_revision(self) -> str | None:
        """The schema revision in the database (None before the first migrate)."""
        from alembic.migration import MigrationContext

        with self._read() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        """The newest revision shipped with this package."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    # -- merchants ------------------------------------------------------------

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
        _choice(segment, SEGMENTS, "segment")
        n = len(merchant_ids)
        if not (len(merchant_keys) == len(industries) == len(regions) == n):
            raise InvalidData("merchant columns: lengths differ")
        if not n:
            return 0
        if not set(map(type, merchant_ids)) <= {str} or not 0 < min(map(len, merchant_ids)) <= max(map(len, merchant_ids)) <= 128:
            for mid in merchant_ids:
                if not isinstance(mid, str) or not 0 < len(mid) <= 128:
                    raise InvalidData(f"merchant_id: expected 1..128 characters, got {mid!r:.80}")
        if not (set(map(type, merchant_keys)) <= {bytes} and set(map(len, merchant_keys)) <= {HASH_SIZE}):
            merchant_keys = [_b32(k, "merchant_key") for k in merchant_keys]
        for name, column in (("industry", industries), ("region", regions)):
            if not set(map(type, column)) <= {str, type(None)}:
                raise InvalidData(f"{name}: expected strings or None")
        return self._upsert(
            merchant_ids, merchant_keys, itertools.repeat(segment, n), industries, regions,
            itertools.repeat(None, n), itertools.repeat(None, n),
        )  # fmt: skip

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
                to_db = merchants.c.updated_at.type.bind_processor(dialect) or (lambda v: v)
                now = to_db(_now())
                stored = self._stored_merchants(conn, ids)
                inserts: list[tuple[Any, ...]] = []
                updates: list[tuple[Any, ...]] = []
                skipped = 0
                for mid, key, seg, ind, reg, acct, made in zip(ids, keys, segments, industries, regions, accounts, created):
                    old = stored.get(mid)
                    if old is None:
                        inserts.append(
                            (mid, key, seg, ind, reg, acct, to_db(_utc(made, "created_at")) if made else now, now)
                        )
                        continue
                    old_key, old_seg, old_ind, old_reg, old_acct = old
                    if old_key != key:
                        raise MerchantConflict(f"merchant {mid!r} is bound to key 0x{old_key.hex()}")
                    if seg != old_seg or ind != old_ind or reg != old_reg or (acct is not None and acct != old_acct):
                        updates.append((seg, ind, reg, acct, now, mid))
                    else:
                        skipped += 1
                del stored
                if len(inserts) + len(updates) + skipped != n:  # pragma: no cover - columns of unequal length
                    raise InvalidData("merchant columns: lengths differ")
                if inserts:
                    self._executemany(conn, _MERCHANT_INSERT, _MERCHANT_INSERT_NAMES, inserts)
                if updates:
                    self._executemany(conn, _MERCHANT_UPDATE, _MERCHANT_UPDATE_NAMES, updates)
        except IntegrityError as exc:
            raise MerchantConflict(f"merchant_key already bound to another merchant: {exc.orig}") from exc
        return n

    def _stored_merchants(self, conn: Connection, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """merchant_id -> (key, segment, industry, region, account) of the stored merchants among ``ids``."""
        cols = (merchants.c.merchant_id, merchants.c.merchant_key, merchants.c.segment,
                merchants.c.industry, merchants.c.region, merchants.c.account)  # fmt: skip
        found: dict[str, tuple[Any, ...]] = {}
        if len(ids) >= _MERCHANT_SCAN_MIN:
            # a whole round: one scan of the table beats a million index probes; the
            # driver's tuples as they are (bytes for the key on both backends), so the
            # scan is C code, not a Python loop holding the GIL the oracle's thread needs
            sql = "SELECT merchant_id, merchant_key, segment, industry, region, account FROM merchants"
            return {row[0]: row[1:] for row in _driver_rows(conn, sql)}
        else:
            rows: Iterable[Any] = itertools.chain.from_iterable(
                conn.execute(sa.select(*cols).where(merchants.c.merchant_id.in_(list(chunk))))
                for chunk in _chunks(ids, 5_000)
            )
        for mid, key, seg, ind, reg, acct in rows:
            found[mid] = (key if type(key) is bytes else bytes(key), seg, ind, reg, acct)
        return found

    def _executemany(self, conn: Connection, stmt: Any, names: Sequence[str], params: list[tuple[Any, ...]]) -> None:
        """executemany of plain tuples (in ``names`` order) on the DBAPI cursor, in chunks."""
        compiled = stmt.compile(dialect=conn.dialect)
        sql = str(compiled)
        if conn.dialect.positional:
            order = [names.index(p) for p in compiled.positiontup]
            if order != list(range(len(names))):
                params = [tuple(row[i] for i in order) for row in params]
            for chunk in _chunks(params, self.chunk_size):
                conn.exec_driver_sql(sql, chunk)  # type: ignore[arg-type]
        else:
            for chunk in _chunks(params, self.chunk_size):
                conn.exec_driver_sql(sql, [dict(zip(names, row)) for row in chunk])  # type: ignore[arg-type]

    def _dialect_insert(self, table: sa.Table) -> Any:
        if self.backend == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def merchant_by_key(self, merchant_key: bytes | str) -> MerchantRow:
        """The merchant with this pseudonymous key; :class:`NotFound` if none."""
        key = _b32(merchant_key, "merchant_key")
        with self._read() as conn:
            row = conn.execute(sa.select(merchants).where(merchants.c.merchant_key == key)).first()
        if row is None:
            raise NotFound(f"no merchant with key 0x{key.hex()}")
        return _row(MerchantRow, row)

    def merchant_by_id(self, merchant_id: str) -> MerchantRow:
        """The merchant with this platform id; :class:`NotFound` if none."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(merchants).where(merchants.c.merchant_id == merchant_id)
            ).first()
        if row is None:
            raise NotFound(f"no merchant with id {merchant_id!r}")
        return _row(MerchantRow, row)

    def merchants(self, *, segment: Segment | None = None) -> list[MerchantRow]:
        """All merchants (optionally of one segment), by id."""
        stmt = sa.select(merchants).order_by(merchants.c.merchant_id)
        if segment is not None:
            stmt = stmt.where(merchants.c.segment == _choice(segment, SEGMENTS, "segment"))
        with self._read() as conn:
            return [_row(MerchantRow, r) for r in conn.execute(stmt)]

    # -- rounds ---------------------------------------------------------------

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
        round_id = _int(round_id, "round_id")
        params = {
            "segment": _choice(segment, SEGMENTS, "segment"),
            "kind": _choice(kind, ROUND_KINDS, "kind"),
            "model_version": _int(model_version, "model_version", 0, (1 << 32) - 1),
            "policy_version": _int(policy_version, "policy_version", 0, (1 << 32) - 1),
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
                            created_at=_now(),
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

    @staticmethod
    def _round_row(conn: Connection, round_id: int, *, lock: bool = False) -> RoundRow | None:
        stmt = sa.select(rounds).where(rounds.c.round_id == round_id)
        if lock:
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        return None if row is None else _row(RoundRow, row)

    def _require_round(self, conn: Connection, round_id: int, *, lock: bool = False) -> RoundRow:
        found = self._round_row(conn, round_id, lock=lock)
        if found is None:
            raise NotFound(f"no round {round_id}")
        return found

    def get_round(self, round_id: int) -> RoundRow:
        """Round ``round_id``; :class:`NotFound` if none."""
        with self._read() as conn:
            return self._require_round(conn, round_id)

    def latest_round(
        self, segment: Segment | None = None, *, status: RoundStatus | None = None
    ) -> RoundRow | None:
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
            stmt = stmt.where(rounds.c.segment == _choice(segment, SEGMENTS, "segment"))
        if kind is not None:
            stmt = stmt.where(rounds.c.kind == _choice(kind, ROUND_KINDS, "kind"))
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            for s in wanted:
                _choice(s, ROUND_STATUSES, "status")
            stmt = stmt.where(rounds.c.status.in_(wanted))
        stmt = stmt.order_by(rounds.c.round_id.desc() if descending else rounds.c.round_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as conn:
            return [_row(RoundRow, r) for r in conn.execute(stmt)]

    def save_built_round(
        self,
        round_id: int,
        decisions: Sequence[DecisionRow],
        nodes: bytes,
        root: bytes | str,
        batch_hash: bytes | str,
        batch_path: str | Path,
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
        """
        root_b = _b32(root, "root")
        nodes = _blob_or_none(nodes, "nodes") or b""
        rows = decisions

        def chunks(_rnd: RoundRow) -> Iterator[list[tuple[Any, ...]]]:
            for chunk in _chunks(rows, self.chunk_size):
                yield [_decision_tuple(d) for d in chunk]

        return self._save_built(
            round_id, len(rows), lambda rnd: _check_batch(rnd, rows, nodes, root_b), chunks,
            nodes, root_b, batch_hash, batch_path,
        )  # fmt: skip

    def save_built_round_columns(
        self,
        round_id: int,
        columns: Mapping[str, Sequence[Any]],
        nodes: bytes,
        root: bytes | str,
        batch_hash: bytes | str,
        batch_path: str | Path,
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
        root_b = _b32(root, "root")
        nodes = _blob_or_none(nodes, "nodes") or b""
        missing = [c for c in _DECISION_GIVEN_COLUMNS if c not in columns]
        if missing:
            raise InvalidData(f"columns: missing {', '.join(missing)}")
        extra = sorted(set(columns) - set(_DECISION_GIVEN_COLUMNS))
        if extra:
            raise InvalidData(f"columns: unknown {', '.join(extra)}")
        n = len(columns["leaf_hash"])

        def check(rnd: RoundRow) -> None:
            _check_columns(rnd, columns, n, nodes, root_b)

        def chunks(rnd: RoundRow) -> Iterator[list[tuple[Any, ...]]]:
            size = self.chunk_size
            rid, mv, pv = itertools.repeat(rnd.round_id), itertools.repeat(rnd.model_version), itertools.repeat(rnd.policy_version)
            c = columns
            for start in range(0, n, size):
                part = slice(start, start + size)
                yield list(
                    zip(
                        rid, range(start, min(start + size, n)), c["tree_index"][part], c["merchant_key"][part],
                        c["merchant_id"][part], c["score"][part], c["limit_cny"][part], c["product_mask"][part],
                        c["reason1"][part], c["reason2"][part], c["reason3"][part], c["reason4"][part], mv, pv,
                        c["feature_commitment"][part], c["prev_leaf_hash"][part], c["leaf_hash"][part],
                        c["feature_salt"][part], c["feature_bytes"][part], c["status"][part],
                    )
                )  # fmt: skip

        return self._save_built(round_id, n, check, chunks, nodes, root_b, batch_hash, batch_path)

    def _save_built(
        self,
        round_id: int,
        n: int,
        check: Any,
        chunks: Any,
        nodes: bytes,
        root_b: bytes,
        batch_hash: bytes | str,
        batch_path: str | Path,
    ) -> bool:
        round_id = _int(round_id, "round_id")
        batch_hash_b = _b32(batch_hash, "batch_hash")
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
                    self._copy_decisions(conn, chunks(current))
                else:
                    self._insert_decisions(conn, chunks(current))
                conn.execute(
                    sa.insert(round_trees).values(round_id=round_id, leaf_count=n, nodes=nodes)
                )
                conn.execute(_ADVANCE_HEADS, {"round_id": round_id})
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
                    built_at=_now(),
                )
            )
        return True

    def _insert_decisions(self, conn: Connection, chunks: Iterable[list[tuple[Any, ...]]]) -> None:
        # Core insert compiled once for this dialect, then executemany of plain
        # tuples (dicts for named paramstyles) straight to the driver: no
        # per-row bind processing.
        sql = str(sa.insert(decisions).compile(dialect=conn.dialect))
        positional = conn.dialect.positional
        for chunk in chunks:
            params: Any = chunk if positional else [dict(zip(_DECISION_COLUMNS, t)) for t in chunk]
            conn.exec_driver_sql(sql, params)

    def _copy_decisions(self, conn: Connection, chunks: Iterable[list[tuple[Any, ...]]]) -> None:
        # Binary COPY on the same DBAPI connection, hence the same transaction.
        import psycopg

        raw = conn.connection.driver_connection
        assert raw is not None
        columns = ", ".join(_DECISION_COLUMNS)
        try:
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY decisions ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(list(_DECISION_PG_TYPES))
                    write_row = copy.write_row
                    for chunk in chunks:
                        for t in chunk:
                            write_row(t)
        except psycopg.IntegrityError as exc:  # raised by psycopg itself, not wrapped
            raise InvalidData(f"batch violates a constraint: {exc}") from exc

    def tree_nodes(self, round_id: int) -> bytes:
        """The packed node array of a built round; :class:`NotFound` if not built."""
        with self._read() as conn:
            nodes = conn.execute(
                sa.select(round_trees.c.nodes).where(round_trees.c.round_id == round_id)
            ).scalar()
        if nodes is None:
            raise NotFound(f"round {round_id} has no tree (not built)")
        return bytes(nodes)

    # -- anchors --------------------------------------------------------------

    def record_anchor_sent(
        self, round_id: int, tx_hash: bytes | str, sender: str | None, nonce: int | None
    ) -> AnchorRow:
        """Record the anchoring transaction as sent; round 'built' -> 'anchoring'.

        Sending again while not yet mined (a replacement with the same nonce
        and higher gas) overwrites the transaction; once mined, the same
        ``tx_hash`` is a no-op and a different one raises :class:`AnchorConflict`.
        """
        tx = _b32(tx_hash, "tx_hash")
        sender_s = _address(sender, "sender")
        nonce_i = None if nonce is None else _int(nonce, "nonce")
        with self._write() as conn:
            rnd = self._require_round(conn, round_id, lock=True)
            if rnd.status == "pending":
                raise InvalidState(f"round {round_id} is not built yet")
            anchor = self._anchor_row(conn, round_id)
            if anchor is not None and anchor.status != "sent":
                if anchor.tx_hash == tx:
                    return anchor
                raise AnchorConflict(
                    f"round {round_id} already {anchor.status} in tx 0x{anchor.tx_hash.hex()}"
                )
            values = {
                "tx_hash": tx,
                "sender": sender_s,
                "nonce": nonce_i,
                "status": "sent",
                "sent_at": _now(),
            }
            if anchor is None:
                conn.execute(
                    sa.insert(anchors).values(round_id=round_id, confirmations=0, **values)
                )
            elif (anchor.tx_hash, anchor.sender, anchor.nonce) != (tx, sender_s, nonce_i):
                conn.execute(
                    sa.update(anchors).where(anchors.c.round_id == round_id).values(**values)
                )
            self._set_round_status(conn, round_id, "anchoring")
            result = self._anchor_row(conn, round_id)
        assert result is not None
        return result

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
        block_number = _int(block_number, "block_number")
        block = _b32(block_hash, "block_hash")
        gas = _int(gas_used, "gas_used")
        tx = _b32_or_none(tx_hash, "tx_hash")
        when = _utc(mined_at, "mined_at")
        with self._write() as conn:
            rnd = self._require_round(conn, round_id, lock=True)
            if rnd.status == "pending":
                raise InvalidState(f"round {round_id} is not built yet")
            anchor = self._anchor_row(conn, round_id)
            if anchor is None:
                if tx is None:
                    raise InvalidState(f"round {round_id}: no anchor sent; pass tx_hash")
                conn.execute(
                    sa.insert(anchors).values(
                        round_id=round_id, tx_hash=tx, status="sent", confirmations=0
                    )
                )
                anchor = self._anchor_row(conn, round_id)
                assert anchor is not None
            if tx is not None and tx != anchor.tx_hash and anchor.status != "sent":
                raise AnchorConflict(
                    f"round {round_id} already {anchor.status} in tx 0x{anchor.tx_hash.hex()}"
                )
            same_block = (anchor.block_number, anchor.block_hash, anchor.gas_used) == (
                block_number, block, gas
            )
            if anchor.status == "confirmed":
                if same_block:
                    return anchor
                raise AnchorConflict(f"round {round_id} is confirmed in block {anchor.block_number}")
            if anchor.status == "mined" and same_block:
                return anchor
            conn.execute(
                sa.update(anchors)
                .where(anchors.c.round_id == round_id)
                .values(
                    tx_hash=tx or anchor.tx_hash,
                    status="mined",
                    block_number=block_number,
                    block_hash=block,
                    gas_used=gas,
                    mined_at=when,
                )
            )
            self._set_round_status(conn, round_id, "anchored", anchored_at=when)
            result = self._anchor_row(conn, round_id)
        assert result is not None
        return result

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
            if anchor is None:
                raise InvalidState(f"round {round_id} has no anchor record")
            if anchor.status == "confirmed":
                raise AnchorConflict(
                    f"round {round_id} is confirmed in block {anchor.block_number}; a reorg deeper than the"
                    " confirmation depth needs an operator"
                )
            if anchor.status == "mined":
                conn.execute(
                    sa.update(anchors)
                    .where(anchors.c.round_id == round_id)
                    .values(status="sent", block_number=None, block_hash=None, gas_used=None, mined_at=None)
                )
                self._set_round_status(conn, round_id, "anchoring", anchored_at=None)
            result = self._anchor_row(conn, round_id)
        assert result is not None
        return result

    def record_anchor_confirmed(self, round_id: int, confirmations: int) -> AnchorRow:
        """Record the anchor as final with ``confirmations`` blocks; round -> 'confirmed'.

        May be called again to raise the confirmation count (never lowers it).
        """
        confirmations = _int(confirmations, "confirmations", 0, (1 << 31) - 1)
        with self._write() as conn:
            self._require_round(conn, round_id, lock=True)
            anchor = self._anchor_row(conn, round_id)
            if anchor is None or anchor.status == "sent":
                raise InvalidState(f"round {round_id}: anchor not mined yet")
            values: dict[str, Any] = {"confirmations": max(confirmations, anchor.confirmations)}
            if anchor.status != "confirmed":
                values.update(status="confirmed", confirmed_at=_now())
            conn.execute(sa.update(anchors).where(anchors.c.round_id == round_id).values(**values))
            self._set_round_status(conn, round_id, "confirmed")
            result = self._anchor_row(conn, round_id)
        assert result is not None
        return result

    def get_anchor(self, round_id: int) -> AnchorRow:
        """The anchor record of ``round_id``; :class:`NotFound` if none."""
        with self._read() as conn:
            found = self._anchor_row(conn, round_id)
        if found is None:
            raise NotFound(f"round {round_id} has no anchor record")
        return found

    @staticmethod
    def _anchor_row(conn: Connection, round_id: int) -> AnchorRow | None:
        row = conn.execute(sa.select(anchors).where(anchors.c.round_id == round_id)).first()
        return None if row is None else _row(AnchorRow, row)

    @staticmethod
    def _set_round_status(conn: Connection, round_id: int, status: str, **extra: Any) -> None:
        conn.execute(
            sa.update(rounds).where(rounds.c.round_id == round_id).values(status=status, **extra)
        )

    # -- decisions and proofs -------------------------------------------------

    def decision(self, round_id: int, merchant_key: bytes | str) -> DecisionRow:
        """The decision of one merchant in one round; :class:`NotFound` if none."""
        key = _b32(merchant_key, "merchant_key")
        with self._read() as conn:
            row = conn.execute(
                _DECISION_SELECT.where(
                    decisions.c.merchant_key == key, decisions.c.round_id == round_id
                )
            ).first()
        if row is None:
            raise NotFound(f"no decision for 0x{key.hex()} in round {round_id}")
        return _decision_from_db(row)

    def decisions_for_merchant(self, merchant_key: bytes | str) -> list[DecisionRow]:
        """Every decision of one merchant, oldest round first (its hash chain order).

        One probe of the (round_id, merchant_key) index per built round.
        """
        key = _b32(merchant_key, "merchant_key")
        with self._read() as conn:
            result = conn.execute(
                _DECISION_SELECT.where(decisions.c.round_id.in_(_built_rounds()), decisions.c.merchant_key == key)
                .order_by(decisions.c.round_id)
            )
            return [_decision_from_db(r) for r in result]

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
        before = _int(before_round, "before_round")
        wanted = None if merchant_keys is None else {bytes(k) for k in merchant_keys}
        found: dict[bytes, bytes] = {}
        if wanted is not None and not wanted:
            return found
        later: list[bytes] = []
        with self._read() as conn:
            if wanted is None or len(wanted) >= _MERCHANT_SCAN_MIN:
                # many keys (a weekly round): one scan of the heads, as driver tuples, and a
                # second only if a round numbered ``before`` or later is built already
                heads = dict(_driver_rows(conn, "SELECT merchant_key, leaf_hash FROM merchant_heads WHERE round_id < ?", (before,)))
                if conn.execute(_built_rounds(rounds.c.round_id >= before).limit(1)).first() is not None:
                    later = [k for (k,) in _driver_rows(conn, "SELECT merchant_key FROM merchant_heads WHERE round_id >= ?", (before,))]
                if wanted is None:
                    found = heads
                else:
                    found = {k: heads[k] for k in wanted if k in heads}
                    later = [k for k in later if k in wanted]
                del heads
            else:
                for chunk in _chunks(list(wanted), 500):
                    stmt = sa.select(merchant_heads.c.merchant_key, merchant_heads.c.round_id, merchant_heads.c.leaf_hash)
                    for key, round_id, leaf_hash in conn.execute(stmt.where(merchant_heads.c.merchant_key.in_(chunk))):
                        if round_id < before:
                            found[bytes(key)] = bytes(leaf_hash)
                        else:
                            later.append(bytes(key))
            if later:
                earlier_rounds = _built_rounds(rounds.c.round_id < before)
                for chunk in _chunks(later, 500):
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
                    _DECISION_SELECT.where(decisions.c.round_id == round_id).order_by(
                        decisions.c.leaf_index
                    )
                )
                for partition in result.partitions(batch_size):
                    for r in partition:
                        yield _decision_from_db(r)

    def proof(self, round_id: int, merchant_key: bytes | str) -> list[bytes]:
        """The Merkle proof (siblings, leaf upwards) of a merchant's decision in a round.

        Regenerated from the stored tree: only the ~log2(n) 32-byte slices of the
        node array are read, not the whole array.
        """
        key = _b32(merchant_key, "merchant_key")
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
            if conn.dialect.name == "sqlite":
                # substr() would load the whole (up to 64 MB) blob once per
                # sibling; incremental blob I/O reads just the 32-byte slices.
                # round_trees.round_id is INTEGER PRIMARY KEY, i.e. the rowid.
                raw = conn.connection.driver_connection
                try:
                    blob = raw.blobopen("round_trees", "nodes", round_id, readonly=True)  # type: ignore[union-attr]
                except Exception as exc:  # sqlite3.OperationalError: no such row
                    raise NotFound(f"round {round_id} has no tree") from exc
                with blob:
                    out = []
                    for p in positions:
                        blob.seek(p * HASH_SIZE)
                        out.append(blob.read(HASH_SIZE))
                    return out
            row = conn.execute(
                sa.select(
                    *(
                        sa.func.substr(round_trees.c.nodes, p * HASH_SIZE + 1, HASH_SIZE)
                        for p in positions
                    )
                ).where(round_trees.c.round_id == round_id)
            ).first()
        if row is None:  # pragma: no cover - decisions and tree are written together
            raise NotFound(f"round {round_id} has no tree")
        return [bytes(s) for s in row]

    # -- sign-in nonces --------------------------------------------------------

    def issue_signin_nonce(self, nonce: str, expires_at: float, *, now: float, capacity: int) -> bool:
        """Record an API sign-in nonce valid until ``expires_at`` (Unix seconds).

        Expired nonces are dropped first. Returns False, recording nothing, when
        ``capacity`` unexpired nonces are already outstanding (a nonce flood).
        """
        if not isinstance(nonce, str) or not 0 < len(nonce) <= 64:
            raise InvalidData(f"nonce: expected 1..64 characters, got {nonce!r:.80}")
        with self._write() as conn:
            conn.execute(sa.delete(signin_nonces).where(signin_nonces.c.expires_at_ms <= _ms(now)))
            outstanding = conn.execute(sa.select(sa.func.count()).select_from(signin_nonces)).scalar_one()
            if outstanding >= capacity:
                return False
            conn.execute(sa.insert(signin_nonces).values(nonce=nonce, expires_at_ms=_ms(expires_at)))
        return True

    def signin_nonce_live(self, nonce: str, *, now: float) -> bool:
        """True if ``nonce`` was issued, is unused and unexpired at ``now``."""
        with self._read() as conn:
            found = conn.execute(
                sa.select(signin_nonces.c.nonce).where(
                    signin_nonces.c.nonce == nonce, signin_nonces.c.expires_at_ms > _ms(now)
                )
            ).first()
        return found is not None

    def consume_signin_nonce(self, nonce: str, *, now: float) -> bool:
        """Use ``nonce`` up: True for exactly one caller, and only while it is unexpired."""
        with self._write() as conn:
            used = conn.execute(
                sa.delete(signin_nonces).where(
                    signin_nonces.c.nonce == nonce, signin_nonces.c.expires_at_ms > _ms(now)
                )
            )
            return used.rowcount == 1

    # -- disputes -------------------------------------------------------------

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
        """Record an on-chain dispute as 'open'. Idempotent for the same content."""
        dispute_id = _int(dispute_id, "dispute_id")
        values = {
            "round_id": _int(round_id, "round_id"),
            "merchant_key": _b32(merchant_key, "merchant_key"),
            "leaf_hash": _b32(leaf_hash, "leaf_hash"),
            "reason": str(reason),
            "filed_tx": _b32_or_none(filed_tx, "filed_tx"),
        }
        with self._write() as conn:
            self._require_round(conn, values["round_id"])
            existing = self._dispute_row(conn, dispute_id)
            if existing is None:
                conn.execute(
                    sa.insert(disputes).values(
                        dispute_id=dispute_id,
                        status="open",
                        filed_at=_utc(filed_at, "filed_at"),
                        **values,
                    )
                )
                existing = self._dispute_row(conn, dispute_id)
                assert existing is not None
                return existing
        if any(getattr(existing, k) != v for k, v in values.items() if k != "filed_tx") or (
            values["filed_tx"] is not None and existing.filed_tx != values["filed_tx"]
        ):
            raise DisputeConflict(f"dispute {dispute_id} exists with different content")
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
        status_s = _choice(status, ("upheld", "rejected"), "status")
        tx = _b32_or_none(resolved_tx, "resolved_tx")
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
                    resolved_at=_utc(resolved_at, "resolved_at"),
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
            stmt = stmt.where(disputes.c.merchant_key == _b32(merchant_key, "merchant_key"))
        if status is not None:
            stmt = stmt.where(disputes.c.status == _choice(status, DISPUTE_STATUSES, "status"))
        with self._read() as conn:
            return [_row(DisputeRow, r) for r in conn.execute(stmt)]

    @staticmethod
    def _dispute_row(conn: Connection, dispute_id: int) -> DisputeRow | None:
        row = conn.execute(sa.select(disputes).where(disputes.c.dispute_id == dispute_id)).first()
        return None if row is None else _row(DisputeRow, row)

    # -- pending applications -------------------------------------------------

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
            "segment": _choice(segment, SEGMENTS, "segment"),
            "received_at": _utc(received_at, "received_at"),
            "payload": dict(payload),
        }
        with self._write() as conn:
            new_id = conn.execute(sa.insert(pending_applications).values(**values)).inserted_primary_key[0]  # type: ignore[index]
            row = conn.execute(
                sa.select(pending_applications).where(pending_applications.c.id == new_id)
            ).one()
        return _row(ApplicationRow, row)

    def get_application(self, application_id: int) -> ApplicationRow:
        """Application ``application_id``; :class:`NotFound` if none."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(pending_applications).where(pending_applications.c.id == application_id)
            ).first()
        if row is None:
            raise NotFound(f"no application {application_id}")
        return _row(ApplicationRow, row)

    def pending_applications(
        self, segment: Segment | None = None, *, limit: int | None = None
    ) -> list[ApplicationRow]:
        """Applications not yet batched, oldest first."""
        with self._read() as conn:
            return self._pending(conn, segment, limit)

    @staticmethod
    def _pending(conn: Connection, segment: str | None, limit: int | None) -> list[ApplicationRow]:
        stmt = sa.select(pending_applications).where(pending_applications.c.batched_round.is_(None))
        if segment is not None:
            stmt = stmt.where(pending_applications.c.segment == _choice(segment, SEGMENTS, "segment"))
        stmt = stmt.order_by(pending_applications.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [_row(ApplicationRow, r) for r in conn.execute(stmt)]

    def mark_batched(self, application_ids: Iterable[int], round_id: int) -> int:
        """Assign applications to ``round_id``; returns how many.

        Applications already in that round are skipped (idempotent); one already
        in another round raises :class:`Conflict` and nothing is changed.
        """
        ids = sorted(set(application_ids))
        if not ids:
            return 0
        with self._write() as conn:
            self._require_round(conn, round_id)
            found = dict(
                conn.execute(
                    sa.select(pending_applications.c.id, pending_applications.c.batched_round).where(
                        pending_applications.c.id.in_(ids)
                    )
                ).all()
            )
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFound(f"no applications {missing[:10]}")
            taken = {i: r for i, r in found.items() if r is not None and r != round_id}
            if taken:
                raise Conflict(f"applications already batched elsewhere: {dict(list(taken.items())[:10])}")
            todo = [i for i in ids if found[i] is None]
            for chunk in _chunks(todo, 5_000):
                conn.execute(
                    sa.update(pending_applications)
                    .where(pending_applications.c.id.in_(chunk))
                    .values(batched_round=round_id)
                )
        return len(ids)

    def claim_applications(
        self, round_id: int, segment: Segment, *, limit: int | None = None
    ) -> list[ApplicationRow]:
        """Atomically take the oldest unbatched applications of ``segment`` into ``round_id``."""
        with self._write() as conn:
            self._require_round(conn, round_id, lock=True)
            pending = self._pending(conn, segment, limit)
            ids = [a.id for a in pending]
            for chunk in _chunks(ids, 5_000):
                conn.execute(
                    sa.update(pending_applications)
                    .where(
                        pending_applications.c.id.in_(chunk),
                        pending_applications.c.batched_round.is_(None),
                    )
                    .values(batched_round=round_id)
                )
        return [
            ApplicationRow(a.id, a.merchant_id, a.segment, a.received_at, a.payload, round_id)
            for a in pending
        ]

    def applications_in_round(self, round_id: int) -> list[ApplicationRow]:
        """Applications batched into ``round_id``, oldest first."""
        with self._read() as conn:
            result = conn.execute(
                sa.select(pending_applications)
                .where(pending_applications.c.batched_round == round_id)
                .order_by(pending_applications.c.id)
            )
            return [_row(ApplicationRow, r) for r in result]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _driver_rows(conn: Connection, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """All rows of ``sql`` (``?`` placeholders) as the driver's own tuples, in ``conn``'s transaction.

    For million-row reads: no SQLAlchemy ``Row`` objects and no per-value type
    processing, so the whole fetch runs in the driver's C code. Values are what the
    driver returns (``bytes`` for BLOB / bytea on SQLite and psycopg).
    """
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _built_rounds(*conditions: Any) -> sa.Select[Any]:
    """Ids of the rounds that hold decisions (built or later), for per-round index probes."""
    return sa.select(rounds.c.round_id).where(rounds.c.status != "pending", *conditions)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    if isinstance(items, Sequence):
        for start in range(0, len(items), size):
            yield items[start : start + size]
        return
    iterator = iter(items)  # pragma: no cover
    while chunk := list(itertools.islice(iterator, size)):  # pragma: no cover
        yield chunk


def _check_batch(rnd: RoundRow, rows: Sequence[DecisionRow], nodes: bytes, root: bytes) -> None:
    """Cheap consistency checks of a built batch against its node array (InvalidData)."""
    n = len(rows)
    if n == 0:
        raise InvalidData(f"round {rnd.round_id}: no decisions")
    if len(nodes) != (2 * n - 1) * HASH_SIZE:
        raise InvalidData(
            f"nodes: {len(nodes)} bytes, expected (2*{n}-1)*32 = {(2 * n - 1) * HASH_SIZE}"
        )
    if nodes[:HASH_SIZE] != root:
        raise InvalidData("root: differs from nodes[0]")
    first_leaf = n - 1
    round_id, mv, pv = rnd.round_id, rnd.model_version, rnd.policy_version
    seen_tree: set[int] = set()
    add = seen_tree.add
    for d in rows:
        if type(d) is not DecisionRow:
            raise InvalidData(f"decisions: expected DecisionRow, got {type(d).__name__}")
        t = d.tree_index
        if d.round_id != round_id:
            raise InvalidData(f"decision {d.leaf_index}: round_id {d.round_id} != {round_id}")
        if d.model_version != mv or d.policy_version != pv:
            raise InvalidData(
                f"decision {d.leaf_index}: model/policy {d.model_version}/{d.policy_version}"
                f" != round's {mv}/{pv}"
            )
        if not 0 <= d.leaf_index < n:
            raise InvalidData(f"decision leaf_index {d.leaf_index} out of range 0..{n - 1}")
        if not first_leaf <= t < 2 * n - 1:
            raise InvalidData(f"decision {d.leaf_index}: tree_index {t} is not a leaf position")
        if nodes[t * HASH_SIZE : (t + 1) * HASH_SIZE] != d.leaf_hash:
            raise InvalidData(f"decision {d.leaf_index}: leaf_hash is not the node at {t}")
        add(t)
    if len(seen_tree) != n:
        raise InvalidData("decisions: tree_index values are not distinct")


def _check_columns(rnd: RoundRow, c: Mapping[str, Sequence[Any]], n: int, nodes: bytes, root: bytes) -> None:
    """:func:`_check_batch` for column batches, column by column (InvalidData)."""
    import numpy as np

    if n == 0:
        raise InvalidData(f"round {rnd.round_id}: no decisions")
    for name in _DECISION_GIVEN_COLUMNS:
        if len(c[name]) != n:
            raise InvalidData(f"{name}: {len(c[name])} values for {n} decisions")
    if len(nodes) != (2 * n - 1) * HASH_SIZE:
        raise InvalidData(
            f"nodes: {len(nodes)} bytes, expected (2*{n}-1)*32 = {(2 * n - 1) * HASH_SIZE}"
        )
    if nodes[:HASH_SIZE] != root:
        raise InvalidData("root: differs from nodes[0]")
    for name in ("merchant_key", "feature_commitment", "prev_leaf_hash", "leaf_hash"):
        if not (set(map(type, c[name])) <= {bytes} and set(map(len, c[name])) <= {HASH_SIZE}):
            raise InvalidData(f"{name}: expected 32-byte bytes values")
    for name in ("tree_index", "score", "limit_cny", "product_mask", "reason1", "reason2", "reason3", "reason4"):
        if not set(map(type, c[name])) <= {int}:
            raise InvalidData(f"{name}: expected int values")
    for name in ("merchant_id", "status"):
        if not set(map(type, c[name])) <= {str}:
            raise InvalidData(f"{name}: expected str values")
    for name in ("feature_salt", "feature_bytes"):
        if not set(map(type, c[name])) <= {bytes, type(None)}:
            raise InvalidData(f"{name}: expected bytes or None values")
    tree_index = np.fromiter(c["tree_index"], dtype=np.int64, count=n)
    if tree_index.min() < n - 1 or tree_index.max() >= 2 * n - 1:
        raise InvalidData("decisions: a tree_index is not a leaf position")
    if len(np.unique(tree_index)) != n:
        raise InvalidData("decisions: tree_index values are not distinct")
    at_positions = np.frombuffer(nodes, dtype="V32")[tree_index]
    given = np.frombuffer(b"".join(c["leaf_hash"]), dtype="V32")
    wrong = np.flatnonzero(at_positions != given)
    if len(wrong):
        i = int(wrong[0])
        raise InvalidData(f"decision {i}: leaf_hash is not the node at {int(tree_index[i])}")
