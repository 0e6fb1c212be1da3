"""The dispute relay (ledger.relay) against the real anvil of ``ledger_env``.

Only merchant RELAYER (the fourth bound demo merchant, which no other test uses) files
a dispute here, on its first round's leaf; every refusal is decided before anything
is sent, so the other merchants' on-chain state is untouched.
"""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_account import Account

from ledger.chain import gas_with_headroom
from ledger.relay import (
    DisputeRefused,
    DisputeRelay,
    InvalidTransaction,
    NotYourDecision,
    RelayError,
    TransactionRejected,
    WrongSigner,
    decode_signed_transaction,
)

RELAYER, OTHER = 3, 1  # indexes of bound demo merchants (ledger_env.merchant_account)
GAS = 500_000


def _relay(env: Any) -> DisputeRelay:
    return DisputeRelay(env.contracts, env.store)


def _dispute_fields(env: Any, merchant: int, round_id: int, reason: str = "sales missing", **overrides: Any) -> dict:
    """The fields of a ``fileDispute`` of ``merchant``'s leaf in ``round_id``, unsigned, without ``from``."""
    key = env.merchant_key(merchant)
    leaf = env.store.decision(round_id, key).to_leaf()
    proof = env.store.proof(round_id, key)
    data = env.contracts.ledger.encode_abi("fileDispute", args=[leaf.to_abi_tuple(), proof, reason])
    chain = env.contracts.chain
    tx = {"to": env.contracts.ledger.address, "data": data, "value": 0, "gas": GAS, "chainId": chain.chain_id}
    tx.update(overrides)
    return tx


def _legacy(env: Any, account: Any, **fields: Any) -> dict:
    chain = env.contracts.chain
    return {
        "nonce": chain.w3.eth.get_transaction_count(account.address, "pending"),
        "gasPrice": max(chain.w3.eth.gas_price, 1),
        **fields,
    }


def _eip1559(env: Any, account: Any, **fields: Any) -> dict:
    chain = env.contracts.chain
    fee = max(chain.w3.eth.gas_price, 1)
    return {
        "type": 2,
        "nonce": chain.w3.eth.get_transaction_count(account.address, "pending"),
        "maxFeePerGas": 2 * fee,
        "maxPriorityFeePerGas": 1,
        **fields,
    }


def _signed(account: Any, tx: dict) -> bytes:
    return bytes(account.sign_transaction(tx).raw_transaction)


# -- decoding -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["legacy", "eip2930", "eip1559"])
def test_decodes_every_kind_of_signed_transaction(ledger_env: Any, kind: str) -> None:
    account = ledger_env.merchant_account(RELAYER)
    round_id = ledger_env.rounds[-1].round_id
    fields = _dispute_fields(ledger_env, RELAYER, round_id)
    tx = {
        "legacy": lambda: _legacy(ledger_env, account, **fields),
        "eip2930": lambda: dict(_legacy(ledger_env, account, **fields), type=1, accessList=[]),
        "eip1559": lambda: _eip1559(ledger_env, account, **fields),
    }[kind]()
    signed = account.sign_transaction(tx)
    decoded = decode_signed_transaction(bytes(signed.raw_transaction))
    assert decoded.type == {"legacy": 0, "eip2930": 1, "eip1559": 2}[kind]
    assert decoded.signer == account.address
    assert decoded.to == ledger_env.contracts.ledger.address
    assert decoded.data == bytes.fromhex(fields["data"][2:])
    assert (decoded.value, decoded.gas, decoded.nonce) == (0, GAS, tx["nonce"])
    assert decoded.chain_id == ledger_env.contracts.chain.chain_id
    assert decoded.hash == bytes(signed.hash)
    assert decoded.raw == bytes(signed.raw_transaction)


def test_decodes_a_pre_eip155_legacy_transaction_and_a_contract_creation() -> None:
    account = Account.create()
    signed = account.sign_transaction({"nonce": 0, "gasPrice": 1, "gas": 60_000, "data": b"\x60\x00", "value": 0})
    decoded = decode_signed_transaction(bytes(signed.raw_transaction))
    assert decoded.type == 0 and decoded.chain_id is None and decoded.to is None
    assert decoded.signer == account.address and decoded.data == b"\x60\x00"


def _truncated() -> bytes:
    tx = {"to": "0x" + "11" * 20, "nonce": 0, "gasPrice": 1, "gas": 21_000, "value": 0, "chainId": 1}
    return bytes(Account.create().sign_transaction(tx).raw_transaction)[:-5]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00",
        b"\xff" * 100,
        b"\x02" + b"\xc0",  # a type byte and an empty payload
        b"\x7f" + rlp.encode([1, 2, 3]),  # an unknown transaction type
        rlp.encode([b"\x01", b"\x02", b"\x03"]),  # an RLP list that is no transaction
        rlp.encode(b"a string, not a list"),
        _truncated(),
    ],
    ids=["empty", "zero", "ff", "type2-empty", "type7f", "short-list", "rlp-string", "truncated"],
)
def test_garbage_is_an_invalid_transaction(raw: bytes) -> None:
    with pytest.raises(InvalidTransaction) as raised:
        decode_signed_transaction(raw)
    assert raised.value.code == "invalid_transaction"


# -- refusals (nothing reaches the node) ---------------------------------------------------


def _refused(env: Any, raw: bytes, merchant: int = RELAYER) -> RelayError:
    account = env.merchant_account(merchant)
    with pytest.raises(RelayError) as raised:
        _relay(env).relay(raw, signer_must_be=account.address, merchant_key=env.merchant_key(merchant), timeout=5)
    return raised.value


