"""The rows the store hands back: frozen dataclasses, validated on construction.

``merchant_id``, ``feature_salt`` and ``feature_bytes`` are PRIVATE: the store keeps
them for the platform and for audits; they never go on-chain. A decision row is its
leaf (:class:`ledger.leaf.DecisionLeaf`) plus its position in the round and its
private inputs; the mapping between the row, its leaf and the table's columns is
derived from the leaf layout, once, below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from foundation.errors import shown
from ledger.leaf import LEAF_LAYOUT, REASON_CODE_COUNT, DecisionLeaf
from ledger.store.convert import address, b32, blob_or_none, choice
from ledger.store.errors import InvalidData
from ledger.store.schema import DECISION_COLUMN_NAMES
from ledger.store.types import HASH_SIZE, SEGMENTS, AnchorStatus, DisputeStatus, RoundKind, RoundStatus, Segment

__all__ = [
    "AnchorRow",
    "ApplicationRow",
    "DecisionRow",
    "DisputeRow",
    "MerchantRow",
    "PendingDisputeRow",
    "RoundRow",
    "decision_from_db",
    "decision_tuple",
    "row",
]


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
            raise InvalidData(f"merchant_id: expected 1..128 characters, got {shown(self.merchant_id, 80)}")
        object.__setattr__(self, "merchant_key", b32(self.merchant_key, "merchant_key"))
        choice(self.segment, SEGMENTS, "segment")
        object.__setattr__(self, "account", address(self.account, "account"))


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
    export_hash: bytes | None = None
    validation_report_hash: bytes | None = None


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
                setter(self, name, b32(value, name))
        codes = self.reason_codes
        if type(codes) is not tuple or len(codes) != REASON_CODE_COUNT:
            if isinstance(codes, (str, bytes)) or not isinstance(codes, Iterable):
                raise InvalidData(f"reason_codes: expected {REASON_CODE_COUNT} integers")
            given = tuple(codes)
            if len(given) != REASON_CODE_COUNT:
                raise InvalidData(f"reason_codes: expected {REASON_CODE_COUNT} codes, got {len(given)}")
            setter(self, "reason_codes", given)
        for name in ("feature_salt", "feature_bytes"):
            value = getattr(self, name)
            if value is not None and type(value) is not bytes:
                setter(self, name, blob_or_none(value, name))

    def to_leaf(self) -> DecisionLeaf:
        """The on-chain record (:class:`ledger.leaf.DecisionLeaf`) of this decision."""
        return DecisionLeaf(**{name: getattr(self, attr) for name, attr in _LEAF_ATTRS})

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
            leaf_index=leaf_index,
            tree_index=tree_index,
            merchant_id=merchant_id,
            leaf_hash=leaf.leaf_hash() if leaf_hash is None else leaf_hash,
            feature_salt=feature_salt,
            feature_bytes=feature_bytes,
            status=status,
            **{attr: getattr(leaf, name) for name, attr in _LEAF_ATTRS},
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
class PendingDisputeRow:
    """A dispute transaction the relay sent that is not mined yet (no dispute id until it is).

    ``signer`` and ``nonce`` tell whether it can still be mined: once the signer's mined
    nonce has passed it without it, another transaction took its place.
    """

    tx_hash: bytes
    round_id: int
    merchant_key: bytes
    leaf_hash: bytes
    reason: str
    signer: str
    nonce: int
    relayed_at: datetime


@dataclass(frozen=True, slots=True)
class ApplicationRow:
    """An on-demand application waiting for (or already in) a small batch."""

    id: int
    merchant_id: str
    segment: Segment
    received_at: datetime
    payload: Any
    batched_round: int | None = None


R = TypeVar("R", MerchantRow, RoundRow, AnchorRow, DisputeRow, PendingDisputeRow, ApplicationRow)


def row(cls: type[R], result: sa.Row[Any]) -> R:
    """A row dataclass from a SQLAlchemy result row (by column name)."""
    return cls(**result._mapping)


# -- DecisionRow <-> leaf <-> decisions columns, derived from the leaf layout --------

#: (leaf field, DecisionRow attribute): an array field keeps its name, a scalar one
#: is named by its column (``round`` is the row's ``round_id``).
_LEAF_ATTRS: tuple[tuple[str, str], ...] = tuple(
    (f.name, f.name if f.kind == "uint_array" else f.columns[0]) for f in LEAF_LAYOUT
)
#: DecisionRow's 32-byte fields: the leaf's bytes32 fields and the leaf hash.
_DECISION_BYTES32: tuple[str, ...] = (
    *(attr for (name, attr), f in zip(_LEAF_ATTRS, LEAF_LAYOUT) if f.kind == "bytes32"),
    "leaf_hash",
)
_ARRAY_OF: dict[str, tuple[str, int]] = {
    column: (f.name, i) for f in LEAF_LAYOUT if f.kind == "uint_array" for i, column in enumerate(f.columns)
}


def _row_fields() -> list[tuple[str, list[int]]]:
    """Each DecisionRow field and the positions of its column(s) in DECISION_COLUMN_NAMES."""
    out: list[tuple[str, list[int]]] = []
    for position, column in enumerate(DECISION_COLUMN_NAMES):
        name = _ARRAY_OF.get(column, (column, 0))[0]
        if out and out[-1][0] == name:
            out[-1][1].append(position)
        else:
            out.append((name, [position]))
    return out


_ROW_FIELDS = _row_fields()
if [name for name, _ in _ROW_FIELDS] != [f.name for f in dataclasses.fields(DecisionRow)]:  # pragma: no cover
    raise AssertionError("DecisionRow's fields and the decisions table's columns are out of step")


def _generate(name: str, args: str, body: str) -> Any:
    namespace: dict[str, Any] = {"DecisionRow": DecisionRow}
    exec(f"def {name}({args}):\n    return {body}\n", namespace)  # noqa: S102 - built from the schema only
    return namespace[name]


def _from_db_source() -> str:
    parts = []
    for _name, positions in _ROW_FIELDS:
        items = [f"r[{p}]" for p in positions]
        parts.append(f"({', '.join(items)})" if len(items) > 1 else items[0])
    return f"DecisionRow({', '.join(parts)})"


def _tuple_source() -> str:
    parts = []
    for name, positions in _ROW_FIELDS:
        parts += [f"d.{name}[{i}]" for i in range(len(positions))] if len(positions) > 1 else [f"d.{name}"]
    return f"({', '.join(parts)},)"


#: A DecisionRow from a positional result row in DECISION_COLUMN_NAMES order (hot path:
#: streaming a round back); generated once from the layout, as fast as hand-written.
decision_from_db: Callable[[Sequence[Any]], DecisionRow] = _generate("decision_from_db", "r", _from_db_source())

#: The positional tuple of a DecisionRow in DECISION_COLUMN_NAMES order (hot path: inserts).
decision_tuple: Callable[[DecisionRow], tuple[Any, ...]] = _generate("decision_tuple", "d", _tuple_source())
