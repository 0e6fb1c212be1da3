"""The decision record: layout, canonical ABI encoding, validation, JSON forms."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import eth_abi
import pytest
from eth_utils import keccak as reference_keccak  # test oracle only, never used by ledger/
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.keccak import KECCAK_EMPTY, keccak256, keccak256_any
from ledger.leaf import (
    LEAF_ENCODING,
    LEAF_FIELDS,
    LEAF_SIZE,
    ZERO_HASH,
    DecisionLeaf,
    LeafError,
    decode,
    encode,
    leaf_hash,
    leaf_hashes,
)

UINT_BITS = {
    "round": 64,
    "score": 16,
    "limit_cny": 32,
    "product_mask": 32,
    "model_version": 32,
    "policy_version": 32,
}
BYTES32_FIELDS = ("merchant_key", "feature_commitment", "prev_leaf_hash")

b32 = st.binary(min_size=32, max_size=32)


def uint(bits: int) -> st.SearchStrategy[int]:
    # bias towards the edges where encoding bugs live
    top = (1 << bits) - 1
    return st.one_of(st.sampled_from([0, 1, top - 1, top]), st.integers(0, top))


decision_leaves = st.builds(
    DecisionLeaf,
    merchant_key=b32,
    round=uint(64),
    score=uint(16),
    limit_cny=uint(32),
    product_mask=uint(32),
    reason_codes=st.tuples(uint(16), uint(16), uint(16), uint(16)),
    model_version=uint(32),
    policy_version=uint(32),
    feature_commitment=b32,
    prev_leaf_hash=st.one_of(st.just(ZERO_HASH), b32),
)


def sample_kwargs() -> dict[str, Any]:
    return dict(
        merchant_key=b"\x11" * 32,
        round=7,
        score=712,
        limit_cny=150_000,
        product_mask=0b1011,
        reason_codes=(12, 3, 0, 0),
        model_version=2,
        policy_version=5,
        feature_commitment=b"\x22" * 32,
        prev_leaf_hash=ZERO_HASH,
    )


def abi_values(leaf: DecisionLeaf) -> list[Any]:
    return [getattr(leaf, f) if f != "reason_codes" else list(leaf.reason_codes) for f in LEAF_FIELDS]


# -- layout -----------------------------------------------------------------------


def test_layout_is_consistent() -> None:
    assert tuple(f.name for f in dataclasses.fields(DecisionLeaf)) == LEAF_FIELDS
    assert len(LEAF_ENCODING) == len(LEAF_FIELDS) == 10
    assert LEAF_ENCODING[5] == "uint16[4]"
    assert LEAF_SIZE == 416


def test_keccak_known_vectors() -> None:
    assert KECCAK_EMPTY.hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    assert keccak256_any(bytearray(b"abc")) == keccak256(b"abc")


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=600))
def test_keccak_matches_reference(data: bytes) -> None:
    assert keccak256(data) == reference_keccak(data)


# -- encoding ---------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(decision_leaves)
def test_encode_matches_eth_abi(leaf: DecisionLeaf) -> None:
    expected = eth_abi.encode(list(LEAF_ENCODING), abi_values(leaf))
    assert encode(leaf) == expected
    assert len(expected) == LEAF_SIZE
    assert leaf_hash(leaf) == keccak256(keccak256(expected)) == leaf.leaf_hash()
    assert decode(expected) == leaf


@settings(max_examples=20, deadline=None)
@given(st.lists(decision_leaves, max_size=10))
def test_leaf_hashes_batch(leaves: list[DecisionLeaf]) -> None:
    assert leaf_hashes(leaves) == [leaf_hash(lf) for lf in leaves]


def test_decode_rejects_dirty_padding_and_length() -> None:
    data = bytearray(encode(DecisionLeaf(**sample_kwargs())))
    data[32] = 1  # a high byte of the uint64 round word
    with pytest.raises(LeafError, match="padding"):
        decode(bytes(data))
    with pytest.raises(LeafError, match="416"):
        decode(bytes(data[:-1]))


# -- validation ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(UINT_BITS)),
    st.one_of(st.integers(max_value=-1), st.integers(min_value=1 << 64)),
    st.data(),
)
def test_out_of_range_ints_rejected(field: str, big_or_negative: int, data: st.DataObject) -> None:
    bits = UINT_BITS[field]
    value = data.draw(st.one_of(st.just(big_or_negative), st.integers(min_value=1 << bits, max_value=1 << 70)))
    kwargs = sample_kwargs() | {field: value}
    with pytest.raises(LeafError, match=f"^{field}:"):
        DecisionLeaf(**kwargs)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3), st.one_of(st.integers(max_value=-1), st.integers(min_value=1 << 16)))
def test_out_of_range_reason_code_rejected(position: int, value: int) -> None:
    codes = [0, 0, 0, 0]
    codes[position] = value
    with pytest.raises(LeafError, match=rf"^reason_codes\[{position}\]:"):
        DecisionLeaf(**(sample_kwargs() | {"reason_codes": codes}))


@settings(deadline=None)
@given(st.sampled_from(BYTES32_FIELDS), st.binary(max_size=64).filter(lambda b: len(b) != 32))
def test_wrong_length_bytes32_rejected(field: str, value: bytes) -> None:
    with pytest.raises(LeafError, match=f"^{field}:"):
        DecisionLeaf(**(sample_kwargs() | {field: value}))


@pytest.mark.parametrize(
    "field, value",
    [
        ("score", True),
        ("score", 700.0),
        ("round", "7"),
        ("limit_cny", None),
        ("merchant_key", "0x" + "11" * 32),
        ("reason_codes", (1, 2, 3)),
        ("reason_codes", (1, 2, 3, 4, 5)),
        ("reason_codes", "abcd"),
        ("reason_codes", 5),
        ("reason_codes", (1, 2, 3, False)),
    ],
)
def test_wrong_types_rejected(field: str, value: Any) -> None:
    with pytest.raises(LeafError, match=f"^{field}"):
        DecisionLeaf(**(sample_kwargs() | {field: value}))


def test_normalisation_of_accepted_inputs() -> None:
    np = pytest.importorskip("numpy")
    leaf = DecisionLeaf(
        **(
            sample_kwargs()
            | {
                "score": np.int64(640),
                "reason_codes": [np.uint16(4), 3, 2, 1],
                "merchant_key": bytearray(b"\x11" * 32),
            }
        )
    )
    assert type(leaf.score) is int and leaf.score == 640
    assert leaf.reason_codes == (4, 3, 2, 1) and all(type(c) is int for c in leaf.reason_codes)
    assert type(leaf.merchant_key) is bytes
    assert leaf == DecisionLeaf(**(sample_kwargs() | {"score": 640, "reason_codes": (4, 3, 2, 1)}))
    hash(leaf)  # frozen and hashable


def test_frozen() -> None:
    leaf = DecisionLeaf(**sample_kwargs())
    with pytest.raises(dataclasses.FrozenInstanceError):
        leaf.score = 1  # type: ignore[misc]


# -- JSON forms -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(decision_leaves)
def test_values_and_dict_round_trip(leaf: DecisionLeaf) -> None:
    values = json.loads(json.dumps(leaf.to_values()))
    assert DecisionLeaf.from_values(values) == leaf
    as_dict = json.loads(json.dumps(leaf.to_dict()))
    assert DecisionLeaf.from_dict(as_dict) == leaf
    assert list(as_dict) == list(LEAF_FIELDS)


def test_values_form_is_what_oz_dump_stores() -> None:
    leaf = DecisionLeaf(**sample_kwargs())
    assert leaf.to_values() == [
        "0x" + "11" * 32,
        "7",
        "712",
        "150000",
        "11",
        ["12", "3", "0", "0"],
        "2",
        "5",
        "0x" + "22" * 32,
        "0x" + "00" * 32,
    ]


def test_from_values_accepts_json_numbers_and_uppercase_hex() -> None:
    values = DecisionLeaf(**sample_kwargs()).to_values()
    values[1] = 7
    values[5] = [12, 3, 0, 0]
    values[0] = "0x" + "AB" * 32
    leaf = DecisionLeaf.from_values(values)
    assert leaf.round == 7 and leaf.merchant_key == b"\xab" * 32


@pytest.mark.parametrize(
    "index, bad, field",
    [
        (0, "11" * 32, "merchant_key"),  # no 0x
        (0, "0x" + "11" * 31, "merchant_key"),  # 31 bytes
        (0, "0x" + "11" * 33, "merchant_key"),
        (0, "0x" + "1g" * 32, "merchant_key"),
        (0, "0x" + "11" * 31 + " 1", "merchant_key"),
        (8, b"\x22" * 32, "feature_commitment"),  # bytes are not the JSON form
        (9, None, "prev_leaf_hash"),
        (1, "07", "round"),  # non-canonical decimal
        (1, "-1", "round"),
        (1, "0x7", "round"),
        (1, " 7", "round"),
        (1, "18446744073709551616", "round"),  # 2**64
        (2, 7.0, "score"),
        (2, True, "score"),
        (2, "65536", "score"),
        (5, ["1", "2", "3"], "reason_codes"),
        (5, "1,2,3,4", "reason_codes"),
        (5, ["1", "2", "3", "x"], r"reason_codes\[3\]"),
    ],
)
def test_from_values_rejects_malformed(index: int, bad: Any, field: str) -> None:
    values = DecisionLeaf(**sample_kwargs()).to_values()
    values[index] = bad
    with pytest.raises(LeafError, match=f"^{field}"):
        DecisionLeaf.from_values(values)


@pytest.mark.parametrize("values", [None, "x", [], ["0x" + "11" * 32] * 9, [0] * 11])
def test_from_values_rejects_wrong_shape(values: Any) -> None:
    with pytest.raises(LeafError, match=r"^values"):
        DecisionLeaf.from_values(values)


def test_from_dict_rejects_missing_and_unknown_fields() -> None:
    data = DecisionLeaf(**sample_kwargs()).to_dict()
    missing = {k: v for k, v in data.items() if k != "score"}
    with pytest.raises(LeafError, match=r"^score: missing"):
        DecisionLeaf.from_dict(missing)
    with pytest.raises(LeafError, match=r"^merchant_id: unknown"):
        DecisionLeaf.from_dict(data | {"merchant_id": "real-name"})
    with pytest.raises(LeafError, match=r"^score"):
        DecisionLeaf.from_dict(data | {"score": "70000"})
    assert DecisionLeaf.from_dict(data | {"score": "712"}) == DecisionLeaf(**sample_kwargs())
