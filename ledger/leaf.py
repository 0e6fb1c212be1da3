"""The decision record: one leaf per merchant per round.

This module is the ONE place the leaf layout is defined. ``CreditLedger.sol``
mirrors :data:`LEAF_ENCODING`/:data:`LEAF_FIELDS` and a test keeps the two in
step; change a field here and there together, never elsewhere.

A leaf is ABI-encoded as the tuple of its fields (``abi.encode`` of ten static
values = 13 words = 416 bytes) and hashed exactly as OpenZeppelin's
``StandardMerkleTree`` does::

    leaf_hash = keccak256(keccak256(abi.encode(fields...)))

so ``MerkleProof.verify`` on-chain and ``@openzeppelin/merkle-tree`` 1.0.8 in
JavaScript accept our proofs unchanged.

Three representations exist and convert losslessly:

* :class:`DecisionLeaf` -- the validated, immutable Python value;
* :meth:`DecisionLeaf.to_values` -- the list OZ's ``dump()`` stores in
  ``values[i].value`` (bytes32 as lowercase ``0x`` hex, every integer as a
  decimal string, ``uint16[4]`` as a list of decimal strings). Strings, not
  JSON numbers, because a ``uint64`` may exceed JavaScript's 2**53 and because
  that is the form the OZ documentation and its tests use;
* :meth:`DecisionLeaf.to_dict` -- Python field names, ints as JSON numbers,
  for APIs and the store.
"""

from __future__ import annotations

import operator
import re
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.keccak import keccak256

__all__ = [
    "LEAF_ENCODING",
    "LEAF_FIELDS",
    "LEAF_SIZE",
    "LeafColumns",
    "ZERO_HASH",
    "REASON_CODE_COUNT",
    "DecisionLeaf",
    "LeafError",
    "decode",
    "encode",
    "encode_columns",
    "leaf_hash",
    "leaf_hashes",
]

LEAF_FIELDS: tuple[str, ...] = (
    "merchant_key",
    "round",
    "score",
    "limit_cny",
    "product_mask",
    "reason_codes",
    "model_version",
    "policy_version",
    "feature_commitment",
    "prev_leaf_hash",
)
"""Field names, in ABI order."""

LEAF_ENCODING: tuple[str, ...] = (
    "bytes32",
    "uint64",
    "uint16",
    "uint32",
    "uint32",
    "uint16[4]",
    "uint32",
    "uint32",
    "bytes32",
    "bytes32",
)
"""ABI types of :data:`LEAF_FIELDS`, the ``leafEncoding`` of every tree dump."""

REASON_CODE_COUNT = 4
ZERO_HASH: bytes = bytes(32)
"""``prev_leaf_hash`` of a merchant's first decision."""

# Every field is a static type, so the encoding is a fixed layout: each value
# right-aligned in its own 32-byte word (the ``x`` pad bytes are the zero
# high-order bytes). One struct.pack call is several times faster than
# concatenating int.to_bytes results, and this runs a million times a round.
_LAYOUT = struct.Struct(">32s24xQ30xH28xI28xI30xH30xH30xH30xH28xI28xI32s32s")
LEAF_SIZE: int = _LAYOUT.size
assert LEAF_SIZE == 13 * 32
_pack = _LAYOUT.pack
_unpack = _LAYOUT.unpack

_BYTES32_FIELDS: tuple[str, ...] = ("merchant_key", "feature_commitment", "prev_leaf_hash")
_UINT_BITS: dict[str, int] = {
    "round": 64,
    "score": 16,
    "limit_cny": 32,
    "product_mask": 32,
    "model_version": 32,
    "policy_version": 32,
}
_UINT_MAX: tuple[tuple[str, int], ...] = tuple((f, (1 << b) - 1) for f, b in _UINT_BITS.items())
_REASON_MAX = (1 << 16) - 1

# Canonical JSON forms only: an input that would not round-trip to the same
# text is malformed (the hash would agree, but two different files describing
# the same leaf is exactly what an audit file must not allow).
_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}\Z")
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]{0,19})\Z")


class LeafError(ValueError):
    """A decision record is malformed; the message starts with the field name."""


