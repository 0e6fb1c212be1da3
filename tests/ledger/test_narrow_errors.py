"""Untrusted input through third-party decoders: a revert's bytes, a key file's values.

``decode_revert`` decodes whatever revert data a node hands back; whatever its
arguments are, it names the error and never raises (eth-abi raises DecodingError,
ValueError and even OverflowError for crafted lengths, so that catch stays broad).
``RoleAccounts.from_keys_file`` catches eth-account's ``ValueError`` and ``TypeError``
only; every JSON value a key file can hold ends in :class:`KeyError_`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.accounts import KeyError_, RoleAccounts
from ledger.chain import ErrorSignature, decode_revert

SELECTOR = bytes.fromhex("deadbeef")
SIGNATURES = [
    ("string",),
    ("uint256",),
    ("bytes32", "uint64"),
    ("bytes",),
    ("address[]",),
    ("string", "uint256"),
    ("uint16[4]",),
    ("(uint64,bytes32)",),
    ("bool", "int8"),
]


@settings(max_examples=300, deadline=None)
@given(types=st.sampled_from(SIGNATURES), payload=st.binary(max_size=200))
def test_decode_revert_never_raises_for_arbitrary_argument_bytes(types: tuple[str, ...], payload: bytes) -> None:
    table = {SELECTOR: ErrorSignature("Broken", types)}
    name, args = decode_revert(SELECTOR + payload, table)
    assert name == "Broken"
    assert isinstance(args, tuple)


@settings(max_examples=100, deadline=None)
@given(types=st.sampled_from(SIGNATURES), words=st.lists(st.integers(0, 300), min_size=1, max_size=6))
def test_decode_revert_survives_bad_offsets_and_lengths(types: tuple[str, ...], words: list[int]) -> None:
    # small integers as words: plausible offsets and lengths that point past the data
    payload = b"".join(w.to_bytes(32, "big") for w in words)
    name, _args = decode_revert(SELECTOR + payload, {SELECTOR: ErrorSignature("Broken", types)})
    assert name == "Broken"


def test_decode_revert_of_a_string_that_is_not_utf8() -> None:
    payload = (32).to_bytes(32, "big") + (2).to_bytes(32, "big") + b"\xff\xfe".ljust(32, b"\0")
    assert decode_revert(SELECTOR + payload, {SELECTOR: ErrorSignature("Broken", ("string",))}) == ("Broken", ())


@pytest.mark.parametrize(
    "key",
    ["", "abc", "0x12", "0xzz", "0x" + "00" * 32, "0x" + "ff" * 32, "0x" + "11" * 33, 12, 1.5, True, None, [], {}],
)
def test_a_malformed_key_of_any_json_type_is_a_key_file_error(tmp_path: Path, key: Any) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"admin": key}))
    with pytest.raises(KeyError_, match="not a valid private key"):
        RoleAccounts.from_keys_file(path)
