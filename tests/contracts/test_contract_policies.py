"""PolicyRegistry behind the PolicyTimelock: proposals, delayed activation, cancellation,
the delay itself; every error and event."""

from __future__ import annotations

import pytest
from contracts_support import (
    POL_ACTIVE,
    POL_CANCELLED,
    POL_PROPOSED,
    POL_SUPERSEDED,
    POLICY_DELAY,
    SEG_FARMER,
    SEG_MERCHANT,
    ZERO32,
    ZERO_ADDRESS,
    Env,
    assert_event,
    events,
    expect_revert,
    fresh_hash,
)

from ledger.chain import TransactionReverted
from ledger.roles import Role


def _hash_of(env: Env, version: int) -> bytes:
    return tuple(env.call(env.policies.functions.policy(version)))[2]


def test_propose_records_old_and_new_hash(env: Env) -> None:
    f = env.policies.functions
    active = env.active_policy(SEG_MERCHANT)
    old_hash = _hash_of(env, active)
    new_hash = fresh_hash()
    version = env.call(f.policyCount()) + 1
    receipt = env.send(f.proposePolicy(SEG_MERCHANT, new_hash, "ipfs://p", "raise farmer cut-off"), env.policy_admin)
    assert_event(
        env.policies,
        receipt,
        "PolicyProposed",
        version=version,
        segment=SEG_MERCHANT,
        oldHash=old_hash,
        newHash=new_hash,
        uri="ipfs://p",
        reason="raise farmer cut-off",
    )
    assert env.call(f.policyCount()) == version
    block = env.chain.w3.eth.get_block(receipt["blockNumber"])
    assert tuple(env.call(f.policy(version))) == (
        SEG_MERCHANT,
        POL_PROPOSED,
        new_hash,
        "ipfs://p",
        "raise farmer cut-off",
        block["timestamp"],
        0,
    )
    assert env.call(f.isActive(version)) is False
    assert env.active_policy(SEG_MERCHANT) == active  # nothing changes before the timelock acts


def test_propose_zero_hash(env: Env) -> None:
    expect_revert(
        env.chain, env.policies.functions.proposePolicy(SEG_MERCHANT, ZERO32, "u", "r"), env.policy_admin, "ZeroHash"
    )


