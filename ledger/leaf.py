"""The decision record: one leaf per merchant per round.

This module is the ONE place the leaf layout is defined: the annotated fields of
:class:`DecisionLeaf`, in ABI order, each with its ABI type and its column(s) in the
store. Everything else derives from them: :data:`LEAF_LAYOUT`,
:data:`LEAF_FIELDS`, :data:`LEAF_ENCODING`, the store's decision columns
(:data:`LEAF_COLUMNS`), the packed encoding, the JSON forms and the column batches.
``CreditLedger.sol`` mirrors the layout and a test keeps the two in step; change a
field here and there together, never elsewhere.

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

Speed: the packing functions that run a million times a round (:func:`encode`,
:func:`leaf_hashes`) are generated once, at import, from the layout (as
:mod:`dataclasses` generates ``__init__``), so they are as fast as hand-written
code without spelling the fields out again.
"""

from __future__ import annotations

import operator
import re
import struct
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Annotated, Any

from foundation.errors import CreditLedgerError, shown
from ledger.keccak import keccak256

__all__ = [
    "LEAF_COLUMNS",
    "LEAF_ENCODING",
    "LEAF_FIELDS",
    "LEAF_LAYOUT",
    "LEAF_SIZE",
    "REASON_CODE_COUNT",
    "ZERO_HASH",
    "DecisionLeaf",
    "LeafColumns",
    "LeafError",
    "LeafField",
    "decode",
    "encode",
    "encode_columns",
    "leaf_hash",
    "leaf_hashes",
]


class LeafError(CreditLedgerError, ValueError):
    """A decision record is malformed; the message starts with the field name."""

    code = "leaf_invalid"
    hint = "a decision leaf carries exactly the fields of ledger/leaf.py, in their canonical forms"
    exit_code = 2


@dataclass(frozen=True)
class Abi:
    """How one :class:`DecisionLeaf` field is ABI-encoded and which store columns hold it.

    ``columns`` defaults to the field's own name; an array type (``uint16[4]``) has one
    column per element.
    """

    type: str
    columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DecisionLeaf:
    """One credit decision for one merchant in one round (validated, immutable).

    ``reason_codes`` accepts any sequence of four ints and is stored as a tuple;
    integer fields accept any ``operator.index``-able value (e.g. numpy ints
    from the scorer) and are stored as plain ``int``.
    """

    merchant_key: Annotated[bytes, Abi("bytes32")]
    round: Annotated[int, Abi("uint64", ("round_id",))]
    score: Annotated[int, Abi("uint16")]
    limit_cny: Annotated[int, Abi("uint32")]
    product_mask: Annotated[int, Abi("uint32")]
    reason_codes: Annotated[tuple[int, int, int, int], Abi("uint16[4]", ("reason1", "reason2", "reason3", "reason4"))]
    model_version: Annotated[int, Abi("uint32")]
    policy_version: Annotated[int, Abi("uint32")]
    feature_commitment: Annotated[bytes, Abi("bytes32")]
    prev_leaf_hash: Annotated[bytes, Abi("bytes32")]

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
        for name, count, maximum in _ARRAYS:
            codes = getattr(self, name)
            if (
                type(codes) is not tuple
                or len(codes) != count
                or not all(type(c) is int and 0 <= c <= maximum for c in codes)
            ):
                setter(self, name, _as_uint_array(name, codes, count, maximum))

    # -- JSON forms ---------------------------------------------------------

    def to_values(self) -> list[Any]:
        """The value list as ``@openzeppelin/merkle-tree``'s dump stores it."""
        return [_TO_VALUE[f.kind](getattr(self, f.name)) for f in LEAF_LAYOUT]

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> DecisionLeaf:
        """Parse the form :meth:`to_values` writes (ints may also be JSON numbers)."""
        if not isinstance(values, (list, tuple)) or len(values) != len(LEAF_FIELDS):
            raise LeafError(f"values: expected a list of {len(LEAF_FIELDS)} items, got {_describe(values)}")
        return cls._from_json_fields(dict(zip(LEAF_FIELDS, values)))

    def to_dict(self) -> dict[str, Any]:
        """Python field names; bytes32 as ``0x`` hex, ints as ints."""
        return {f.name: _TO_DICT[f.kind](getattr(self, f.name)) for f in LEAF_LAYOUT}

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
        parsed: dict[str, Any] = {}
        for f in LEAF_LAYOUT:
            value = fields[f.name]
            if f.kind == "bytes32":
                parsed[f.name] = _parse_hex32(f.name, value)
            elif f.kind == "uint":
                parsed[f.name] = _parse_int(f.name, value)
            else:
                if not isinstance(value, (list, tuple)) or len(value) != f.length:
                    raise LeafError(f"{f.name}: expected a list of {f.length} codes, got {_describe(value)}")
                parsed[f.name] = tuple(_parse_int(f"{f.name}[{i}]", c) for i, c in enumerate(value))
        return cls(**parsed)

    def to_abi_tuple(self) -> tuple[Any, ...]:
        """The argument web3 passes for ``CreditLedger.DecisionLeaf`` (fields in ABI order)."""
        return tuple(list(v) if type(v) is tuple else v for v in _FIELD_VALUES(self))

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> DecisionLeaf:
        """The leaf whose store columns are ``columns`` (a row mapping; extra keys ignored)."""
        values: dict[str, Any] = {}
        for f in LEAF_LAYOUT:
            if f.kind == "uint_array":
                values[f.name] = tuple(columns[c] for c in f.columns)
            else:
                values[f.name] = columns[f.columns[0]]
        return cls(**values)

    # -- hashing conveniences -------------------------------------------------

    def encode(self) -> bytes:
        """Same as :func:`encode`."""
        return encode(self)

    def leaf_hash(self) -> bytes:
        """Same as :func:`leaf_hash`."""
        return leaf_hash(self)