def _as_uint(field: str, value: Any, maximum: int) -> int:
    if isinstance(value, bool) or isinstance(value, (str, bytes, float)):
        raise LeafError(f"{field}: expected an integer, got {type(value).__name__} {value!r}")
    try:
        number = operator.index(value)  # accepts numpy integers, rejects floats
    except TypeError:
        raise LeafError(
            f"{field}: expected an integer, got {type(value).__name__} {value!r}"
        ) from None
    if not 0 <= number <= maximum:
        raise LeafError(f"{field}: {number} is out of range 0..{maximum}")
    return number


def _as_bytes32(field: str, value: Any) -> bytes:
    if type(value) is not bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise LeafError(f"{field}: expected 32 bytes, got {type(value).__name__}")
        value = bytes(value)
    if len(value) != 32:
        raise LeafError(f"{field}: expected 32 bytes, got {len(value)}")
    return value


@dataclass(frozen=True, slots=True)
class DecisionLeaf:
    """One credit decision for one merchant in one round (validated, immutable).

    ``reason_codes`` accepts any sequence of four ints and is stored as a tuple;
    integer fields accept any ``operator.index``-able value (e.g. numpy ints
    from the scorer) and are stored as plain ``int``.
    """

    merchant_key: bytes
    round: int
    score: int
    limit_cny: int
    product_mask: int
    reason_codes: tuple[int, int, int, int]
    model_version: int
    policy_version: int
    feature_commitment: bytes
    prev_leaf_hash: bytes

    def __post_init__(self) -> None:
        setter = object.__setattr__
        for name in _BYTES32_FIELDS:
            value = getattr(self, name)
            if type(value) is not bytes or len(value) != 32:
                setter(self, name, _as_bytes32(name, value))
        for name, maximum in _UINT_MAX:
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= maximum:
                setter(self, name, _as_uint(name, value, maximum))
        codes = self.reason_codes
        if type(codes) is not tuple or len(codes) != REASON_CODE_COUNT or not all(
            type(c) is int and 0 <= c <= _REASON_MAX for c in codes
        ):
            if isinstance(codes, (str, bytes, bytearray, memoryview)) or not isinstance(
                codes, Iterable
            ):
                raise LeafError(
                    f"reason_codes: expected {REASON_CODE_COUNT} integers, "
                    f"got {type(codes).__name__}"
                )
            items = list(codes)
            if len(items) != REASON_CODE_COUNT:
                raise LeafError(
                    f"reason_codes: expected exactly {REASON_CODE_COUNT} codes, got {len(items)}"
                )
            setter(
                self,
                "reason_codes",
                tuple(_as_uint(f"reason_codes[{i}]", c, _REASON_MAX) for i, c in enumerate(items)),
            )

    # -- JSON forms ---------------------------------------------------------

    def to_values(self) -> list[Any]:
        """The value list as ``@openzeppelin/merkle-tree``'s dump stores it."""
        return [
            "0x" + self.merchant_key.hex(),
            str(self.round),
            str(self.score),
            str(self.limit_cny),
            str(self.product_mask),
            [str(c) for c in self.reason_codes],
            str(self.model_version),
            str(self.policy_version),
            "0x" + self.feature_commitment.hex(),
            "0x" + self.prev_leaf_hash.hex(),
        ]

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> DecisionLeaf:
        """Parse the form :meth:`to_values` writes (ints may also be JSON numbers)."""
        if not isinstance(values, (list, tuple)) or len(values) != len(LEAF_FIELDS):
            raise LeafError(
                f"values: expected a list of {len(LEAF_FIELDS)} items, got {_describe(values)}"
            )
        fields = dict(zip(LEAF_FIELDS, values))
        return cls._from_json_fields(fields)

    def to_dict(self) -> dict[str, Any]:
        """Python field names; bytes32 as ``0x`` hex, ints as ints."""
        return {
            "merchant_key": "0x" + self.merchant_key.hex(),
            "round": self.round,
            "score": self.score,
            "limit_cny": self.limit_cny,
            "product_mask": self.product_mask,
            "reason_codes": list(self.reason_codes),
            "model_version": self.model_version,
            "policy_version": self.policy_version,
            "feature_commitment": "0x" + self.feature_commitment.hex(),
            "prev_leaf_hash": "0x" + self.prev_leaf_hash.hex(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionLeaf:
        """Parse :meth:`to_dict` output (ints may also be decimal strings)."""
        if not isinstance(data, Mapping):
            raise LeafError(f"leaf: expected a mapping, got {type(data).__name__}")
        for name in LEAF_FIELDS:
            if name not in data:
                raise LeafError(f"{name}: missing")
        extra = sorted(set(data) - set(LEAF_FIELDS), key=str)
        if extra:
            raise LeafError(f"{extra[0]}: unknown field")
        return cls._from_json_fields(data)

    @classmethod
    def _from_json_fields(cls, fields: Mapping[str, Any]) -> DecisionLeaf:
        codes = fields["reason_codes"]
        if not isinstance(codes, (list, tuple)) or len(codes) != REASON_CODE_COUNT:
            raise LeafError(
                f"reason_codes: expected a list of {REASON_CODE_COUNT} codes, got {_describe(codes)}"
            )
        return cls(
            merchant_key=_parse_hex32("merchant_key", fields["merchant_key"]),
            round=_parse_int("round", fields["round"]),
            score=_parse_int("score", fields["score"]),
            limit_cny=_parse_int("limit_cny", fields["limit_cny"]),
            product_mask=_parse_int("product_mask", fields["product_mask"]),
            reason_codes=tuple(_parse_int(f"reason_codes[{i}]", c) for i, c in enumerate(codes)),
            model_version=_parse_int("model_version", fields["model_version"]),
            policy_version=_parse_int("policy_version", fields["policy_version"]),
            feature_commitment=_parse_hex32("feature_commitment", fields["feature_commitment"]),
            prev_leaf_hash=_parse_hex32("prev_leaf_hash", fields["prev_leaf_hash"]),
        )

    def to_abi_tuple(self) -> tuple[Any, ...]:
        """The argument web3 passes for ``CreditLedger.DecisionLeaf`` (fields in ABI order)."""
        return (
            self.merchant_key,
            self.round,
            self.score,
            self.limit_cny,
            self.product_mask,
            list(self.reason_codes),
            self.model_version,
            self.policy_version,
            self.feature_commitment,
            self.prev_leaf_hash,
        )

    # -- hashing conveniences -------------------------------------------------

    def encode(self) -> bytes:
        """Same as :func:`encode`."""
        return encode(self)

    def leaf_hash(self) -> bytes:
        """Same as :func:`leaf_hash`."""
        return leaf_hash(self)


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


def _parse_hex32(field: str, value: Any) -> bytes:
    if not isinstance(value, str) or not _HEX32.match(value):
        raise LeafError(f"{field}: expected '0x' followed by 64 hex digits, got {value!r:.80}")
    return bytes.fromhex(value[2:])


def _parse_int(field: str, value: Any) -> int:
    if isinstance(value, str):
        if not _DECIMAL.match(value):
            raise LeafError(f"{field}: expected a canonical decimal string, got {value!r:.80}")
        return int(value)
    if type(value) is int:  # JSON numbers; bool and float are malformed here
        return value
    raise LeafError(f"{field}: expected a decimal string or integer, got {type(value).__name__}")


def encode(leaf: DecisionLeaf) -> bytes:
    """Canonical ``abi.encode`` of the leaf's fields (416 bytes)."""
    codes = leaf.reason_codes
    return _pack(
        leaf.merchant_key,
        leaf.round,
        leaf.score,
        leaf.limit_cny,
        leaf.product_mask,
        codes[0],
        codes[1],
        codes[2],
        codes[3],
        leaf.model_version,
        leaf.policy_version,
        leaf.feature_commitment,
        leaf.prev_leaf_hash,
    )


def decode(data: bytes) -> DecisionLeaf:
    """Inverse of :func:`encode`; rejects wrong length and non-zero padding."""
    if len(data) != LEAF_SIZE:
        raise LeafError(f"encoding: expected {LEAF_SIZE} bytes, got {len(data)}")
    (mk, rnd, score, limit, mask, c0, c1, c2, c3, mv, pv, fc, prev) = _unpack(data)
    leaf = DecisionLeaf(mk, rnd, score, limit, mask, (c0, c1, c2, c3), mv, pv, fc, prev)
    # struct skips pad bytes without looking at them; a non-canonical word
    # (dirty high bytes) must not decode to a leaf with a different hash.
    if encode(leaf) != bytes(data):
        raise LeafError("encoding: non-zero padding in an integer word")
    return leaf


def leaf_hash(leaf: DecisionLeaf) -> bytes:
    """``keccak256(keccak256(encode(leaf)))`` -- StandardMerkleTree's leaf hash."""
    return keccak256(keccak256(encode(leaf)))


def leaf_hashes(leaves: Iterable[DecisionLeaf]) -> list[bytes]:
    """:func:`leaf_hash` of many leaves, with the per-call lookups hoisted."""
    k = keccak256
    pack = _pack
    return [
        k(
            k(
                pack(
                    lf.merchant_key,
                    lf.round,
                    lf.score,
                    lf.limit_cny,
                    lf.product_mask,
                    *lf.reason_codes,
                    lf.model_version,
                    lf.policy_version,
                    lf.feature_commitment,
                    lf.prev_leaf_hash,
                )
            )
        )
        for lf in leaves
    ]


# -- column batches -------------------------------------------------------------
#
# A round builds a million leaves; making a validated DecisionLeaf per merchant
# (and then a store row and a JSON value list from it) costs more than hashing
# them. The functions below take the fields column by column -- one list per
# field, the four reason codes as four lists, and round/model/policy as single
# values (one batch shares them) -- and produce the same bytes as the per-leaf
# functions above; tests compare the two byte for byte.


def _check_bytes32_column(field: str, column: Sequence[bytes], n: int) -> None:
    if len(column) != n:
        raise LeafError(f"{field}: {len(column)} values for {n} leaves")
    # struct's "32s" pads short values with zeros; refuse anything not exactly bytes32
    if not (set(map(type, column)) <= {bytes} and set(map(len, column)) <= {32}):
        for i, value in enumerate(column):
            _as_bytes32(f"{field}[{i}]", value)


def _check_int_column(field: str, column: Sequence[int], n: int, maximum: int) -> None:
    if len(column) != n:
        raise LeafError(f"{field}: {len(column)} values for {n} leaves")
    if n and set(map(type, column)) <= {int} and min(column) >= 0 and max(column) <= maximum:
        return
    for i, value in enumerate(column):
        _as_uint(f"{field}[{i}]", value, maximum)


@dataclass(frozen=True)
class LeafColumns(Sequence[DecisionLeaf]):
    """The leaves of one batch, column by column (validated once, as a whole).

    A read-only sequence of :class:`DecisionLeaf`: indexing builds the leaf on
    demand, so code written for a list of leaves works unchanged, while the
    bulk operations (:meth:`encodings`, :meth:`hashes`, :meth:`values_json`)
    never make per-leaf objects. ``reason_codes`` is four columns.
    """

    merchant_key: Sequence[bytes]
    round: int
    score: Sequence[int]
    limit_cny: Sequence[int]
    product_mask: Sequence[int]
    reason_codes: tuple[Sequence[int], Sequence[int], Sequence[int], Sequence[int]]
    model_version: int
    policy_version: int
    feature_commitment: Sequence[bytes]
    prev_leaf_hash: Sequence[bytes]

    def __post_init__(self) -> None:
        n = len(self.merchant_key)
        for name in _BYTES32_FIELDS:
            _check_bytes32_column(name, getattr(self, name), n)
        for name in ("round", "model_version", "policy_version"):
            object.__setattr__(self, name, _as_uint(name, getattr(self, name), (1 << _UINT_BITS[name]) - 1))
        for name in ("score", "limit_cny", "product_mask"):
            _check_int_column(name, getattr(self, name), n, (1 << _UINT_BITS[name]) - 1)
        if len(self.reason_codes) != REASON_CODE_COUNT:
            raise LeafError(f"reason_codes: expected {REASON_CODE_COUNT} columns, got {len(self.reason_codes)}")
        for j, column in enumerate(self.reason_codes):
            _check_int_column(f"reason_codes{j}", column, n, _REASON_MAX)

    def __len__(self) -> int:
        return len(self.merchant_key)

    def __getitem__(self, i):  # type: ignore[no-untyped-def,override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        c = self.reason_codes
        return DecisionLeaf(
            self.merchant_key[i], self.round, self.score[i], self.limit_cny[i], self.product_mask[i],
            (c[0][i], c[1][i], c[2][i], c[3][i]), self.model_version, self.policy_version,
            self.feature_commitment[i], self.prev_leaf_hash[i],
        )  # fmt: skip

    def __iter__(self) -> Iterator[DecisionLeaf]:
        for i in range(len(self)):
            yield self[i]

    @classmethod
    def from_leaves(cls, leaves: Sequence[DecisionLeaf]) -> LeafColumns:
        """Columns of ``leaves`` (all must share round, model and policy)."""
        if not leaves:
            raise LeafError("leaves: at least one leaf needed")
        first = leaves[0]
        for i, lf in enumerate(leaves):
            if (lf.round, lf.model_version, lf.policy_version) != (first.round, first.model_version, first.policy_version):
                raise LeafError(f"leaves[{i}]: round/model/policy differ from leaves[0]")
        codes = [lf.reason_codes for lf in leaves]
        return cls(
            [lf.merchant_key for lf in leaves], first.round, [lf.score for lf in leaves],
            [lf.limit_cny for lf in leaves], [lf.product_mask for lf in leaves],
            tuple(list(c) for c in zip(*codes)), first.model_version, first.policy_version,  # type: ignore[arg-type]
            [lf.feature_commitment for lf in leaves], [lf.prev_leaf_hash for lf in leaves],
        )  # fmt: skip

    def encodings(self) -> list[bytes]:
        """:func:`encode` of every leaf, in order."""
        return encode_columns(self)

    def hashes(self) -> list[bytes]:
        """:func:`leaf_hash` of every leaf, in order."""
        k = keccak256
        pack = _pack
        rnd, mv, pv = self.round, self.model_version, self.policy_version
        c0, c1, c2, c3 = self.reason_codes
        return [
            k(k(pack(mk, rnd, s, lim, pm, a, b, c, d, mv, pv, fc, prev)))
            for mk, s, lim, pm, a, b, c, d, fc, prev in zip(
                self.merchant_key, self.score, self.limit_cny, self.product_mask, c0, c1, c2, c3,
                self.feature_commitment, self.prev_leaf_hash,
            )
        ]  # fmt: skip

    def values_json(self, start: int = 0, stop: int | None = None) -> list[str]:
        """Each leaf's :meth:`DecisionLeaf.to_values` as compact JSON text (leaves ``start:stop``).

        Equal to ``json.dumps(leaf.to_values(), separators=(",", ":"))``: the
        values are lowercase hex and decimal strings, none needs escaping.
        """
        head = f'","{self.round}","'
        tail = f'"],"{self.model_version}","{self.policy_version}","0x'
        part = slice(start, stop)
        c0, c1, c2, c3 = (c[part] for c in self.reason_codes)
        return [
            f'["0x{mk.hex()}{head}{s}","{lim}","{pm}",["{a}","{b}","{c}","{d}{tail}{fc.hex()}","0x{prev.hex()}"]'
            for mk, s, lim, pm, a, b, c, d, fc, prev in zip(
                self.merchant_key[part], self.score[part], self.limit_cny[part], self.product_mask[part], c0, c1, c2, c3,
                self.feature_commitment[part], self.prev_leaf_hash[part],
            )
        ]  # fmt: skip


def encode_columns(cols: LeafColumns) -> list[bytes]:
    """:func:`encode` of every leaf of ``cols`` (416 bytes each), without leaf objects."""
    pack = _pack
    rnd, mv, pv = cols.round, cols.model_version, cols.policy_version
    c0, c1, c2, c3 = cols.reason_codes
    return [
        pack(mk, rnd, s, lim, pm, a, b, c, d, mv, pv, fc, prev)
        for mk, s, lim, pm, a, b, c, d, fc, prev in zip(
            cols.merchant_key, cols.score, cols.limit_cny, cols.product_mask, c0, c1, c2, c3,
            cols.feature_commitment, cols.prev_leaf_hash,
        )
    ]  # fmt: skip
