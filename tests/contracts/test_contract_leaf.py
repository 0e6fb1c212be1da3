"""The Solidity leaf mirrors ledger/leaf.py; proofs from ledger.merkle verify on-chain;
gas of anchoring and of a 20-sibling proof check (printed, never asserted)."""

from __future__ import annotations

import os
import re

from contracts_support import SEG_MERCHANT, Env, fresh_hash, leaf_tuple, make_leaf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.keccak import keccak256
from ledger.leaf import LEAF_ENCODING, LEAF_FIELDS, DecisionLeaf, leaf_hash
from ledger.merkle import MerkleTree, hash_pair

CHAIN_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

b32 = st.binary(min_size=32, max_size=32)


def uint(bits: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(0, 2**bits - 1), st.sampled_from([0, 1, 2**bits - 1]))


leaves = st.builds(
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
    prev_leaf_hash=b32,
)


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def test_solidity_struct_mirrors_python_layout(env: Env) -> None:
    """CreditLedger.DecisionLeaf has exactly ledger.leaf's fields, names and ABI types, in order."""
    item = next(i for i in env.ledger.abi if i.get("name") == "leafHash")
    components = item["inputs"][0]["components"]
    assert [c["type"] for c in components] == list(LEAF_ENCODING)
    names = [c["name"] for c in components]
    assert names == [_camel(n) for n in LEAF_FIELDS]


@CHAIN_SETTINGS
@given(leaf=leaves)
def test_leaf_hash_matches_python(env: Env, leaf: DecisionLeaf) -> None:
    assert env.call(env.ledger.functions.leafHash(leaf_tuple(leaf))) == leaf_hash(leaf)


@CHAIN_SETTINGS
@given(
    batch=st.lists(leaves, min_size=1, max_size=40),
    pick=st.integers(min_value=0),
    tamper=st.sampled_from(["proof", "leaf", "other_proof", "extra"]),
    where=st.integers(min_value=0),
)
def test_verify_decision_accepts_merkle_proofs_and_rejects_altered(env: Env, batch, pick, tamper, where) -> None:
    round_ = env.next_round()
    batch = [_with_round(lf, round_) for lf in batch]
    tree = MerkleTree.build([leaf_hash(lf) for lf in batch])
    env.anchor(tree.root, len(batch), round_=round_)
    i = pick % len(batch)
    leaf, proof = batch[i], tree.proof(i)
    f = env.ledger.functions
    assert env.call(f.verifyDecision(leaf_tuple(leaf), proof)) is True
    assert env.call(f.verifyLeafHash(round_, leaf_hash(leaf), proof)) is True

    if tamper == "proof" and proof:
        bad = list(proof)
        j = where % len(bad)
        k = (where // len(bad)) % 32
        bad[j] = bad[j][:k] + bytes([bad[j][k] ^ 0x01]) + bad[j][k + 1 :]
        assert env.call(f.verifyDecision(leaf_tuple(leaf), bad)) is False
    elif tamper == "other_proof" and len(set(tree.nodes)) == len(tree.nodes) and len(batch) > 1:
        j = (i + 1 + where % (len(batch) - 1)) % len(batch)
        assert env.call(f.verifyDecision(leaf_tuple(leaf), tree.proof(j))) is False
    elif tamper == "extra":
        assert env.call(f.verifyDecision(leaf_tuple(leaf), list(proof) + [fresh_hash()])) is False
    else:  # alter one field of the leaf
        altered = _with_score(leaf, (leaf.score + 1 + where % 100) % 2**16)
        if leaf_hash(altered) not in {leaf_hash(lf) for lf in batch}:
            assert env.call(f.verifyDecision(leaf_tuple(altered), proof)) is False


def _with_round(leaf: DecisionLeaf, round_: int) -> DecisionLeaf:
    return DecisionLeaf(
        leaf.merchant_key,
        round_,
        leaf.score,
        leaf.limit_cny,
        leaf.product_mask,
        leaf.reason_codes,
        leaf.model_version,
        leaf.policy_version,
        leaf.feature_commitment,
        leaf.prev_leaf_hash,
    )


def _with_score(leaf: DecisionLeaf, score: int) -> DecisionLeaf:
    return DecisionLeaf(
        leaf.merchant_key,
        leaf.round,
        score,
        leaf.limit_cny,
        leaf.product_mask,
        leaf.reason_codes,
        leaf.model_version,
        leaf.policy_version,
        leaf.feature_commitment,
        leaf.prev_leaf_hash,
    )


def _depth20_path(leaf_h: bytes) -> tuple[bytes, list[bytes]]:
    """Root and proof of a leaf at depth 20 with random siblings (sorted-pair hashing)."""
    proof = [keccak256(os.urandom(32)) for _ in range(20)]
    node = leaf_h
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node, proof


def test_gas_anchor_and_verify_depth20(env: Env) -> None:
    f = env.ledger.functions
    # anchorBatch: every anchor writes 3 new batch slots + 1 round-list slot
    gas_anchor = []
    for _ in range(3):
        _, receipt = env.anchor(fresh_hash(), 1_000_000, segment=SEG_MERCHANT)
        gas_anchor.append(receipt["gasUsed"])

    round_ = env.next_round()
    leaf = make_leaf(env.merchant_key, round_, env.active_model(), env.active_policy())
    root, proof = _depth20_path(leaf_hash(leaf))
    env.anchor(root, 2**20, round_=round_)
    assert len(proof) == 20
    assert env.call(f.verifyDecision(leaf_tuple(leaf), proof)) is True
    gas_verify = f.verifyDecision(leaf_tuple(leaf), proof).estimate_gas({"from": env.stranger.address})
    gas_verify_hash = f.verifyLeafHash(round_, leaf_hash(leaf), proof).estimate_gas({"from": env.stranger.address})

    # fileDispute with the same 20-sibling proof
    receipt = env.send(f.fileDispute(leaf_tuple(leaf), proof, "score too low"), env.merchant)
    gas_dispute = receipt["gasUsed"]

    print(
        f"\n[gas] anchorBatch gasUsed: {gas_anchor}"
        f"\n[gas] verifyDecision (20-sibling proof) estimate_gas: {gas_verify} "
        f"(incl. 21000 base tx + calldata)"
        f"\n[gas] verifyLeafHash (20-sibling proof) estimate_gas: {gas_verify_hash}"
        f"\n[gas] fileDispute (20-sibling proof) gasUsed: {gas_dispute}"
    )
    assert all(g > 0 for g in gas_anchor) and gas_verify > 21_000
