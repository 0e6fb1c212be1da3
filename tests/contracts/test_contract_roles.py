"""Role matrix: every state-changing function of every contract, called by every role
account, a stranger and a registered merchant. The allowed callers succeed; every other
caller reverts with AccessControlUnauthorizedAccount or the contract's own error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from contracts_support import (
    CALLERS,
    POLICY_DELAY,
    SEG_FARMER,
    SEG_MERCHANT,
    ZERO_ADDRESS,
    Env,
    expect_revert,
    fresh_address,
    fresh_hash,
    leaf_tuple,
    make_leaf,
)

from ledger.chain import TransactionReverted
from ledger.keccak import keccak256
from ledger.roles import ROLE_HOME, Role

PROPOSER_ROLE = keccak256(b"PROPOSER_ROLE")
CANCELLER_ROLE = keccak256(b"CANCELLER_ROLE")
EXECUTOR_ROLE = keccak256(b"EXECUTOR_ROLE")


def _acl(role_id: bytes) -> Callable[[Env, Any], tuple[str, tuple]]:
    return lambda env, sender: ("AccessControlUnauthorizedAccount", (sender.address, role_id))


def _own(error: str) -> Callable[[Env, Any], tuple[str, tuple]]:
    return lambda env, sender: (error, (sender.address,))


# Each builder: (env, caller label, ok) -> (contract function, sender). When ``ok`` (the
# caller is allowed) it performs the setup the call needs to succeed; otherwise it uses
# already-existing state: the access check comes first in every function, so only the
# caller decides the outcome, and denied cases cost no transaction.


def _simple(contract: str, make: Callable[[Env], Any]):
    def build(env: Env, who: str, ok: bool):
        return make(env), env.acct(who)

    return build


def _suspend(env: Env, who: str, ok: bool):
    key = env.register_merchant()[0] if ok else env.merchant_key
    return env.identities.functions.suspend(key, "fraud review"), env.acct(who)


def _reinstate(env: Env, who: str, ok: bool):
    key = env.register_merchant()[0] if ok else env.merchant_key
    if ok:
        env.send(env.identities.functions.suspend(key, "review"), env.registrar)
    return env.identities.functions.reinstate(key), env.acct(who)


def _rotate(env: Env, who: str, ok: bool):
    if not ok:  # a registered merchant, so the caller check is what fails
        return env.identities.functions.rotateAccount(env.merchant_key, fresh_address()), env.acct(who)
    key, merchant = env.register_merchant()
    sender = merchant if who == "merchant" else env.acct(who)
    return env.identities.functions.rotateAccount(key, fresh_address()), sender


def _activate_model(env: Env, who: str, ok: bool):
    version = env.register_model(SEG_FARMER) if ok else 1
    return env.models.functions.activateModel(version), env.acct(who)


def _retire_model(env: Env, who: str, ok: bool):
    version = env.register_model(SEG_FARMER) if ok else 1
    return env.models.functions.retireModel(version), env.acct(who)


def _cancel_policy(env: Env, who: str, ok: bool):
    version = env.propose_policy(SEG_FARMER) if ok else 1
    return env.policies.functions.cancelPolicy(version, "withdrawn"), env.acct(who)


def _activate_policy_direct(env: Env, who: str, ok: bool):
    version = env.propose_policy(SEG_FARMER) if ok else 1  # the timelock check comes first
    return env.policies.functions.activatePolicy(version), env.acct(who)


def _tl_schedule(env: Env, who: str, ok: bool):
    target, value, data, pred, salt = env.activation_op(env.propose_policy(SEG_FARMER) if ok else 1)
    return env.timelock.functions.schedule(target, value, data, pred, salt, POLICY_DELAY), env.acct(who)


def _tl_cancel(env: Env, who: str, ok: bool):
    if not ok:
        return env.timelock.functions.cancel(fresh_hash()), env.acct(who)
    op = env.activation_op(env.propose_policy(SEG_FARMER))
    env.schedule(op)
    op_id = env.call(env.timelock.functions.hashOperation(*op))
    return env.timelock.functions.cancel(op_id), env.acct(who)


def _tl_execute(env: Env, who: str, ok: bool):
    op = env.activation_op(env.propose_policy(SEG_FARMER))
    env.schedule(op)
    env.chain.advance_time(POLICY_DELAY + 1)
    return env.timelock.functions.execute(*op), env.acct(who)


def _anchor(env: Env, who: str, ok: bool):
    fn = env.ledger.functions.anchorBatch(
        env.next_round(), fresh_hash(), 7, env.active_model(SEG_MERCHANT), env.active_policy(SEG_MERCHANT), fresh_hash()
    )
    return fn, env.acct(who)


def _file_dispute(env: Env, who: str, ok: bool):
    if not ok:  # the caller check comes before the proof and round checks
        leaf = make_leaf(env.merchant_key, env.next_round())
        return env.ledger.functions.fileDispute(leaf_tuple(leaf), [], "score too low"), env.acct(who)
    key, merchant = env.register_merchant()
    leaf, proof = env.anchored_leaf(key)
    sender = merchant if who == "merchant" else env.acct(who)
    return env.ledger.functions.fileDispute(leaf_tuple(leaf), proof, "score too low"), sender


def _resolve_dispute(env: Env, who: str, ok: bool):
    if not ok:
        return env.ledger.functions.resolveDispute(1, True, "corrected"), env.acct(who)
    key, merchant = env.register_merchant()
    leaf, proof = env.anchored_leaf(key)
    env.send(env.ledger.functions.fileDispute(leaf_tuple(leaf), proof, "wrong"), merchant)
    dispute_id = env.call(env.ledger.functions.disputeCount())
    return env.ledger.functions.resolveDispute(dispute_id, True, "corrected"), env.acct(who)


def _grant(name: str):
    def build(env: Env, who: str, ok: bool):
        contract = getattr(env, name)
        return contract.functions.grantRole(Role.REGULATOR.id, fresh_address()), env.acct(who)

    return build


def _revoke(name: str):
    def build(env: Env, who: str, ok: bool):
        contract = getattr(env, name)
        if not ok:
            return contract.functions.revokeRole(Role.REGULATOR.id, env.accounts[Role.REGULATOR].address), env.acct(who)
        target = fresh_address()
        env.send(contract.functions.grantRole(Role.REGULATOR.id, target), env.admin)
        return contract.functions.revokeRole(Role.REGULATOR.id, target), env.acct(who)

    return build


def _tl_grant(env: Env, who: str, ok: bool):
    return env.timelock.functions.grantRole(PROPOSER_ROLE, fresh_address()), env.acct(who)


def _tl_update_delay(env: Env, who: str, ok: bool):
    return env.timelock.functions.updateDelay(10), env.acct(who)


ADMIN0 = Role.ADMIN.id

#: name -> (builder, allowed caller labels, expected error for the others)
MATRIX: dict[str, tuple[Callable, frozenset[str], Callable]] = {
    # IdentityRegistry
    "IdentityRegistry.register": (
        _simple("identities", lambda env: env.identities.functions.register(fresh_hash(), fresh_address(), 1)),
        frozenset({"registrar"}),
        _acl(Role.REGISTRAR.id),
    ),
    "IdentityRegistry.suspend": (_suspend, frozenset({"registrar"}), _acl(Role.REGISTRAR.id)),
    "IdentityRegistry.reinstate": (_reinstate, frozenset({"registrar"}), _acl(Role.REGISTRAR.id)),
    "IdentityRegistry.rotateAccount": (_rotate, frozenset({"registrar", "merchant"}), _own("NotRegistrarOrMerchant")),
    "IdentityRegistry.grantRole": (_grant("identities"), frozenset({"admin"}), _acl(ADMIN0)),
    "IdentityRegistry.revokeRole": (_revoke("identities"), frozenset({"admin"}), _acl(ADMIN0)),
    # ModelRegistry
    "ModelRegistry.registerModel": (
        _simple("models", lambda env: env.models.functions.registerModel(SEG_FARMER, fresh_hash(), fresh_hash(), "u")),
        frozenset({"model_admin"}),
        _acl(Role.MODEL_ADMIN.id),
    ),
    "ModelRegistry.activateModel": (_activate_model, frozenset({"model_admin"}), _acl(Role.MODEL_ADMIN.id)),
    "ModelRegistry.retireModel": (_retire_model, frozenset({"model_admin"}), _acl(Role.MODEL_ADMIN.id)),
    "ModelRegistry.grantRole": (_grant("models"), frozenset({"admin"}), _acl(ADMIN0)),
    "ModelRegistry.revokeRole": (_revoke("models"), frozenset({"admin"}), _acl(ADMIN0)),
    # PolicyRegistry
    "PolicyRegistry.proposePolicy": (
        _simple("policies", lambda env: env.policies.functions.proposePolicy(SEG_FARMER, fresh_hash(), "u", "r")),
        frozenset({"policy_admin"}),
        _acl(Role.POLICY_ADMIN.id),
    ),
    "PolicyRegistry.cancelPolicy": (_cancel_policy, frozenset({"policy_admin"}), _acl(Role.POLICY_ADMIN.id)),
    # only the timelock may activate: no account at all, the policy admin and the admin included
    "PolicyRegistry.activatePolicy": (_activate_policy_direct, frozenset(), _own("OnlyTimelock")),
    "PolicyRegistry.grantRole": (_grant("policies"), frozenset({"admin"}), _acl(ADMIN0)),
    "PolicyRegistry.revokeRole": (_revoke("policies"), frozenset({"admin"}), _acl(ADMIN0)),
    # PolicyTimelock (OpenZeppelin TimelockController)
    "PolicyTimelock.schedule": (_tl_schedule, frozenset({"policy_admin"}), _acl(PROPOSER_ROLE)),
    "PolicyTimelock.cancel": (_tl_cancel, frozenset({"policy_admin"}), _acl(CANCELLER_ROLE)),
    "PolicyTimelock.execute": (_tl_execute, frozenset(CALLERS), _acl(EXECUTOR_ROLE)),  # open executor role
    "PolicyTimelock.updateDelay": (_tl_update_delay, frozenset(), _own("TimelockUnauthorizedCaller")),
    "PolicyTimelock.grantRole": (_tl_grant, frozenset(), _acl(ADMIN0)),  # self-administered
    # CreditLedger
    "CreditLedger.anchorBatch": (_anchor, frozenset({"oracle"}), _acl(Role.ORACLE.id)),
    "CreditLedger.recordAudit": (
        _simple("ledger", lambda env: env.ledger.functions.recordAudit(1, 2, fresh_hash(), "ipfs://report")),
        frozenset({"auditor"}),
        _acl(Role.AUDITOR.id),
    ),
    "CreditLedger.fileDispute": (
        _file_dispute,
        frozenset({"merchant"}),
        lambda env, sender: ("NotMerchantAccount", (sender.address, env.merchant_key)),
    ),
    "CreditLedger.resolveDispute": (_resolve_dispute, frozenset({"admin"}), _acl(ADMIN0)),
    "CreditLedger.grantRole": (_grant("ledger"), frozenset({"admin"}), _acl(ADMIN0)),
    "CreditLedger.revokeRole": (_revoke("ledger"), frozenset({"admin"}), _acl(ADMIN0)),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("function", sorted(MATRIX))
def test_role_matrix(env: Env, function: str, caller: str) -> None:
    build, allowed, denied = MATRIX[function]
    fn, sender = build(env, caller, caller in allowed)
    if caller in allowed:
        receipt = env.send(fn, sender)
        assert receipt["status"] == 1
        return
    error, args = denied(env, sender)
    expect_revert(env.chain, fn, sender, error, *args)


def test_role_ids_match_python(env: Env) -> None:
    """Roles.sol and ledger/roles.py name the same ids; each contract exposes its own."""
    exposed = {
        "CreditLedger": (env.ledger, ("ORACLE_ROLE", "AUDITOR_ROLE", "REGULATOR_ROLE")),
        "ModelRegistry": (env.models, ("MODEL_ADMIN_ROLE",)),
        "PolicyRegistry": (env.policies, ("POLICY_ADMIN_ROLE",)),
        "IdentityRegistry": (env.identities, ("REGISTRAR_ROLE",)),
    }
    seen = set()
    for home, (contract, names) in exposed.items():
        assert env.call(contract.functions.DEFAULT_ADMIN_ROLE()) == Role.ADMIN.id
        for name in names:
            role = Role(name)
            assert env.call(getattr(contract.functions, name)()) == role.id
            assert ROLE_HOME[role] == home
            seen.add(role)
    assert seen == set(ROLE_HOME)


def test_roles_granted_only_on_home_contract(env: Env) -> None:
    contracts = {
        "CreditLedger": env.ledger,
        "ModelRegistry": env.models,
        "PolicyRegistry": env.policies,
        "IdentityRegistry": env.identities,
    }
    for role, home in ROLE_HOME.items():
        holder = env.accounts[role].address
        for name, contract in contracts.items():
            assert env.call(contract.functions.hasRole(role.id, holder)) == (name == home)
            assert env.call(contract.functions.hasRole(Role.ADMIN.id, holder)) is False
        assert env.call(contracts[home].functions.hasRole(Role.ADMIN.id, env.admin.address))


def test_timelock_roles(env: Env) -> None:
    tl = env.timelock.functions
    assert env.call(tl.hasRole(PROPOSER_ROLE, env.policy_admin.address))
    assert env.call(tl.hasRole(CANCELLER_ROLE, env.policy_admin.address))
    assert env.call(tl.hasRole(EXECUTOR_ROLE, ZERO_ADDRESS))  # anyone executes
    assert env.call(tl.hasRole(ADMIN0, env.timelock.address))  # self-administered
    assert not env.call(tl.hasRole(ADMIN0, env.admin.address))
    assert env.call(env.policies.functions.timelock()) == env.timelock.address


def test_regulator_role_is_readable(env: Env) -> None:
    regulator = env.accounts[Role.REGULATOR].address
    assert env.call(env.ledger.functions.hasRole(Role.REGULATOR.id, regulator))
    assert not env.call(env.ledger.functions.hasRole(Role.REGULATOR.id, env.stranger.address))


@pytest.mark.parametrize("name", ["identities", "models", "policies", "ledger"])
def test_renounce_role_needs_own_confirmation(env: Env, name: str) -> None:
    contract = getattr(env, name)
    holder = env.funded_account()
    env.send(contract.functions.grantRole(Role.REGULATOR.id, holder.address), env.admin)
    expect_revert(
        env.chain,
        contract.functions.renounceRole(Role.REGULATOR.id, env.stranger.address),
        holder,
        "AccessControlBadConfirmation",
    )
    receipt = env.send(contract.functions.renounceRole(Role.REGULATOR.id, holder.address), holder)
    assert not env.call(contract.functions.hasRole(Role.REGULATOR.id, holder.address))
    from contracts_support import assert_event

    assert_event(
        contract, receipt, "RoleRevoked", role=Role.REGULATOR.id, account=holder.address, sender=holder.address
    )


def test_grant_and_revoke_emit_events(env: Env) -> None:
    from contracts_support import assert_event

    target = fresh_address()
    receipt = env.send(env.ledger.functions.grantRole(Role.ORACLE.id, target), env.admin)
    assert_event(env.ledger, receipt, "RoleGranted", role=Role.ORACLE.id, account=target, sender=env.admin.address)
    receipt = env.send(env.ledger.functions.revokeRole(Role.ORACLE.id, target), env.admin)
    assert_event(env.ledger, receipt, "RoleRevoked", role=Role.ORACLE.id, account=target, sender=env.admin.address)


@pytest.mark.parametrize(
    "name,args",
    [
        ("IdentityRegistry", lambda env: (ZERO_ADDRESS,)),
        ("ModelRegistry", lambda env: (ZERO_ADDRESS,)),
        ("PolicyRegistry", lambda env: (ZERO_ADDRESS, env.timelock.address)),
        ("PolicyRegistry", lambda env: (env.admin.address, ZERO_ADDRESS)),
        ("CreditLedger", lambda env: (ZERO_ADDRESS, env.identities.address, env.models.address, env.policies.address)),
        ("CreditLedger", lambda env: (env.admin.address, ZERO_ADDRESS, env.models.address, env.policies.address)),
        ("CreditLedger", lambda env: (env.admin.address, env.identities.address, ZERO_ADDRESS, env.policies.address)),
        ("CreditLedger", lambda env: (env.admin.address, env.identities.address, env.models.address, ZERO_ADDRESS)),
    ],
)
def test_constructor_rejects_zero_address(env: Env, name: str, args) -> None:
    with pytest.raises(TransactionReverted) as info:
        env.chain.deploy(name, env.admin, *args(env))
    assert info.value.error == "ZeroAddress"