# -- the layout, derived from DecisionLeaf's annotations ------------------------------

_ARRAY_TYPE = re.compile(r"(uint(\d+))\[(\d+)\]\Z")
_UINT_TYPE = re.compile(r"uint(\d+)\Z")


@dataclass(frozen=True)
class LeafField:
    """One leaf field: its name, ABI type and store columns."""

    name: str
    abi_type: str
    kind: str  # "bytes32", "uint" or "uint_array"
    bits: int  # integer width (256 for bytes32)
    length: int  # 1, or the array length
    columns: tuple[str, ...]

    @property
    def maximum(self) -> int:
        return (1 << self.bits) - 1


def _layout() -> tuple[LeafField, ...]:
    hints = typing.get_type_hints(DecisionLeaf, include_extras=True)
    out = []
    for name, hint in hints.items():
        abi = next(m for m in hint.__metadata__ if isinstance(m, Abi))
        if abi.type == "bytes32":
            out.append(LeafField(name, abi.type, "bytes32", 256, 1, abi.columns or (name,)))
        elif (array := _ARRAY_TYPE.match(abi.type)) is not None:
            length = int(array.group(3))
            columns = abi.columns or tuple(f"{name}{i}" for i in range(length))
            if len(columns) != length:
                raise AssertionError(f"{name}: {len(columns)} columns for {abi.type}")
            out.append(LeafField(name, abi.type, "uint_array", int(array.group(2)), length, columns))
        elif (uint := _UINT_TYPE.match(abi.type)) is not None:
            out.append(LeafField(name, abi.type, "uint", int(uint.group(1)), 1, abi.columns or (name,)))
        else:  # pragma: no cover - a layout change must extend this table
            raise AssertionError(f"{name}: ABI type {abi.type} is not supported by ledger.leaf")
    return tuple(out)


LEAF_LAYOUT: tuple[LeafField, ...] = _layout()
"""Every field of the leaf, in ABI order."""

LEAF_FIELDS: tuple[str, ...] = tuple(f.name for f in LEAF_LAYOUT)
"""Field names, in ABI order."""

LEAF_ENCODING: tuple[str, ...] = tuple(f.abi_type for f in LEAF_LAYOUT)
"""ABI types of :data:`LEAF_FIELDS`, the ``leafEncoding`` of every tree dump."""

LEAF_COLUMNS: tuple[str, ...] = tuple(c for f in LEAF_LAYOUT for c in f.columns)
"""The store's columns for the leaf, in ABI order (an array field spans several)."""

_BYTES32_FIELDS: tuple[str, ...] = tuple(f.name for f in LEAF_LAYOUT if f.kind == "bytes32")
_UINT_MAX: tuple[tuple[str, int], ...] = tuple((f.name, f.maximum) for f in LEAF_LAYOUT if f.kind == "uint")
_ARRAYS: tuple[tuple[str, int, int], ...] = tuple(
    (f.name, f.length, f.maximum) for f in LEAF_LAYOUT if f.kind == "uint_array"
)
if len(_ARRAYS) != 1:  # pragma: no cover - the reason codes are the one array
    raise AssertionError("ledger.leaf expects exactly one array field (the reason codes)")
