"""The dispute relay (ledger.relay) against real anvil nodes.

On ``ledger_env``'s node only merchant RELAYER (the fourth bound demo merchant, which no
other test uses) files a dispute, on its first round's leaf; every refusal is decided
before anything is sent (each refusal test checks that the signer's pending nonce did not
move and nothing was recorded), so the other merchants' on-chain state is untouched.

What waits for a block (a relay not mined yet, replaced in the pool, reverted when
mined) runs on ``manual_mining_env``, whose node nothing else shares, with mining
paused (``ledger_support.mining_paused``).
"""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_account import Account
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from ledger_support import mining_paused

from ledger.chain import gas_with_headroom
from ledger.relay import (
    DisputeRefused,
    DisputeRelay,
    ExcessiveGas,
    FutureNonce,
    InsufficientGas,
    InvalidTransaction,
    NoChainId,
    NonZeroValue,
    NotYourDecision,
    RelayError,
    StaleNonce,
    TransactionRejected,
    Underpriced,
    WrongChainId,
    WrongSigner,
    decode_signed_transaction,
)

RELAYER, OTHER = 3, 1  # indexes of bound demo merchants (ledger_env.merchant_account)
GAS = 500_000
PREPARE_AGAIN = "POST /merchant/disputes/prepare"


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


def _estimate(env: Any, account: Any, fields: dict) -> int:
    return int(
        env.contracts.chain.w3.eth.estimate_gas({"from": account.address, "to": fields["to"], "data": fields["data"]})
    )


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
    assert decoded.fee_cap == tx.get("maxFeePerGas", tx.get("gasPrice"))
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
    """The relay's refusal of ``raw`` from signed-in ``merchant``; nothing sent, nothing recorded."""
    account = env.merchant_account(merchant)
    w3 = env.contracts.chain.w3
    before = w3.eth.get_transaction_count(account.address, "pending")
    with pytest.raises(RelayError) as raised:
        _relay(env).relay(raw, signer_must_be=account.address, merchant_key=env.merchant_key(merchant))
    assert w3.eth.get_transaction_count(account.address, "pending") == before, "a refused transaction was sent"
    assert env.store.pending_disputes(merchant_key=env.merchant_key(merchant)) == []
    assert raised.value.hint, raised.value
    return raised.value


@pytest.fixture(scope="module")
def relayer_has_sent(ledger_env: Any) -> int:
    """RELAYER's next nonce, made >= 1 (a 0-value transfer to itself) so that a stale nonce exists."""
    account = ledger_env.merchant_account(RELAYER)
    w3 = ledger_env.contracts.chain.w3
    if w3.eth.get_transaction_count(account.address, "pending") == 0:
        transfer = {"to": account.address, "value": 0, "gas": 21_000, "chainId": ledger_env.contracts.chain.chain_id}
        tx_hash = w3.eth.send_raw_transaction(_signed(account, _legacy(ledger_env, account, **transfer)))
        ledger_env.contracts.chain.wait(bytes(tx_hash), timeout=30)
    return int(w3.eth.get_transaction_count(account.address, "pending"))


def test_refuses_a_transaction_to_another_address(ledger_env: Any) -> None:
    account = ledger_env.merchant_account(RELAYER)
    round_id = ledger_env.rounds[-1].round_id
    elsewhere = _dispute_fields(ledger_env, RELAYER, round_id, to=ledger_env.contracts.identities.address)
    error = _refused(ledger_env, _signed(account, _legacy(ledger_env, account, **elsewhere)))
    assert isinstance(error, InvalidTransaction) and "not a call to this ledger" in str(error)


def test_refuses_a_transaction_with_value(ledger_env: Any) -> None:
    account = ledger_env.merchant_account(RELAYER)
    paying = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id, value=1)
    error = _refused(ledger_env, _signed(account, _eip1559(ledger_env, account, **paying)))
    assert isinstance(error, NonZeroValue) and error.code == "nonzero_value" and "1 wei" in str(error)


def test_refuses_another_chains_id(ledger_env: Any) -> None:
    account = ledger_env.merchant_account(RELAYER)
    fields = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id, chainId=1)
    for tx in (_legacy(ledger_env, account, **fields), _eip1559(ledger_env, account, **fields)):
        error = _refused(ledger_env, _signed(account, tx))
        assert isinstance(error, WrongChainId) and error.code == "wrong_chain_id"
        assert "chain 1, not this ledger's chain 31337" in str(error) and PREPARE_AGAIN in error.hint


