"""CreditLedger: anchoring, verification, disputes, audits; every error and event."""

from __future__ import annotations

import pytest
from contracts_support import (
    D_OPEN,
    D_REJECTED,
    D_UPHELD,
    SEG_FARMER,
    SEG_MERCHANT,
    ZERO32,
    Env,
    assert_event,
    expect_revert,
    fresh_hash,
    leaf_tuple,
    make_leaf,
)

from ledger.chain import TransactionReverted
from ledger.leaf import leaf_hash


def _anchor_fn(env: Env, round_: int, root=None, count=3, model=None, policy=None, content=None):
    return env.ledger.functions.anchorBatch(
        round_,
        fresh_hash() if root is None else root,
        count,
        env.active_model(SEG_MERCHANT) if model is None else model,
        env.active_policy(SEG_MERCHANT) if policy is None else policy,
        fresh_hash() if content is None else content,
    )


def test_anchor_batch_stores_and_emits(env: Env) -> None:
    f = env.ledger.functions
    round_, root, content = env.next_round(), fresh_hash(), fresh_hash()
    model, policy = env.active_model(SEG_MERCHANT), env.active_policy(SEG_MERCHANT)
    count_before = env.call(f.roundCount())
    assert env.call(f.isAnchored(round_)) is False
    receipt = env.send(_anchor_fn(env, round_, root, 1234, model, policy, content), env.oracle)
    assert_event(
        env.ledger,
        receipt,
        "BatchAnchored",
        round=round_,
        root=root,
        decisionCount=1234,
        modelVersion=model,
        policyVersion=policy,
        contentHash=content,
    )
    block = env.chain.w3.eth.get_block(receipt["blockNumber"])
    assert tuple(env.call(f.batch(round_))) == (
        root,
        1234,
        model,
        policy,
        content,
        block["timestamp"],
        receipt["blockNumber"],
    )
    assert env.call(f.isAnchored(round_)) is True
    assert env.call(f.roundCount()) == count_before + 1
    assert env.call(f.roundAt(count_before)) == round_


def test_anchor_farmer_segment(env: Env) -> None:
    round_ = env.next_round()
    fn = _anchor_fn(env, round_, model=env.active_model(SEG_FARMER), policy=env.active_policy(SEG_FARMER))
    env.send(fn, env.oracle)
    assert env.call(env.ledger.functions.isAnchored(round_))


def test_anchor_is_once_per_round(env: Env) -> None:
    round_, root = env.next_round(), fresh_hash()
    env.send(_anchor_fn(env, round_, root), env.oracle)
    # the same root again (a restarted oracle) and a different root both refuse, naming the stored root
    expect_revert(env.chain, _anchor_fn(env, round_, root), env.oracle, "RoundAlreadyAnchored", round_, root)
    expect_revert(env.chain, _anchor_fn(env, round_), env.oracle, "RoundAlreadyAnchored", round_, root)


def test_anchor_input_errors(env: Env) -> None:
    r = env.next_round()
    expect_revert(env.chain, _anchor_fn(env, r, root=ZERO32), env.oracle, "ZeroRoot")
    expect_revert(env.chain, _anchor_fn(env, r, count=0), env.oracle, "EmptyBatch")
    expect_revert(env.chain, _anchor_fn(env, r, content=ZERO32), env.oracle, "ZeroContentHash")


def test_anchor_model_and_policy_must_be_active_and_match(env: Env) -> None:
    r = env.next_round()
    registered = env.register_model(SEG_MERCHANT)  # registered, never activated
    expect_revert(env.chain, _anchor_fn(env, r, model=registered), env.oracle, "ModelNotActive", registered)
    expect_revert(env.chain, _anchor_fn(env, r, model=999), env.oracle, "ModelNotActive", 999)
    expect_revert(env.chain, _anchor_fn(env, r, model=0), env.oracle, "ModelNotActive", 0)
    proposed = env.propose_policy(SEG_MERCHANT)
    expect_revert(env.chain, _anchor_fn(env, r, policy=proposed), env.oracle, "PolicyNotActive", proposed)
    expect_revert(env.chain, _anchor_fn(env, r, policy=999), env.oracle, "PolicyNotActive", 999)
    m_model, f_policy = env.active_model(SEG_MERCHANT), env.active_policy(SEG_FARMER)
    expect_revert(
        env.chain, _anchor_fn(env, r, model=m_model, policy=f_policy), env.oracle, "SegmentMismatch", m_model, f_policy
    )
    f_model, m_policy = env.active_model(SEG_FARMER), env.active_policy(SEG_MERCHANT)
    expect_revert(
        env.chain, _anchor_fn(env, r, model=f_model, policy=m_policy), env.oracle, "SegmentMismatch", f_model, m_policy
    )