REASON_CODE_COUNT: int = _ARRAYS[0][1]

ZERO_HASH: bytes = bytes(32)
"""``prev_leaf_hash`` of a merchant's first decision."""

# Every field is a static type, so the encoding is a fixed layout: each value
# right-aligned in its own 32-byte word (the ``x`` pad bytes are the zero
# high-order bytes). One struct.pack call is several times faster than
# concatenating int.to_bytes results, and this runs a million times a round.
_UINT_CODE = {8: "B", 16: "H", 32: "I", 64: "Q"}


def _word(field: LeafField) -> str:
    if field.kind == "bytes32":
        return "32s"
    return f"{32 - field.bits // 8}x{_UINT_CODE[field.bits]}"


_LAYOUT = struct.Struct(">" + "".join(_word(f) * f.length for f in LEAF_LAYOUT))
LEAF_SIZE: int = _LAYOUT.size
assert LEAF_SIZE == 32 * sum(f.length for f in LEAF_LAYOUT)
_pack = _LAYOUT.pack
_unpack = _LAYOUT.unpack
_FIELD_VALUES: Callable[[DecisionLeaf], tuple[Any, ...]] = operator.attrgetter(*LEAF_FIELDS)

# Canonical JSON forms only: an input that would not round-trip to the same
# text is malformed (the hash would agree, but two different files describing
# the same leaf is exactly what an audit file must not allow).
_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}\Z")
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]{0,19})\Z")

_TO_VALUE: dict[str, Callable[[Any], Any]] = {
    "bytes32": lambda b: "0x" + b.hex(),
    "uint": str,
    "uint_array": lambda codes: [str(c) for c in codes],
}
_TO_DICT: dict[str, Callable[[Any], Any]] = {
    "bytes32": lambda b: "0x" + b.hex(),
    "uint": lambda n: n,
    "uint_array": list,
}


def _generate(name: str, args: str, body: str) -> Any:
    """A function compiled from ``body``, an expression over the layout (see the module docstring)."""
    namespace: dict[str, Any] = {"_pack": _pack, "_k": keccak256}
    exec(f"def {name}({args}):\n    return {body}\n", namespace)  # noqa: S102 - text built from LEAF_LAYOUT only
    return namespace[name]


def _leaf_words(var: str) -> str:
    """``lf.merchant_key, lf.round, ..., lf.reason_codes[0], ...``: one leaf's packed values."""
    parts = []
    for f in LEAF_LAYOUT:
        if f.kind == "uint_array":
            parts += [f"{var}.{f.name}[{i}]" for i in range(f.length)]
        else:
            parts.append(f"{var}.{f.name}")
    return ", ".join(parts)


_encode_leaf: Callable[[DecisionLeaf], bytes] = _generate("encode", "lf", f"_pack({_leaf_words('lf')})")
_hash_leaves: Callable[[Iterable[DecisionLeaf]], list[bytes]] = _generate(
    "leaf_hashes", "leaves", f"[_k(_k(_pack({_leaf_words('lf')}))) for lf in leaves]"
)


def _as_uint(field: str, value: Any, maximum: int) -> int:
    if isinstance(value, bool) or isinstance(value, (str, bytes, float)):
        raise LeafError(f"{field}: expected an integer, got {type(value).__name__} {shown(value, None)}")
    try:
        number = operator.index(value)  # accepts numpy integers, rejects floats
    except TypeError:
        raise LeafError(f"{field}: expected an integer, got {type(value).__name__} {shown(value, None)}") from None
    if not 0 <= number <= maximum:
        raise LeafError(f"{field}: {number} is out of range 0..{maximum}")
    return number


def _as_uint_array(field: str, codes: Any, count: int, maximum: int) -> tuple[int, ...]:
    if isinstance(codes, (str, bytes, bytearray, memoryview)) or not isinstance(codes, Iterable):
        raise LeafError(f"{field}: expected {count} integers, got {type(codes).__name__}")
    items = list(codes)
    if len(items) != count:
        raise LeafError(f"{field}: expected exactly {count} codes, got {len(items)}")
    return tuple(_as_uint(f"{field}[{i}]", c, maximum) for i, c in enumerate(items))