def test_refuses_a_transaction_without_a_chain_id(ledger_env: Any) -> None:
    """Pre-EIP-155: valid on every chain, so a relayed copy could be replayed on another one."""
    account = ledger_env.merchant_account(RELAYER)
    fields = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id)
    fields.pop("chainId")
    error = _refused(ledger_env, _signed(account, _legacy(ledger_env, account, **fields)))
    assert isinstance(error, NoChainId) and error.code == "no_chain_id" and "pre-EIP-155" in str(error)


def test_refuses_a_future_nonce(ledger_env: Any) -> None:
    """The node would keep it queued, unmined, for as long as the gap lasts."""
    account = ledger_env.merchant_account(RELAYER)
    fields = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id)
    tx = _legacy(ledger_env, account, **fields)
    tx["nonce"] += 1
    error = _refused(ledger_env, _signed(account, tx))
    assert isinstance(error, FutureNonce) and isinstance(error, TransactionRejected)
    assert error.code == "future_nonce" and f"nonce {tx['nonce']} is ahead" in str(error)


def test_refuses_a_stale_nonce(ledger_env: Any, relayer_has_sent: int) -> None:
    account = ledger_env.merchant_account(RELAYER)
    fields = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id)
    tx = dict(_eip1559(ledger_env, account, **fields), nonce=relayer_has_sent - 1)
    error = _refused(ledger_env, _signed(account, tx))
    assert isinstance(error, StaleNonce) and error.code == "stale_nonce"
    assert f"next nonce is {relayer_has_sent}" in str(error)


def test_refuses_too_little_gas(ledger_env: Any) -> None:
    """21,000 gas (a plain transfer's) and one gas under the estimate: it would run out of gas."""
    account = ledger_env.merchant_account(RELAYER)
    fields = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id)
    estimate = _estimate(ledger_env, account, fields)
    for gas in (21_000, estimate - 1):
        error = _refused(ledger_env, _signed(account, _legacy(ledger_env, account, **dict(fields, gas=gas))))
        assert isinstance(error, InsufficientGas) and error.code == "insufficient_gas"
        assert f"gas limit {gas} is under the {estimate}" in str(error)


def test_refuses_gas_over_the_block_gas_limit(ledger_env: Any) -> None:
    account = ledger_env.merchant_account(RELAYER)
    limit = ledger_env.contracts.chain.w3.eth.get_block("latest")["gasLimit"]
    fields = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id, gas=limit + 1)
    error = _refused(ledger_env, _signed(account, _eip1559(ledger_env, account, **fields)))
    assert isinstance(error, ExcessiveGas) and error.code == "excessive_gas"


def test_refuses_a_price_under_the_nodes(ledger_env: Any) -> None:
    """A gas price, or an EIP-1559 fee cap, under the node's gas price would sit in the pool."""
    account = ledger_env.merchant_account(RELAYER)
    fields = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id)
    under = ledger_env.contracts.chain.w3.eth.gas_price - 1
    legacy = dict(_legacy(ledger_env, account, **fields), gasPrice=under)
    typed = dict(_eip1559(ledger_env, account, **fields), maxFeePerGas=under, maxPriorityFeePerGas=1)
    for tx in (legacy, typed):
        error = _refused(ledger_env, _signed(account, tx))
        assert isinstance(error, Underpriced) and error.code == "underpriced"
        assert f"at most {under} wei per gas" in str(error)


def test_refuses_a_set_code_transaction(ledger_env: Any) -> None:
    """EIP-7702 (type 4) would let the relay install code on the merchant's account: not a dispute's business."""
    account = ledger_env.merchant_account(RELAYER)
    fields = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id)
    auth = account.sign_authorization({"chainId": 31337, "address": "0x" + "11" * 20, "nonce": 0})
    tx = dict(_eip1559(ledger_env, account, **fields), type=4, accessList=[], authorizationList=[auth])
    error = _refused(ledger_env, _signed(account, tx))
    assert type(error) is InvalidTransaction and "type 4" in str(error)


def test_refuses_the_probes_transaction(ledger_env: Any) -> None:
    """The issue's probe: a future nonce, chain id 1 and 21,000 gas, which the node accepts and never mines."""
    account = ledger_env.merchant_account(RELAYER)
    fields = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id, chainId=1, gas=21_000)
    tx = _legacy(ledger_env, account, **fields)
    tx["nonce"] += 5
    assert isinstance(_refused(ledger_env, _signed(account, tx)), WrongChainId)