def test_anchor_refuses_a_superseded_model(env: Env) -> None:
    old = env.active_model(SEG_MERCHANT)
    new = env.register_model(SEG_MERCHANT)
    env.send(env.models.functions.activateModel(new), env.model_admin)
    r = env.next_round()
    expect_revert(env.chain, _anchor_fn(env, r, model=old), env.oracle, "ModelNotActive", old)
    env.send(_anchor_fn(env, r, model=new), env.oracle)


def test_unknown_round_views(env: Env) -> None:
    f = env.ledger.functions
    r = env.next_round()
    leaf = make_leaf(fresh_hash(), r)
    for call in (f.batch(r), f.verifyDecision(leaf_tuple(leaf), []), f.verifyLeafHash(r, fresh_hash(), [])):
        with pytest.raises(TransactionReverted) as info:
            env.call(call)
        assert info.value.error == "UnknownRound" and info.value.args_ == (r,)
    n = env.call(f.roundCount())
    with pytest.raises(TransactionReverted) as info:
        env.call(f.roundAt(n))
    assert info.value.error == "Panic" and info.value.args_ == (0x32,)  # array out of bounds


def test_verify_decision(env: Env) -> None:
    f = env.ledger.functions
    r = env.next_round()
    leaves = [make_leaf(fresh_hash(), r, score=500 + i) for i in range(5)]
    tree, _ = env.anchor_leaves(leaves, r)
    for i, leaf in enumerate(leaves):
        proof = tree.proof(i)
        assert env.call(f.leafHash(leaf_tuple(leaf))) == leaf_hash(leaf)
        assert env.call(f.verifyDecision(leaf_tuple(leaf), proof)) is True
        assert env.call(f.verifyLeafHash(r, leaf_hash(leaf), proof)) is True
    # another leaf's proof, an altered leaf, an altered proof all fail
    assert env.call(f.verifyDecision(leaf_tuple(leaves[0]), tree.proof(1))) is False
    altered = make_leaf(
        leaves[0].merchant_key, r, score=leaves[0].score + 1, feature_commitment=leaves[0].feature_commitment
    )
    assert env.call(f.verifyDecision(leaf_tuple(altered), tree.proof(0))) is False
    bad = list(tree.proof(0))
    bad[0] = bytes([bad[0][0] ^ 1]) + bad[0][1:]
    assert env.call(f.verifyDecision(leaf_tuple(leaves[0]), bad)) is False
    assert env.call(f.verifyLeafHash(r, fresh_hash(), tree.proof(0))) is False


def test_single_leaf_round_verifies_with_empty_proof(env: Env) -> None:
    r = env.next_round()
    leaf = make_leaf(fresh_hash(), r)
    tree, _ = env.anchor_leaves([leaf], r)
    assert tree.root == leaf_hash(leaf)
    assert env.call(env.ledger.functions.verifyDecision(leaf_tuple(leaf), [])) is True


# ----------------------------------------------------------------------- disputes


def test_file_and_resolve_dispute(env: Env) -> None:
    f = env.ledger.functions
    key, merchant = env.register_merchant()
    leaf, proof = env.anchored_leaf(key)
    h = leaf_hash(leaf)
    expected_id = env.call(f.disputeCount()) + 1
    receipt = env.send(f.fileDispute(leaf_tuple(leaf), proof, "my orders were undercounted"), merchant)
    assert_event(
        env.ledger,
        receipt,
        "DisputeFiled",
        disputeId=expected_id,
        merchantKey=key,
        round=leaf.round,
        leafHash=h,
        reason="my orders were undercounted",
    )
    assert env.call(f.disputeCount()) == expected_id
    assert env.call(f.openDisputeOf(h)) == expected_id
    filed_at = env.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert tuple(env.call(f.dispute(expected_id))) == (
        key,
        h,
        leaf.round,
        merchant.address,
        D_OPEN,
        filed_at,
        0,
        "my orders were undercounted",
        "",
    )
    # one open dispute per leaf
    expect_revert(env.chain, f.fileDispute(leaf_tuple(leaf), proof, "again"), merchant, "DisputeAlreadyOpen", h)

    receipt = env.send(f.resolveDispute(expected_id, False, "data confirmed"), env.admin)
    assert_event(env.ledger, receipt, "DisputeResolved", disputeId=expected_id, upheld=False, note="data confirmed")
    d = tuple(env.call(f.dispute(expected_id)))
    assert d[4] == D_REJECTED and d[6] == env.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert d[8] == "data confirmed"
    assert env.call(f.openDisputeOf(h)) == 0
    expect_revert(env.chain, f.resolveDispute(expected_id, True, "x"), env.admin, "DisputeAlreadyResolved", expected_id)

    # once resolved, the leaf may be disputed again; this time upheld
    receipt = env.send(f.fileDispute(leaf_tuple(leaf), proof, "new evidence"), merchant)
    second = one_id = env.call(f.disputeCount())
    assert second == expected_id + 1
    env.send(f.resolveDispute(one_id, True, "recomputed"), env.admin)
    assert tuple(env.call(f.dispute(one_id)))[4] == D_UPHELD


