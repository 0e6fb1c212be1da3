"""The Merkle tree: shape, proofs, tamper evidence, dump/load (Python side only)."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.keccak import keccak256
from ledger.leaf import LEAF_ENCODING, ZERO_HASH, DecisionLeaf, leaf_hash, leaf_hashes
from ledger.merkle import (
    MerkleError,
    MerkleTree,
    dump,
    hash_pair,
    load,
    process_proof,
    proof_from_nodes,
    verify,
)

hashes32 = st.binary(min_size=32, max_size=32)
# duplicates on purpose: equal leaves must keep input order, as in JS
leaf_sets = st.lists(hashes32, min_size=1, max_size=300).flatmap(
    lambda hs: st.lists(st.sampled_from(hs), min_size=0, max_size=3).map(lambda extra: hs + extra)
)

b32 = st.binary(min_size=32, max_size=32)
decision_leaves = st.builds(
    DecisionLeaf,
    merchant_key=b32,
    round=st.integers(0, 2**64 - 1),
    score=st.integers(0, 2**16 - 1),
    limit_cny=st.integers(0, 2**32 - 1),
    product_mask=st.integers(0, 2**32 - 1),
    reason_codes=st.tuples(*[st.integers(0, 2**16 - 1)] * 4),
    model_version=st.integers(0, 2**32 - 1),
    policy_version=st.integers(0, 2**32 - 1),
    feature_commitment=b32,
    prev_leaf_hash=st.one_of(st.just(ZERO_HASH), b32),
)


def reference_tree(leaves: list[bytes]) -> tuple[list[bytes], list[int]]:
    """Straight transcription of OZ's StandardMerkleTree.prepare + makeMerkleTree."""
    order = sorted(range(len(leaves)), key=lambda i: leaves[i])  # stable, like JS sort
    size = 2 * len(leaves) - 1
    tree: list[bytes] = [b""] * size
    for k, i in enumerate(order):
        tree[size - 1 - k] = leaves[i]
    for i in range(size - 1 - len(leaves), -1, -1):
        a, b = sorted([tree[2 * i + 1], tree[2 * i + 2]])
        tree[i] = keccak256(a + b)
    tree_index = [0] * len(leaves)
    for k, i in enumerate(order):
        tree_index[i] = size - 1 - k
    return tree, tree_index


def flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def make_leaves(n: int, seed: int = 0) -> list[DecisionLeaf]:
    rnd = __import__("random").Random(seed)
    return [
        DecisionLeaf(
            merchant_key=rnd.randbytes(32),
            round=3,
            score=rnd.randint(300, 900),
            limit_cny=rnd.randint(5_000, 300_000),
            product_mask=rnd.getrandbits(8),
            reason_codes=(rnd.randint(1, 40), rnd.randint(1, 40), 0, 0),
            model_version=1,
            policy_version=1,
            feature_commitment=rnd.randbytes(32),
            prev_leaf_hash=ZERO_HASH if i % 2 else rnd.randbytes(32),
        )
        for i in range(n)
    ]


# -- shape ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(leaf_sets)
def test_matches_reference_construction(leaves: list[bytes]) -> None:
    tree = MerkleTree.build(leaves)
    nodes, tree_index = reference_tree(leaves)
    assert tree.nodes == nodes
    assert tree.tree_indices == tree_index
    assert tree.root == nodes[0]
    assert len(tree) == len(leaves)
    assert [tree.leaf(i) for i in range(len(leaves))] == leaves


@pytest.mark.parametrize("n", [4095, 4096, 4097, 6001])
def test_large_trees_take_the_fast_sort_path_correctly(n: int) -> None:
    leaves = [os.urandom(32) for _ in range(n)]
    # force 64-bit prefix ties without equal leaves in one variant
    if n == 6001:
        leaves[10] = leaves[20][:8] + os.urandom(24)
        leaves[11] = leaves[20]  # and a true duplicate
    tree = MerkleTree.build(leaves)
    nodes, tree_index = reference_tree(leaves)
    assert tree.nodes == nodes
    assert tree.tree_indices == tree_index


def test_single_leaf() -> None:
    h = os.urandom(32)
    tree = MerkleTree.build([h])
    assert tree.root == h and tree.nodes == [h]
    assert tree.tree_index(0) == 0
    assert tree.proof(0) == [] and tree.all_proofs() == [()]
    assert verify(tree.root, h, [])
    assert not verify(tree.root, flip(h, 0), [])


def test_two_leaves() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    tree = MerkleTree.build([b, a])
    assert tree.root == keccak256(a + b) == hash_pair(b, a)
    assert tree.nodes == [tree.root, b, a]  # larger leaf first, smallest last
    assert tree.tree_indices == [1, 2]
    assert tree.proof(0) == [a] and tree.proof(1) == [b]