#: Each check's ways of being wrong, in the order the relay checks them; the code it refuses with.
_WRONG = {
    "value": {"one wei": "nonzero_value"},
    "chain": {"chain 1": "wrong_chain_id", "none": "no_chain_id"},
    "nonce": {"stale": "stale_nonce", "future": "future_nonce"},
    "price": {"under": "underpriced"},
    "gas": {"over the block": "excessive_gas", "21000": "insufficient_gas", "estimate - 1": "insufficient_gas"},
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None)
@given(
    kind=st.sampled_from(["legacy", "eip1559"]),
    choice=st.fixed_dictionaries({check: st.sampled_from(["ok", *ways]) for check, ways in _WRONG.items()}),
)
def test_refusal_is_the_first_failing_check(
    ledger_env: Any, relayer_has_sent: int, kind: str, choice: dict[str, str]
) -> None:
    """Any mix of wrong fields: refused with the code of the first wrong one in check order, nothing sent."""
    assume(any(way != "ok" for way in choice.values()))  # an all-right one would be relayed
    account = ledger_env.merchant_account(RELAYER)
    w3 = ledger_env.contracts.chain.w3
    fields = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id)
    estimate = _estimate(ledger_env, account, fields)
    fields["gas"] = {
        "ok": gas_with_headroom(estimate),
        "over the block": w3.eth.get_block("latest")["gasLimit"] + 1,
        "21000": 21_000,
        "estimate - 1": estimate - 1,
    }[choice["gas"]]
    fields["value"] = 1 if choice["value"] == "one wei" else 0
    if choice["chain"] == "chain 1":
        fields["chainId"] = 1
    if choice["chain"] == "none":
        fields.pop("chainId")
        kind = "legacy"  # only a legacy transaction can go without a chain id
    tx = (_legacy if kind == "legacy" else _eip1559)(ledger_env, account, **fields)
    tx["nonce"] += {"ok": 0, "stale": -1, "future": 1}[choice["nonce"]]
    if choice["price"] == "under":
        tx["gasPrice" if kind == "legacy" else "maxFeePerGas"] = w3.eth.gas_price - 1
        if kind != "legacy":
            tx["maxPriorityFeePerGas"] = 1
    expected = next(_WRONG[check][choice[check]] for check in _WRONG if choice[check] != "ok")
    assert _refused(ledger_env, _signed(account, tx)).code == expected


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
    assert prepared["gas"] == gas_with_headroom(_estimate(ledger_env, account, prepared))

    # The wallet may sign it as an EIP-1559 transaction rather than the legacy one prepared.
    fields = {k: prepared[k] for k in ("to", "data", "value", "gas", "chainId")}
    raw = _signed(account, _eip1559(ledger_env, account, **fields))
    pending = relay.relay(raw, signer_must_be=account.address, merchant_key=key)
    assert (pending.tx_hash, pending.round_id, pending.leaf_hash) == (
        decode_signed_transaction(raw).hash,
        round_id,
        row.leaf_hash,
    )
    dispute = relay.settle(pending)  # the node mines on arrival
    assert dispute is not None
    assert (dispute.round_id, dispute.merchant_key, dispute.reason) == (round_id, key, "orders undercounted")
    assert dispute.leaf_hash == row.leaf_hash and dispute.filed_tx == pending.tx_hash
    assert ledger_env.store.get_dispute(dispute.dispute_id) == dispute
    assert ledger_env.store.pending_disputes(merchant_key=key) == []
    assert bytes(ledger_env.contracts.ledger.functions.dispute(dispute.dispute_id).call()[0]) == key

    # The leaf has an open dispute now: prepare and relay both refuse a second (simulation, nothing sent).
    with pytest.raises(DisputeRefused, match="DisputeAlreadyOpen"):
        relay.prepare(row.to_leaf(), proof, "again", sender=account.address)
    again = _signed(account, _eip1559(ledger_env, account, **fields))
    assert isinstance(_refused(ledger_env, again), DisputeRefused)

    # A dispute of another leaf signed with the nonce just used: refused before the node sees it.
    stale = _dispute_fields(ledger_env, RELAYER, ledger_env.rounds[-1].round_id)
    used = decode_signed_transaction(raw).nonce
    error = _refused(ledger_env, _signed(account, dict(_legacy(ledger_env, account, **stale), nonce=used)))
    assert isinstance(error, StaleNonce)


# -- what waits for a block (a node of its own, mining paused) -------------------------------


def _relayed(env: Any, merchant: int, round_id: int, nonce_offset: int = 0, reason: str = "sales missing") -> Any:
    """Relay a valid dispute of ``merchant``'s leaf in ``round_id``, gas exactly the estimate."""
    account = env.merchant_account(merchant)
    fields = _dispute_fields(env, merchant, round_id, reason)
    fields["gas"] = _estimate(env, account, fields)  # exactly enough is enough
    tx = _legacy(env, account, **fields)
    tx["nonce"] += nonce_offset
    return _relay(env).relay(
        _signed(account, tx), signer_must_be=account.address, merchant_key=env.merchant_key(merchant)
    )