def test_refuses_a_transaction_to_another_address_or_with_value(ledger_env: Any) -> None:
    account = ledger_env.merchant_account(RELAYER)
    round_id = ledger_env.rounds[-1].round_id
    elsewhere = _dispute_fields(ledger_env, RELAYER, round_id, to=ledger_env.contracts.identities.address)
    error = _refused(ledger_env, _signed(account, _legacy(ledger_env, account, **elsewhere)))
    assert isinstance(error, InvalidTransaction) and "not a call to this ledger" in str(error)
    paying = _dispute_fields(ledger_env, RELAYER, round_id, value=1)
    error = _refused(ledger_env, _signed(account, _eip1559(ledger_env, account, **paying)))
    assert isinstance(error, InvalidTransaction)


def test_refuses_a_transaction_from_another_signer(ledger_env: Any) -> None:
    other = ledger_env.merchant_account(OTHER)
    fields = _dispute_fields(ledger_env, OTHER, ledger_env.rounds[-1].round_id)
    error = _refused(ledger_env, _signed(other, _eip1559(ledger_env, other, **fields)))  # RELAYER is signed in
    assert isinstance(error, WrongSigner) and error.code == "wrong_signer"


def test_refuses_a_dispute_of_another_merchants_leaf(ledger_env: Any) -> None:
    account = ledger_env.merchant_account(RELAYER)
    fields = _dispute_fields(ledger_env, OTHER, ledger_env.rounds[-1].round_id)
    error = _refused(ledger_env, _signed(account, _legacy(ledger_env, account, **fields)))
    assert isinstance(error, NotYourDecision) and error.code == "not_your_decision"


def test_refuses_a_call_that_is_not_file_dispute(ledger_env: Any) -> None:
    account = ledger_env.merchant_account(RELAYER)
    ledger = ledger_env.contracts.ledger
    other_call = ledger.encode_abi("isAnchored", args=[ledger_env.rounds[-1].round_id])
    fields = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id, data=other_call)
    error = _refused(ledger_env, _signed(account, _eip1559(ledger_env, account, **fields)))
    assert isinstance(error, InvalidTransaction) and "isAnchored, not fileDispute" in str(error)
    fields["data"] = "0xdeadbeef"
    error = _refused(ledger_env, _signed(account, _legacy(ledger_env, account, **fields)))
    assert isinstance(error, InvalidTransaction) and "does not call a CreditLedger function" in str(error)


def test_refuses_garbage(ledger_env: Any) -> None:
    error = _refused(ledger_env, b"\xff" * 100)
    assert isinstance(error, InvalidTransaction)


# -- the whole relay ------------------------------------------------------------------------


def test_prepare_then_relay_a_typed_dispute_and_record_it(ledger_env: Any) -> None:
    account = ledger_env.merchant_account(RELAYER)
    key = ledger_env.merchant_key(RELAYER)
    round_id = ledger_env.rounds[0].round_id
    relay = _relay(ledger_env)
    row = ledger_env.store.decision(round_id, key)
    proof = ledger_env.store.proof(round_id, key)

    prepared = relay.prepare(row.to_leaf(), proof, "orders undercounted", sender=account.address)
    assert prepared["to"] == ledger_env.contracts.ledger.address and prepared["from"] == account.address
    estimate = ledger_env.contracts.chain.w3.eth.estimate_gas(
        {"from": account.address, "to": prepared["to"], "data": prepared["data"]}
    )
    assert prepared["gas"] == gas_with_headroom(estimate)

    # The wallet may sign it as an EIP-1559 transaction rather than the legacy one prepared.
    fields = {k: prepared[k] for k in ("to", "data", "value", "gas", "chainId")}
    raw = _signed(account, _eip1559(ledger_env, account, **fields))
    relayed = relay.relay(raw, signer_must_be=account.address, merchant_key=key, timeout=30)
    assert relayed.transaction.type == 2
    dispute = relayed.dispute
    assert (dispute.round_id, dispute.merchant_key, dispute.reason) == (round_id, key, "orders undercounted")
    assert dispute.leaf_hash == row.leaf_hash and dispute.filed_tx == relayed.tx_hash == relayed.transaction.hash
    assert ledger_env.store.get_dispute(dispute.dispute_id) == dispute
    assert bytes(ledger_env.contracts.ledger.functions.dispute(dispute.dispute_id).call()[0]) == key

    # The leaf has an open dispute now: prepare and relay both refuse a second (simulation, nothing sent).
    with pytest.raises(DisputeRefused, match="DisputeAlreadyOpen"):
        relay.prepare(row.to_leaf(), proof, "again", sender=account.address)
    again = _signed(account, _eip1559(ledger_env, account, **fields))
    with pytest.raises(DisputeRefused, match="DisputeAlreadyOpen"):
        relay.relay(again, signer_must_be=account.address, merchant_key=key, timeout=5)

    # A dispute of another leaf signed with the nonce just used: the node refuses it.
    stale = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id)
    stale_raw = _signed(account, dict(_legacy(ledger_env, account, **stale), nonce=relayed.transaction.nonce))
    with pytest.raises(TransactionRejected) as rejected:
        relay.relay(stale_raw, signer_must_be=account.address, merchant_key=key, timeout=5)
    assert rejected.value.code == "transaction_rejected" and "nonce" in str(rejected.value).lower()