def test_rejects_bad_input() -> None:
    with pytest.raises(MerkleError, match="zero leaves"):
        MerkleTree.build([])
    with pytest.raises(MerkleError, match=r"leaf_hashes\[1\]"):
        MerkleTree.build([b"\x00" * 32, b"\x00" * 31])
    with pytest.raises(MerkleError, match=r"leaf_hashes\[0\]"):
        MerkleTree.build(["0x" + "00" * 32])  # type: ignore[list-item]
    tree = MerkleTree.build([b"\x00" * 32, b"\x01" * 32])
    for bad in (2, -1, "0"):
        with pytest.raises(IndexError):
            tree.proof(bad)  # type: ignore[arg-type]


def test_build_accepts_any_sequence() -> None:
    leaves = [os.urandom(32) for _ in range(5)]
    assert MerkleTree.build(tuple(leaves)).nodes == MerkleTree.build(leaves).nodes


# -- proofs ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(leaf_sets)
def test_every_proof_verifies(leaves: list[bytes]) -> None:
    tree = MerkleTree.build(leaves)
    proofs = tree.all_proofs()
    assert len(proofs) == len(leaves)
    for i, leaf in enumerate(leaves):
        assert list(proofs[i]) == tree.proof(i)
        assert process_proof(leaf, proofs[i]) == tree.root
        assert verify(tree.root, leaf, tree.proof(i))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaf_sets, st.data())
def test_tampering_is_detected(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree.build(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1), label="leaf")
    proof = tree.proof(i)
    bit = data.draw(st.integers(0, 255), label="bit")

    assert not verify(tree.root, flip(leaves[i], bit), proof)
    assert not verify(flip(tree.root, bit), leaves[i], proof)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1), label="proof element")
        bad = list(proof)
        bad[j] = flip(bad[j], bit)
        assert not verify(tree.root, leaves[i], bad)
        assert not verify(tree.root, leaves[i], proof[:-1])
        assert not verify(tree.root, leaves[i], proof + [proof[-1]])
    else:
        assert not verify(tree.root, leaves[i], [leaves[i]])


def test_verify_rejects_malformed_input_without_raising() -> None:
    leaves = [os.urandom(32) for _ in range(4)]
    tree = MerkleTree.build(leaves)
    proof = tree.proof(0)
    assert not verify(tree.root[:31], leaves[0], proof)
    assert not verify(tree.root, leaves[0][:31], proof)
    assert not verify(tree.root, leaves[0], [proof[0][:31], *proof[1:]])
    assert not verify("0x" + tree.root.hex(), leaves[0], proof)  # type: ignore[arg-type]
    with pytest.raises(MerkleError, match=r"proof\[1\]"):
        process_proof(leaves[0], [proof[0], b"short"])


def test_all_proofs_at_scale_without_rehashing() -> None:
    leaves = [os.urandom(32) for _ in range(20_000)]
    tree = MerkleTree.build(leaves)
    proofs = tree.all_proofs()
    for i in range(0, len(leaves), 997):
        assert list(proofs[i]) == tree.proof(i)
        assert verify(tree.root, leaves[i], proofs[i])


# -- dump / load ----------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(st.lists(decision_leaves, min_size=1, max_size=30))
def test_dump_load_round_trip(leaves: list[DecisionLeaf]) -> None:
    tree = MerkleTree.build(leaf_hashes(leaves))
    dumped = dump(tree, leaves)
    text = json.dumps(dumped, separators=(",", ":"))
    loaded_tree, loaded_leaves = load(json.loads(text))
    assert loaded_leaves == leaves
    assert loaded_tree.nodes == tree.nodes
    assert loaded_tree.tree_indices == tree.tree_indices
    assert dump(loaded_tree, loaded_leaves) == dumped
    # value lists are accepted as well as leaves
    assert dump(tree, [lf.to_values() for lf in leaves]) == dumped


def test_dump_structure() -> None:
    leaves = make_leaves(3)
    tree = MerkleTree.build([leaf_hash(lf) for lf in leaves])
    d = dump(tree, leaves)
    assert list(d) == ["format", "leafEncoding", "tree", "values"]
    assert d["format"] == "standard-v1"
    assert d["leafEncoding"] == list(LEAF_ENCODING)
    assert d["tree"] == ["0x" + h.hex() for h in tree.nodes]
    assert [list(v) for v in d["values"]] == [["value", "treeIndex"]] * 3
    assert [v["treeIndex"] for v in d["values"]] == tree.tree_indices
    with pytest.raises(MerkleError, match="2 values for a tree of 3"):
        dump(tree, leaves[:2])


@pytest.fixture
def good_dump() -> dict[str, Any]:
    leaves = make_leaves(9, seed=42)
    return dump(MerkleTree.build(leaf_hashes(leaves)), leaves)


def test_load_single_leaf() -> None:
    leaves = make_leaves(1)
    tree, loaded = load(dump(MerkleTree.build(leaf_hashes(leaves)), leaves))
    assert loaded == leaves and tree.root == leaf_hash(leaves[0])