def test_a_relay_stays_pending_until_its_block_is_mined(manual_mining_env: Any) -> None:
    env, merchant = manual_mining_env, 0
    key, relay = env.merchant_key(merchant), _relay(manual_mining_env)
    round_id = env.rounds[0].round_id  # the API's relay test on this ledger disputes the last round's leaves
    w3 = env.contracts.chain.w3
    with mining_paused(env.contracts.chain):
        pending = _relayed(env, merchant, round_id)
        assert relay.settle(pending) is None  # sent, not mined: nothing recorded yet
        assert relay.settle_pending(key) == [pending] == env.store.pending_disputes(merchant_key=key)
        assert env.store.disputes(round_id=round_id, merchant_key=key) == []
        w3.provider.make_request("evm_mine", [])
        dispute = relay.settle(pending)
    assert dispute is not None and dispute.filed_tx == pending.tx_hash and dispute.status == "open"
    assert env.store.pending_disputes(merchant_key=key) == [] and relay.settle_pending(key) == []
    assert env.store.disputes(round_id=round_id, merchant_key=key) == [dispute]


def test_a_relay_replaced_in_the_pool_is_dropped(manual_mining_env: Any) -> None:
    """Another transaction took its nonce: it will never be mined, so it is no longer pending."""
    env, merchant = manual_mining_env, 1
    key, relay = env.merchant_key(merchant), _relay(manual_mining_env)
    round_id = env.rounds[0].round_id
    account = env.merchant_account(merchant)
    w3 = env.contracts.chain.w3
    with mining_paused(env.contracts.chain):
        pending = _relayed(env, merchant, round_id)
        transfer = {"to": account.address, "value": 0, "gas": 21_000, "chainId": env.contracts.chain.chain_id}
        replacement = dict(_legacy(env, account, **transfer), nonce=pending.nonce, gasPrice=3 * w3.eth.gas_price)
        w3.eth.send_raw_transaction(_signed(account, replacement))
        w3.provider.make_request("evm_mine", [])
        with pytest.raises(TransactionRejected, match=f"used its nonce {pending.nonce}"):
            relay.settle(pending)
    assert env.store.pending_disputes(merchant_key=key) == []
    assert env.store.disputes(round_id=round_id, merchant_key=key) == []


def test_a_relay_that_reverts_when_mined_is_dropped(manual_mining_env: Any) -> None:
    """Two disputes of one leaf, both simulated before either is mined: the second reverts in the block."""
    env, merchant = manual_mining_env, 2
    key, relay = env.merchant_key(merchant), _relay(manual_mining_env)
    round_id = env.rounds[0].round_id
    w3 = env.contracts.chain.w3
    with mining_paused(env.contracts.chain):
        first = _relayed(env, merchant, round_id, reason="first")
        second = _relayed(env, merchant, round_id, reason="second")  # the next nonce, same leaf
        assert second.nonce == first.nonce + 1
        w3.provider.make_request("evm_mine", [])
        filed = relay.settle(first)
        with pytest.raises(DisputeRefused, match="reverted"):
            relay.settle(second)
    assert filed is not None and filed.reason == "first"
    assert env.store.pending_disputes(merchant_key=key) == []
    assert env.store.disputes(round_id=round_id, merchant_key=key) == [filed]


def test_a_relay_the_node_does_not_know_stays_pending_until_its_nonce_is_used(ledger_env: Any) -> None:
    """The relay records a transaction a moment before sending it, so a look in between (the node does not
    know it yet) must keep it; one the node lost is dropped once another transaction takes its nonce."""
    key, relay = ledger_env.merchant_key(OTHER), _relay(ledger_env)
    account = ledger_env.merchant_account(OTHER)
    chain = ledger_env.contracts.chain
    nonce = chain.w3.eth.get_transaction_count(account.address, "pending")
    row = ledger_env.store.decision(ledger_env.rounds[-1].round_id, key)
    never_sent = ledger_env.store.add_pending_dispute(
        b"\x01" * 32, row.round_id, key, row.leaf_hash, "r", signer=account.address, nonce=nonce
    )
    try:
        assert relay.settle(never_sent) is None
        assert relay.settle_pending(key) == [never_sent]
        transfer = {"to": account.address, "value": 0, "gas": 21_000, "chainId": chain.chain_id}
        chain.wait(bytes(chain.w3.eth.send_raw_transaction(_signed(account, _legacy(ledger_env, account, **transfer)))))
        with pytest.raises(TransactionRejected, match=f"used its nonce {nonce}"):
            relay.settle(never_sent)
        assert ledger_env.store.pending_disputes(merchant_key=key) == []
    finally:
        ledger_env.store.drop_pending_dispute(never_sent.tx_hash)