def _as_bytes32(field: str, value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise LeafError(f"{field}: expected 32 bytes, got {type(value).__name__}")
    data = value if type(value) is bytes else bytes(value)
    if len(data) != 32:
        raise LeafError(f"{field}: expected 32 bytes, got {len(data)}")
    return data


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


def _parse_hex32(field: str, value: Any) -> bytes:
    if not isinstance(value, str) or not _HEX32.match(value):
        raise LeafError(f"{field}: expected '0x' followed by 64 hex digits, got {shown(value, 80)}")
    return bytes.fromhex(value[2:])


def _parse_int(field: str, value: Any) -> int:
    if isinstance(value, str):
        if not _DECIMAL.match(value):
            raise LeafError(f"{field}: expected a canonical decimal string, got {shown(value, 80)}")
        return int(value)
    if type(value) is int:  # JSON numbers; bool and float are malformed here
        return value
    raise LeafError(f"{field}: expected a decimal string or integer, got {type(value).__name__}")


def encode(leaf: DecisionLeaf) -> bytes:
    """Canonical ``abi.encode`` of the leaf's fields (416 bytes)."""
    return _encode_leaf(leaf)


def decode(data: bytes) -> DecisionLeaf:
    """Inverse of :func:`encode`; rejects wrong length and non-zero padding."""
    if len(data) != LEAF_SIZE:
        raise LeafError(f"encoding: expected {LEAF_SIZE} bytes, got {len(data)}")
    leaf = DecisionLeaf.from_columns(dict(zip(LEAF_COLUMNS, _unpack(data))))
    # struct skips pad bytes without looking at them; a non-canonical word
    # (dirty high bytes) must not decode to a leaf with a different hash.
    if encode(leaf) != bytes(data):
        raise LeafError("encoding: non-zero padding in an integer word")
    return leaf


def leaf_hash(leaf: DecisionLeaf) -> bytes:
    """``keccak256(keccak256(encode(leaf)))`` -- StandardMerkleTree's leaf hash."""
    return keccak256(keccak256(_encode_leaf(leaf)))


def leaf_hashes(leaves: Iterable[DecisionLeaf]) -> list[bytes]:
    """:func:`leaf_hash` of many leaves, with the per-call lookups hoisted."""
    return _hash_leaves(leaves)


# -- column batches -------------------------------------------------------------
#
# A round builds a million leaves; making a validated DecisionLeaf per merchant
# (and then a store row and a JSON value list from it) costs more than hashing
# them. The functions below take the fields column by column -- one list per
# field, the four reason codes as four lists, and round/model/policy as single
# values (one batch shares them) -- and produce the same bytes as the per-leaf
# functions above; tests compare the two byte for byte.

#: Fields a batch shares (one value for every leaf of the batch).
BATCH_FIELDS: tuple[str, ...] = ("round", "model_version", "policy_version")


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

    The fields are :data:`LEAF_FIELDS` (a test keeps them in step): a sequence per
    field, except the :data:`BATCH_FIELDS` (one value for the batch) and the array
    field, which is a tuple of one sequence per element. A read-only sequence of
    :class:`DecisionLeaf`: indexing builds the leaf on demand, so code written for
    a list of leaves works unchanged, while the bulk operations (:meth:`encodings`,
    :meth:`hashes`, :meth:`values_json`) never make per-leaf objects.
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
        for f in LEAF_LAYOUT:
            value = getattr(self, f.name)
            if f.name in BATCH_FIELDS:
                object.__setattr__(self, f.name, _as_uint(f.name, value, f.maximum))
            elif f.kind == "bytes32":
                _check_bytes32_column(f.name, value, n)
            elif f.kind == "uint":
                _check_int_column(f.name, value, n, f.maximum)
            else:
                if len(value) != f.length:
                    raise LeafError(f"{f.name}: expected {f.length} columns, got {len(value)}")
                for j, column in enumerate(value):
                    _check_int_column(f"{f.name}{j}", column, n, f.maximum)

    def __len__(self) -> int:
        return len(self.merchant_key)

    @typing.overload
    def __getitem__(self, i: int) -> DecisionLeaf: ...

    @typing.overload
    def __getitem__(self, i: slice) -> list[DecisionLeaf]: ...

    def __getitem__(self, i: int | slice) -> DecisionLeaf | list[DecisionLeaf]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        values: dict[str, Any] = {}
        for f in LEAF_LAYOUT:
            column = getattr(self, f.name)
            if f.name in BATCH_FIELDS:
                values[f.name] = column
            elif f.kind == "uint_array":
                values[f.name] = tuple(c[i] for c in column)
            else:
                values[f.name] = column[i]
        return DecisionLeaf(**values)

    def __iter__(self) -> Iterator[DecisionLeaf]:
        for i in range(len(self)):
            yield self[i]

    @classmethod
    def from_leaves(cls, leaves: Sequence[DecisionLeaf]) -> LeafColumns:
        """Columns of ``leaves`` (all must share round, model and policy)."""
        if not leaves:
            raise LeafError("leaves: at least one leaf needed")
        first = leaves[0]
        shared = operator.attrgetter(*BATCH_FIELDS)
        for i, lf in enumerate(leaves):
            if shared(lf) != shared(first):
                raise LeafError(f"leaves[{i}]: round/model/policy differ from leaves[0]")
        values: dict[str, Any] = {}
        for f in LEAF_LAYOUT:
            if f.name in BATCH_FIELDS:
                values[f.name] = getattr(first, f.name)
            elif f.kind == "uint_array":
                values[f.name] = tuple(list(c) for c in zip(*(getattr(lf, f.name) for lf in leaves)))
            else:
                values[f.name] = [getattr(lf, f.name) for lf in leaves]
        return cls(**values)

    def _word_columns(self, part: slice = slice(None)) -> list[Iterable[Any]]:
        """One iterable per packed word (:data:`LEAF_COLUMNS`), over the leaves ``part``."""
        out: list[Iterable[Any]] = []
        for f in LEAF_LAYOUT:
            value = getattr(self, f.name)
            if f.name in BATCH_FIELDS:
                out.append(repeat(value))
            elif f.kind == "uint_array":
                out.extend(c[part] for c in value)
            else:
                out.append(value[part])
        return out

    def encodings(self) -> list[bytes]:
        """:func:`encode` of every leaf, in order."""
        return encode_columns(self)

    def hashes(self) -> list[bytes]:
        """:func:`leaf_hash` of every leaf, in order."""
        k = keccak256
        pack = _pack
        return [k(k(pack(*words))) for words in zip(*self._word_columns())]

    def values_json(self, start: int = 0, stop: int | None = None) -> list[str]:
        """Each leaf's :meth:`DecisionLeaf.to_values` as compact JSON text (leaves ``start:stop``).

        Equal to ``json.dumps(leaf.to_values(), separators=(",", ":"))``: the
        values are lowercase hex and decimal strings, none needs escaping.
        """
        part = slice(start, stop)
        columns: list[Sequence[Any]] = []
        shared: dict[str, str] = {}
        for f in LEAF_LAYOUT:
            value = getattr(self, f.name)
            if f.name in BATCH_FIELDS:
                shared[f.name] = str(value)
            elif f.kind == "uint_array":
                columns.extend(c[part] for c in value)
            else:
                columns.append(value[part])
        return _values_json(columns, **shared)


def _values_json_source() -> str:
    """The body of :func:`_values_json`: one f-string per leaf, its pieces in layout order."""
    pieces: list[str] = []
    names: list[str] = []
    for f in LEAF_LAYOUT:
        if f.name in BATCH_FIELDS:
            pieces.append(f'"{{{f.name}}}"')
        elif f.kind == "bytes32":
            names.append(f"v{len(names)}")
            pieces.append(f'"0x{{{names[-1]}.hex()}}"')
        elif f.kind == "uint":
            names.append(f"v{len(names)}")
            pieces.append(f'"{{{names[-1]}}}"')
        else:
            element = []
            for _ in range(f.length):
                names.append(f"v{len(names)}")
                element.append(f'"{{{names[-1]}}}"')
            pieces.append("[" + ",".join(element) + "]")
    return f"[f'[{','.join(pieces)}]' for {', '.join(names)} in zip(*columns)]"


#: ``[json.dumps(leaf.to_values(), separators=(",", ":")) for each leaf]`` from per-leaf
#: columns (the array expanded) and the batch's shared values as strings; generated from
#: the layout, as fast as a hand-written f-string (the batch file writes a million).
_values_json: Callable[..., list[str]] = _generate(
    "values_json", "columns, " + ", ".join(BATCH_FIELDS), _values_json_source()
)


def encode_columns(cols: LeafColumns) -> list[bytes]:
    """:func:`encode` of every leaf of ``cols`` (416 bytes each), without leaf objects."""
    pack = _pack
    return [pack(*words) for words in zip(*cols._word_columns())]
