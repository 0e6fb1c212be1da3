"""IdentityRegistry: registration, suspension, reinstatement, rotation; every error and event."""

from __future__ import annotations

from contracts_support import (
    KIND_FARMER,
    KIND_MERCHANT,
    KIND_VIRTUAL,
    M_ACTIVE,
    M_SUSPENDED,
    M_UNREGISTERED,
    ZERO32,
    ZERO_ADDRESS,
    Env,
    assert_event,
    expect_revert,
    fresh_address,
    fresh_hash,
)


def test_register_binds_both_ways(env: Env) -> None:
    key, account = fresh_hash(), fresh_address()
    receipt = env.send(env.identities.functions.register(key, account, KIND_FARMER), env.registrar)
    assert_event(env.identities, receipt, "MerchantRegistered", merchantKey=key, account=account, kind=KIND_FARMER)
    f = env.identities.functions
    assert tuple(env.call(f.merchant(key))) == (account, KIND_FARMER, M_ACTIVE)
    assert env.call(f.accountOf(key)) == account
    assert env.call(f.keyOf(account)) == key
    assert env.call(f.isActive(key)) is True


def test_unknown_views_are_zero(env: Env) -> None:
    f = env.identities.functions
    key = fresh_hash()
    assert tuple(env.call(f.merchant(key))) == (ZERO_ADDRESS, 0, M_UNREGISTERED)
    assert env.call(f.accountOf(key)) == ZERO_ADDRESS
    assert env.call(f.keyOf(fresh_address())) == ZERO32
    assert env.call(f.isActive(key)) is False


def test_register_errors(env: Env) -> None:
    f = env.identities.functions
    expect_revert(env.chain, f.register(ZERO32, fresh_address(), KIND_MERCHANT), env.registrar, "ZeroMerchantKey")
    expect_revert(env.chain, f.register(fresh_hash(), ZERO_ADDRESS, KIND_MERCHANT), env.registrar, "ZeroAddress")
    key, merchant = env.register_merchant(KIND_VIRTUAL)
    expect_revert(
        env.chain, f.register(key, fresh_address(), KIND_MERCHANT), env.registrar, "MerchantAlreadyRegistered", key
    )
    expect_revert(
        env.chain,
        f.register(fresh_hash(), merchant.address, KIND_MERCHANT),
        env.registrar,
        "AccountAlreadyBound",
        merchant.address,
    )


def test_suspend_and_reinstate(env: Env) -> None:
    f = env.identities.functions
    key, _ = env.register_merchant()
    receipt = env.send(f.suspend(key, "chargeback fraud"), env.registrar)
    assert_event(env.identities, receipt, "MerchantSuspended", merchantKey=key, reason="chargeback fraud")
    assert tuple(env.call(f.merchant(key)))[2] == M_SUSPENDED
    assert env.call(f.isActive(key)) is False
    expect_revert(env.chain, f.suspend(key, "again"), env.registrar, "MerchantNotActive", key)
    receipt = env.send(f.reinstate(key), env.registrar)
    assert_event(env.identities, receipt, "MerchantReinstated", merchantKey=key)
    assert env.call(f.isActive(key)) is True
    expect_revert(env.chain, f.reinstate(key), env.registrar, "MerchantNotSuspended", key)


def test_unknown_merchant_errors(env: Env) -> None:
    f = env.identities.functions
    key = fresh_hash()
    expect_revert(env.chain, f.suspend(key, "x"), env.registrar, "UnknownMerchant", key)
    expect_revert(env.chain, f.reinstate(key), env.registrar, "UnknownMerchant", key)
    expect_revert(env.chain, f.rotateAccount(key, fresh_address()), env.registrar, "UnknownMerchant", key)


def test_rotate_by_merchant(env: Env) -> None:
    f = env.identities.functions
    key, merchant = env.register_merchant()
    new = env.funded_account()
    receipt = env.send(f.rotateAccount(key, new.address), merchant)
    assert_event(
        env.identities, receipt, "AccountRotated", merchantKey=key, oldAccount=merchant.address, newAccount=new.address
    )
    assert env.call(f.accountOf(key)) == new.address
    assert env.call(f.keyOf(new.address)) == key
    assert env.call(f.keyOf(merchant.address)) == ZERO32
    # the old account lost its power
    expect_revert(
        env.chain, f.rotateAccount(key, fresh_address()), merchant, "NotRegistrarOrMerchant", merchant.address
    )
    # the old account is free to be bound again
    other = fresh_hash()
    env.send(f.register(other, merchant.address, KIND_MERCHANT), env.registrar)
    assert env.call(f.keyOf(merchant.address)) == other


def test_rotate_by_registrar_and_errors(env: Env) -> None:
    f = env.identities.functions
    key, merchant = env.register_merchant()
    _other_key, other = env.register_merchant()
    expect_revert(env.chain, f.rotateAccount(key, ZERO_ADDRESS), env.registrar, "ZeroAddress")
    expect_revert(env.chain, f.rotateAccount(key, other.address), env.registrar, "AccountAlreadyBound", other.address)
    expect_revert(env.chain, f.rotateAccount(key, merchant.address), merchant, "AccountAlreadyBound", merchant.address)
    # another merchant cannot rotate this one
    expect_revert(env.chain, f.rotateAccount(key, fresh_address()), other, "NotRegistrarOrMerchant", other.address)
    new = fresh_address()
    receipt = env.send(f.rotateAccount(key, new), env.registrar)
    assert_event(
        env.identities, receipt, "AccountRotated", merchantKey=key, oldAccount=merchant.address, newAccount=new
    )


def test_suspended_merchant_cannot_rotate_itself_but_registrar_can(env: Env) -> None:
    f = env.identities.functions
    key, merchant = env.register_merchant()
    env.send(f.suspend(key, "review"), env.registrar)
    expect_revert(env.chain, f.rotateAccount(key, fresh_address()), merchant, "MerchantNotActive", key)
    new = fresh_address()
    env.send(f.rotateAccount(key, new), env.registrar)
    assert env.call(f.accountOf(key)) == new
    assert tuple(env.call(f.merchant(key)))[2] == M_SUSPENDED