def test_dispute_errors(env: Env) -> None:
    f = env.ledger.functions
    key, merchant = env.register_merchant()
    leaf, proof = env.anchored_leaf(key)
    # not the bound account: a stranger, another merchant, the registrar
    _other_key, other = env.register_merchant()
    for sender in (env.stranger, other, env.registrar, env.admin):
        expect_revert(
            env.chain, f.fileDispute(leaf_tuple(leaf), proof, "x"), sender, "NotMerchantAccount", sender.address, key
        )
    # an unregistered key: nobody is its account
    ghost = make_leaf(fresh_hash(), leaf.round)
    expect_revert(
        env.chain,
        f.fileDispute(leaf_tuple(ghost), [], "x"),
        env.stranger,
        "NotMerchantAccount",
        env.stranger.address,
        ghost.merchant_key,
    )
    # bad proof, altered leaf, unknown round
    expect_revert(env.chain, f.fileDispute(leaf_tuple(leaf), proof[1:], "x"), merchant, "InvalidProof")
    altered = make_leaf(key, leaf.round, score=leaf.score + 1)
    expect_revert(env.chain, f.fileDispute(leaf_tuple(altered), proof, "x"), merchant, "InvalidProof")
    unanchored = make_leaf(key, env.next_round())
    expect_revert(env.chain, f.fileDispute(leaf_tuple(unanchored), [], "x"), merchant, "UnknownRound", unanchored.round)
    # a suspended merchant cannot dispute
    env.send(env.identities.functions.suspend(key, "review"), env.registrar)
    expect_revert(env.chain, f.fileDispute(leaf_tuple(leaf), proof, "x"), merchant, "MerchantNotActive", key)
    env.send(env.identities.functions.reinstate(key), env.registrar)
    env.send(f.fileDispute(leaf_tuple(leaf), proof, "x"), merchant)


def test_rotated_account_disputes_old_decisions(env: Env) -> None:
    f = env.ledger.functions
    key, merchant = env.register_merchant()
    leaf, proof = env.anchored_leaf(key)
    new = env.funded_account()
    env.send(env.identities.functions.rotateAccount(key, new.address), merchant)
    expect_revert(
        env.chain, f.fileDispute(leaf_tuple(leaf), proof, "x"), merchant, "NotMerchantAccount", merchant.address, key
    )
    env.send(f.fileDispute(leaf_tuple(leaf), proof, "x"), new)


def test_unknown_dispute(env: Env) -> None:
    f = env.ledger.functions
    missing = env.call(f.disputeCount()) + 1
    for dispute_id in (0, missing):
        expect_revert(env.chain, f.resolveDispute(dispute_id, True, "x"), env.admin, "UnknownDispute", dispute_id)
        with pytest.raises(TransactionReverted) as info:
            env.call(f.dispute(dispute_id))
        assert info.value.error == "UnknownDispute"


# ----------------------------------------------------------------------- audits


def test_record_audit(env: Env) -> None:
    f = env.ledger.functions
    report = fresh_hash()
    n = env.call(f.auditCount())
    receipt = env.send(f.recordAudit(3, 9, report, "ipfs://audit/1"), env.auditor)
    assert_event(
        env.ledger,
        receipt,
        "AuditRecorded",
        auditor=env.auditor.address,
        fromRound=3,
        toRound=9,
        reportHash=report,
        uri="ipfs://audit/1",
    )
    assert env.call(f.auditCount()) == n + 1
    ts = env.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert tuple(env.call(f.audit(n))) == (env.auditor.address, 3, 9, ts, report, "ipfs://audit/1")
    env.send(f.recordAudit(5, 5, fresh_hash(), ""), env.auditor)  # a single round is a valid range


def test_record_audit_errors(env: Env) -> None:
    f = env.ledger.functions
    expect_revert(env.chain, f.recordAudit(9, 3, fresh_hash(), "u"), env.auditor, "InvalidRoundRange", 9, 3)
    expect_revert(env.chain, f.recordAudit(1, 3, ZERO32, "u"), env.auditor, "ZeroHash")


def test_registries_are_wired(env: Env) -> None:
    f = env.ledger.functions
    assert env.call(f.identities()) == env.identities.address
    assert env.call(f.models()) == env.models.address
    assert env.call(f.policies()) == env.policies.address