def test_activation_waits_for_the_timelock_delay(env: Env) -> None:
    f = env.policies.functions
    previous = env.active_policy(SEG_FARMER)
    old_hash = _hash_of(env, previous)
    new_hash = fresh_hash()
    version = env.propose_policy(SEG_FARMER, new_hash, reason="drought relief")
    op = env.activation_op(version)
    op_id = env.call(env.timelock.functions.hashOperation(*op))
    assert env.call(env.timelock.functions.getMinDelay()) == POLICY_DELAY
    # a shorter delay than the minimum cannot even be scheduled
    target, value, data, pred, salt = op
    expect_revert(
        env.chain,
        env.timelock.functions.schedule(target, value, data, pred, salt, POLICY_DELAY - 1),
        env.policy_admin,
        "TimelockInsufficientDelay",
        POLICY_DELAY - 1,
        POLICY_DELAY,
    )
    env.schedule(op)
    # before the delay: TimelockController's own error (expected state: Ready = 1 << 2)
    expect_revert(
        env.chain,
        env.timelock.functions.execute(*op),
        env.stranger,
        "TimelockUnexpectedOperationState",
        op_id,
        (1 << 2).to_bytes(32, "big"),
    )
    env.chain.advance_time(POLICY_DELAY // 2)
    expect_revert(env.chain, env.timelock.functions.execute(*op), env.stranger, "TimelockUnexpectedOperationState")
    assert env.active_policy(SEG_FARMER) == previous
    env.chain.advance_time(POLICY_DELAY // 2 + 1)
    receipt = env.execute(op)
    assert events(env.policies, receipt) == [
        ("PolicySuperseded", {"version": previous, "segment": SEG_FARMER, "supersededBy": version}),
        (
            "PolicyActivated",
            {
                "version": version,
                "segment": SEG_FARMER,
                "oldHash": old_hash,
                "newHash": new_hash,
                "reason": "drought relief",
            },
        ),
    ]
    assert env.active_policy(SEG_FARMER) == version
    assert env.call(f.isActive(version)) and not env.call(f.isActive(previous))
    p = tuple(env.call(f.policy(version)))
    assert p[1] == POL_ACTIVE and p[6] == env.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert tuple(env.call(f.policy(previous)))[1] == POL_SUPERSEDED
    assert env.active_policy(SEG_MERCHANT) != version
    # executed once only
    expect_revert(env.chain, env.timelock.functions.execute(*op), env.stranger, "TimelockUnexpectedOperationState")


def test_activate_errors_through_the_timelock(env: Env) -> None:
    """Registry errors surface through the timelock's execute (OZ bubbles the revert data)."""
    unknown = env.call(env.policies.functions.policyCount()) + 50
    op = env.activation_op(unknown)
    env.schedule(op)
    env.chain.advance_time(POLICY_DELAY + 1)
    expect_revert(env.chain, env.timelock.functions.execute(*op), env.stranger, "UnknownPolicy", unknown)

    active = env.active_policy(SEG_MERCHANT)
    op = env.activation_op(active)
    env.schedule(op)
    env.chain.advance_time(POLICY_DELAY + 1)
    expect_revert(
        env.chain, env.timelock.functions.execute(*op), env.stranger, "InvalidPolicyStatus", active, POL_ACTIVE
    )


def test_cancelled_policy_cannot_be_activated(env: Env) -> None:
    f = env.policies.functions
    version = env.propose_policy(SEG_MERCHANT)
    op = env.activation_op(version)
    env.schedule(op)
    receipt = env.send(f.cancelPolicy(version, "found a bug"), env.policy_admin)
    assert_event(env.policies, receipt, "PolicyCancelled", version=version, reason="found a bug")
    assert tuple(env.call(f.policy(version)))[1] == POL_CANCELLED
    expect_revert(
        env.chain, f.cancelPolicy(version, "again"), env.policy_admin, "InvalidPolicyStatus", version, POL_CANCELLED
    )
    env.chain.advance_time(POLICY_DELAY + 1)
    expect_revert(
        env.chain, env.timelock.functions.execute(*op), env.stranger, "InvalidPolicyStatus", version, POL_CANCELLED
    )


def test_cancel_errors(env: Env) -> None:
    f = env.policies.functions
    unknown = env.call(f.policyCount()) + 1
    expect_revert(env.chain, f.cancelPolicy(unknown, "x"), env.policy_admin, "UnknownPolicy", unknown)
    expect_revert(env.chain, f.cancelPolicy(0, "x"), env.policy_admin, "UnknownPolicy", 0)
    active = env.active_policy(SEG_MERCHANT)
    expect_revert(env.chain, f.cancelPolicy(active, "x"), env.policy_admin, "InvalidPolicyStatus", active, POL_ACTIVE)


def test_direct_activation_is_refused(env: Env) -> None:
    version = env.propose_policy(SEG_MERCHANT)
    for sender in (env.policy_admin, env.admin, env.stranger):
        expect_revert(env.chain, env.policies.functions.activatePolicy(version), sender, "OnlyTimelock", sender.address)


def test_timelock_cancel_stops_the_operation(env: Env) -> None:
    version = env.propose_policy(SEG_MERCHANT)
    op = env.activation_op(version)
    env.schedule(op)
    op_id = env.call(env.timelock.functions.hashOperation(*op))
    receipt = env.send(env.timelock.functions.cancel(op_id), env.policy_admin)
    assert events(env.timelock, receipt, "Cancelled") == [("Cancelled", {"id": op_id})]
    env.chain.advance_time(POLICY_DELAY + 1)
    expect_revert(env.chain, env.timelock.functions.execute(*op), env.stranger, "TimelockUnexpectedOperationState")
    assert tuple(env.call(env.policies.functions.policy(version)))[1] == POL_PROPOSED


def test_update_delay_only_through_the_timelock(env: Env) -> None:
    tl = env.timelock.functions
    for sender in (env.admin, env.policy_admin, env.stranger):
        expect_revert(env.chain, tl.updateDelay(1), sender, "TimelockUnauthorizedCaller", sender.address)
    data = bytes.fromhex(env.timelock.encode_abi("updateDelay", args=[2 * POLICY_DELAY])[2:])
    op = (env.timelock.address, 0, data, ZERO32, fresh_hash())
    env.schedule(op)
    env.chain.advance_time(POLICY_DELAY + 1)
    receipt = env.execute(op)
    assert events(env.timelock, receipt, "MinDelayChange") == [
        ("MinDelayChange", {"oldDuration": POLICY_DELAY, "newDuration": 2 * POLICY_DELAY})
    ]
    assert env.call(tl.getMinDelay()) == 2 * POLICY_DELAY
    # the new delay applies to the next change: 60 s is no longer enough
    version = env.propose_policy(SEG_MERCHANT)
    target, value, data2, pred, salt = env.activation_op(version)
    expect_revert(
        env.chain,
        tl.schedule(target, value, data2, pred, salt, POLICY_DELAY),
        env.policy_admin,
        "TimelockInsufficientDelay",
        POLICY_DELAY,
        2 * POLICY_DELAY,
    )
    # restore the module's delay, again only through the timelock
    data = bytes.fromhex(env.timelock.encode_abi("updateDelay", args=[POLICY_DELAY])[2:])
    op = (env.timelock.address, 0, data, ZERO32, fresh_hash())
    env.schedule(op, delay=2 * POLICY_DELAY)
    env.chain.advance_time(2 * POLICY_DELAY + 1)
    env.execute(op)
    assert env.call(tl.getMinDelay()) == POLICY_DELAY


def test_unknown_policy_views(env: Env) -> None:
    f = env.policies.functions
    unknown = env.call(f.policyCount()) + 1
    assert env.call(f.isActive(unknown)) is False
    for view in (f.policy, f.segmentOf):
        with pytest.raises(TransactionReverted) as info:
            env.call(view(unknown))
        assert info.value.error == "UnknownPolicy"


def test_first_activation_of_a_segment_replaces_nothing(env: Env) -> None:
    """A segment's first policy: both events carry oldHash 0 and nothing is superseded. This is the
    path of the local `oldHash` in activatePolicy that stays zero (Slither's uninitialized-local,
    accepted in contracts/SECURITY.md)."""
    timelock, _ = env.chain.deploy(
        "PolicyTimelock", env.admin, POLICY_DELAY, [env.policy_admin.address], [ZERO_ADDRESS], ZERO_ADDRESS
    )
    policies, _ = env.chain.deploy("PolicyRegistry", env.admin, env.admin.address, timelock.address)
    env.send(policies.functions.grantRole(Role.POLICY_ADMIN.id, env.policy_admin.address), env.admin)
    params = fresh_hash()
    receipt = env.send(policies.functions.proposePolicy(SEG_FARMER, params, "ipfs://p", "first"), env.policy_admin)
    assert_event(
        policies,
        receipt,
        "PolicyProposed",
        version=1,
        segment=SEG_FARMER,
        oldHash=ZERO32,
        newHash=params,
        uri="ipfs://p",
        reason="first",
    )
    data = bytes.fromhex(policies.encode_abi("activatePolicy", args=[1])[2:])
    op = (policies.address, 0, data, ZERO32, fresh_hash())
    env.send(timelock.functions.schedule(*op, POLICY_DELAY), env.policy_admin)
    env.chain.advance_time(POLICY_DELAY + 1)
    receipt = env.send(timelock.functions.execute(*op), env.stranger)
    assert events(policies, receipt) == [
        (
            "PolicyActivated",
            {"version": 1, "segment": SEG_FARMER, "oldHash": ZERO32, "newHash": params, "reason": "first"},
        )
    ]
    assert env.call(policies.functions.activePolicy(SEG_FARMER)) == 1
    assert env.call(policies.functions.activePolicy(SEG_MERCHANT)) == 0