def test_load_names_a_tampered_internal_node(good_dump: dict[str, Any]) -> None:
    bad = copy.deepcopy(good_dump)
    bad["tree"][3] = "0x" + "ab" * 32
    with pytest.raises(MerkleError, match=r"^tree\[3\]: node 0xabab"):
        load(bad)
    bad = copy.deepcopy(good_dump)
    bad["tree"][0] = "0x" + "00" * 32
    with pytest.raises(MerkleError, match=r"^tree\[0\]"):
        load(bad)


def test_load_names_a_tampered_value(good_dump: dict[str, Any]) -> None:
    bad = copy.deepcopy(good_dump)
    bad["values"][4]["value"][2] = "899"  # the score
    with pytest.raises(MerkleError, match=r"^values\[4\]: leaf hash"):
        load(bad)


def test_load_names_a_tampered_leaf_node(good_dump: dict[str, Any]) -> None:
    bad = copy.deepcopy(good_dump)
    pos = bad["values"][6]["treeIndex"]
    bad["tree"][pos] = "0x" + "cd" * 32
    with pytest.raises(MerkleError, match=rf"^values\[6\]: leaf hash .* tree\[{pos}\]"):
        load(bad)


def test_load_rejects_swapped_leaves(good_dump: dict[str, Any]) -> None:
    # a consistent but unsorted tree (valid for OZ with sortLeaves: false) is not canonical
    bad = copy.deepcopy(good_dump)
    v0, v1 = bad["values"][0], bad["values"][1]
    t0, t1 = v0["treeIndex"], v1["treeIndex"]
    bad["tree"][t0], bad["tree"][t1] = bad["tree"][t1], bad["tree"][t0]
    v0["treeIndex"], v1["treeIndex"] = t1, t0
    with pytest.raises(MerkleError, match=r"^values\[0\]: treeIndex .* sorted position"):
        load(bad)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(format="standard-v2"), "^format"),
        (lambda d: d.update(leafEncoding=["bytes32"]), "^leafEncoding"),
        (lambda d: d.pop("leafEncoding"), "^leafEncoding"),
        (lambda d: d.update(values=[]), "^values: expected a non-empty"),
        (lambda d: d["tree"].pop(), "^tree: 16 nodes, expected 17"),
        (lambda d: d["tree"].__setitem__(5, "0x1234"), r"^tree\[5\]: malformed"),
        (lambda d: d["tree"].__setitem__(5, "ab" * 33), r"^tree\[5\]: malformed"),
        (lambda d: d["tree"].__setitem__(5, "0x" + "zz" * 32), r"^tree\[5\]: malformed"),
        (lambda d: d["tree"].__setitem__(5, 7), r"^tree\[5\]: malformed"),
        (lambda d: d.update(tree="0x00"), "^tree: expected a list"),
        (lambda d: d["values"][2].update(treeIndex=0), r"^values\[2\]: treeIndex 0 is not a leaf"),
        (lambda d: d["values"][2].update(treeIndex="9"), r"^values\[2\]: treeIndex"),
        (lambda d: d["values"][2].pop("treeIndex"), r"^values\[2\]: expected"),
        (lambda d: d["values"][3]["value"].pop(), r"^values\[3\]: values: expected a list of 10"),
        (
            lambda d: d["values"][3]["value"].__setitem__(0, "0x12"),
            r"^values\[3\]: merchant_key",
        ),
    ],
)
def test_load_rejects_malformed_dumps(good_dump: dict[str, Any], mutate: Any, message: str) -> None:
    bad = copy.deepcopy(good_dump)
    mutate(bad)
    with pytest.raises(MerkleError, match=message):
        load(bad)
    load(good_dump)  # the fixture itself is fine


def test_load_rejects_non_mapping() -> None:
    with pytest.raises(MerkleError, match=r"^dump"):
        load([])  # type: ignore[arg-type]


# -- proof_from_nodes (pure) ----------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(leaves=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70), data=st.data())
def test_proof_from_nodes_matches_merkle_tree(leaves: list[bytes], data) -> None:
    tree = MerkleTree.build(leaves)
    nodes = b"".join(tree.nodes)
    assert len(nodes) == (2 * len(leaves) - 1) * 32
    i = data.draw(st.integers(min_value=0, max_value=len(leaves) - 1))
    proof = proof_from_nodes(nodes, tree.tree_index(i))
    assert proof == tree.proof(i)
    assert verify(tree.root, leaves[i], proof)


def test_proof_from_nodes_edges() -> None:
    single = MerkleTree.build([b"\x01" * 32])
    assert proof_from_nodes(b"".join(single.nodes), 0) == []
    with pytest.raises(MerkleError):
        proof_from_nodes(b"\x00" * 64, 0)  # even node count
    with pytest.raises(MerkleError):
        proof_from_nodes(b"\x00" * 96, 3)
