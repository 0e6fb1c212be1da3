"""The dispute relay: a merchant's signed ``fileDispute`` transaction, checked, sent and recorded.

A merchant disputes a decision by signing ``CreditLedger.fileDispute(leaf, proof, reason)``
with its own wallet; the platform never holds its key. :class:`DisputeRelay` does the
platform's parts of that exchange:

* :meth:`DisputeRelay.prepare` builds the unsigned transaction for the wallet to sign
  (nonce, gas with :func:`ledger.chain.gas_with_headroom`, gas price, chain id), after
  simulating it so a dispute the contract would refuse is refused here;
* :meth:`DisputeRelay.relay` takes the signed raw transaction back and

  1. decodes it with eth-account (:func:`decode_signed_transaction`: every kind, legacy
     and EIP-2718 typed) and recovers its signer;
  2. checks what the transaction alone decides (:meth:`DisputeRelay._check`): signed by
     the account it must be signed by, a legacy, EIP-2930 or EIP-1559 transaction for
     this chain (EIP-155: a transaction without a chain id could be replayed on any
     chain), a value-less call to this deployment's ``CreditLedger``, ``fileDispute``,
     of the given merchant's own leaf;
  3. checks it against the node (:meth:`DisputeRelay._check_against_node`): its nonce is
     the signer's next one (``pending``), it pays at least the node's gas price, its gas
     stays within the block gas limit, the call succeeds when simulated, and its gas
     covers a fresh ``eth_estimateGas`` of it;
  4. records it as a pending dispute in the store and sends it. It does not wait.

  Every check exists because the node would otherwise accept a transaction it never
  mines (a future nonce, another chain's id, too little gas, a price under the pool's),
  leaving the caller waiting for nothing; with them, what is sent can be mined at once.
* :meth:`DisputeRelay.settle` looks once for the sent transaction's receipt: once mined
  it reads the ``DisputeFiled`` event and records the dispute (which ends the pending
  one); :meth:`DisputeRelay.settle_pending` does that for every pending dispute of a
  merchant. Waiting, and for how long, is the caller's choice (the API bounds it).

Each refusal is a :class:`RelayError` with a stable ``code`` (the table below) and a
hint that says what to do (usually: prepare the dispute again and sign that); the API
maps them to HTTP statuses (400 a malformed or wrong transaction, 403 someone else's,
409 refused by the chain's state), a command line to its exit status.

======================  =======================  ================================================
error                   ``code``                 when
======================  =======================  ================================================
InvalidTransaction      ``invalid_transaction``  not a signed transaction; not a ``fileDispute``
                                                 call to this ledger; an unsupported type
NonZeroValue            ``nonzero_value``        it sends ether along
WrongChainId            ``wrong_chain_id``       signed for another chain
NoChainId               ``no_chain_id``          a pre-EIP-155 transaction, valid on any chain
InsufficientGas         ``insufficient_gas``     its gas limit is below ``eth_estimateGas``
ExcessiveGas            ``excessive_gas``        its gas limit is above the block gas limit
WrongSigner             ``wrong_signer``         signed by another account than the expected one
NotYourDecision         ``not_your_decision``    disputes another merchant's leaf
DisputeRefused          ``dispute_refused``      the contract refuses it (simulation, or mined
                                                 and reverted)
TransactionRejected     ``transaction_rejected`` the node refuses to accept it, or dropped it
StaleNonce              ``stale_nonce``          its nonce is already used
FutureNonce             ``future_nonce``         its nonce is ahead of the signer's next one
Underpriced             ``underpriced``          it pays less per gas than the node's gas price
DisputeNotRecorded      ``dispute_not_recorded`` mined, but no ``DisputeFiled`` event
======================  =======================  ================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from eth_account import Account

# eth-account has no public decoder of a signed legacy transaction; this is the one its own
# Account.recover_transaction uses (eth_account/account.py), so both read the bytes alike.
from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_typing import ChecksumAddress, Hash32
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.logs import DISCARD
from web3.types import TxParams, TxReceipt, Wei

from foundation.errors import EXIT_FAILED, EXIT_INPUT, CreditLedgerError
from ledger.chain import TransactionReverted, describe_revert, gas_with_headroom, rpc_error_message
from ledger.deployment import LedgerContracts
from ledger.keccak import keccak256
from ledger.leaf import DecisionLeaf, LeafError
from ledger.store import DisputeRow, PendingDisputeRow, Store

__all__ = [
    "DisputeNotRecorded",
    "DisputeRefused",
    "DisputeRelay",
    "ExcessiveGas",
    "FutureNonce",
    "InsufficientGas",
    "InvalidTransaction",
    "NoChainId",
    "NonZeroValue",
    "NotYourDecision",
    "RelayError",
    "SignedTransaction",
    "StaleNonce",
    "TransactionRejected",
    "Underpriced",
    "WrongChainId",
    "WrongSigner",
    "decode_signed_transaction",
]

#: The first byte of a legacy transaction (an RLP list); typed ones start with their type, 0x00-0x7f.
_MAX_TYPED_TX_PREFIX = 0x7F

#: The transaction types the relay sends: legacy, EIP-2930 and EIP-1559. A blob (EIP-4844)
#: or set-code (EIP-7702) transaction has no business filing a dispute.
_RELAYED_TYPES = frozenset({0, 1, 2})

_PREPARE_AGAIN = "prepare the dispute again with `POST /merchant/disputes/prepare` and sign that transaction unchanged"


# -- errors --------------------------------------------------------------------------


class RelayError(CreditLedgerError):
    """The relay refused or could not complete a dispute transaction."""

    code = "relay_error"
    hint = "prepare the dispute with `POST /merchant/disputes/prepare`, sign it unchanged and submit it"
    exit_code = EXIT_INPUT


class InvalidTransaction(RelayError):
    """Not a signed transaction, or not a ``fileDispute`` call to this ledger."""

    code = "invalid_transaction"
    hint = "sign the transaction answered by `POST /merchant/disputes/prepare` unchanged"


class NonZeroValue(InvalidTransaction):
    """The transaction sends ether along; a dispute is free."""

    code = "nonzero_value"
    hint = f"a dispute sends no ether: {_PREPARE_AGAIN}"


class WrongChainId(InvalidTransaction):
    """The transaction is signed for another chain than this ledger's."""

    code = "wrong_chain_id"
    hint = f"sign for the chain id the prepared transaction names: {_PREPARE_AGAIN}"


class NoChainId(WrongChainId):
    """A legacy transaction signed without a chain id (pre-EIP-155): valid, and replayable, on any chain."""

    code = "no_chain_id"
    hint = f"sign with the chain id (EIP-155) the prepared transaction names: {_PREPARE_AGAIN}"


class InsufficientGas(InvalidTransaction):
    """The transaction's gas limit does not cover the call: it would run out of gas."""

    code = "insufficient_gas"
    hint = f"keep the gas limit the prepared transaction names: {_PREPARE_AGAIN}"


class ExcessiveGas(InvalidTransaction):
    """The transaction's gas limit is over the block gas limit: no block could include it."""

    code = "excessive_gas"
    hint = f"keep the gas limit the prepared transaction names: {_PREPARE_AGAIN}"


class WrongSigner(RelayError):
    """The transaction is signed by another account than the one it must be signed by."""

    code = "wrong_signer"
    hint = "sign the dispute with the wallet of the account you are signed in with"


class NotYourDecision(RelayError):
    """The transaction disputes a leaf of another merchant."""

    code = "not_your_decision"
    hint = "a merchant may dispute only its own decisions"


class DisputeRefused(RelayError):
    """The ledger contract refuses the dispute (already open, merchant not active, bad proof...)."""

    code = "dispute_refused"
    hint = "the error names the contract's reason; an open dispute must be resolved before the next"


class TransactionRejected(RelayError):
    """The node refused the signed transaction, or would never mine it (its subclasses say why)."""

    code = "transaction_rejected"
    hint = f"the chain moved on since it was prepared (fresh nonce and gas price needed): {_PREPARE_AGAIN}"


class StaleNonce(TransactionRejected):
    """The transaction's nonce is already used by another transaction of the signer."""

    code = "stale_nonce"
    hint = f"the account has sent a transaction since: {_PREPARE_AGAIN}"


class FutureNonce(TransactionRejected):
    """The transaction's nonce is ahead of the signer's next one: the node would hold it unmined."""

    code = "future_nonce"
    hint = f"sign with the nonce the prepared transaction names: {_PREPARE_AGAIN}"


class Underpriced(TransactionRejected):
    """The transaction pays less per gas than the node's gas price: it would sit in the pool."""

    code = "underpriced"
    hint = f"the gas price has risen since it was prepared: {_PREPARE_AGAIN}"


class DisputeNotRecorded(RelayError):
    """The dispute transaction was mined but emitted no ``DisputeFiled`` event."""

    code = "dispute_not_recorded"
    hint = "check the transaction on the chain; the indexer records the dispute if it was filed"
    exit_code = EXIT_FAILED


# -- decoding ------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedTransaction:
    """The fields of a signed raw transaction and its recovered signer."""

    raw: bytes
    type: int  # 0 legacy, 1 EIP-2930, 2 EIP-1559, 3 EIP-4844, 4 EIP-7702
    signer: ChecksumAddress
    to: str | None  # checksummed; None for a contract creation
    value: int
    data: bytes
    nonce: int
    gas: int
    fee_cap: int  # the most it pays per gas: gasPrice, or maxFeePerGas of a fee-market transaction
    chain_id: int | None  # None for a pre-EIP-155 legacy transaction
    hash: bytes
    fields: dict[str, Any] = field(repr=False, compare=False)  # everything eth-account decoded


def decode_signed_transaction(raw: bytes) -> SignedTransaction:
    """Decode a signed transaction of any kind with eth-account; :class:`InvalidTransaction` if it is not one.

    Typed transactions (EIP-2718: a type byte 0x00-0x7f, then the payload) go through
    ``TypedTransaction.from_bytes``; legacy ones (an RLP list) through eth-account's
    legacy ``Transaction.from_bytes``, the decoder ``Account.recover_transaction`` uses.
    """
    encoded = HexBytes(raw)
    if not encoded:
        raise InvalidTransaction("not a signed transaction: no bytes")
    chain_id: int | None
    try:
        if encoded[0] <= _MAX_TYPED_TX_PREFIX:
            typed = TypedTransaction.from_bytes(encoded)
            kind, fields = typed.transaction_type, dict(typed.as_dict())
            chain_id = int(fields["chainId"])
        else:
            kind, fields = 0, dict(LegacyTransaction.from_bytes(encoded).as_dict())
            v = int(fields["v"])
            chain_id = (v - 35) // 2 if v >= 35 else None  # EIP-155
        to = bytes(fields.get("to") or b"")
        recipient = to_checksum_address(to) if to else None
        value, data = int(fields.get("value") or 0), bytes(fields.get("data") or b"")
        nonce, gas = int(fields["nonce"]), int(fields["gas"])
        fee_cap = int(fields["maxFeePerGas"] if "maxFeePerGas" in fields else fields["gasPrice"])
    except Exception as exc:  # noqa: BLE001 - rlp and eth_account raise many types for garbage
        raise InvalidTransaction(f"not a signed transaction: {type(exc).__name__}") from None
    try:
        signer = Account.recover_transaction(encoded)
    except Exception:  # noqa: BLE001 - eth_keys raises several types for a bad signature
        raise InvalidTransaction("cannot recover the transaction's signer") from None
    return SignedTransaction(
        raw=bytes(encoded),
        type=kind,
        signer=signer,
        to=recipient,
        value=value,
        data=data,
        nonce=nonce,
        gas=gas,
        fee_cap=fee_cap,
        chain_id=chain_id,
        hash=keccak256(bytes(encoded)),
        fields=fields,
    )


# -- the relay -----------------------------------------------------------------------


@dataclass(frozen=True)
class _DisputeCall:
    """What a checked ``fileDispute`` transaction disputes."""

    leaf: DecisionLeaf
    reason: str


class DisputeRelay:
    """Prepares, relays and settles merchants' own signed ``fileDispute`` transactions (see the module docstring).

    Every method makes a few short JSON-RPC calls and returns; none waits for a block.
    """

    def __init__(self, contracts: LedgerContracts, store: Store) -> None:
        self.contracts = contracts
        self.store = store

    # -- step 1: the unsigned transaction ---------------------------------------------

    def prepare(self, leaf: DecisionLeaf, proof: list[bytes], reason: str, *, sender: str) -> dict[str, Any]:
        """The unsigned legacy ``fileDispute(leaf, proof, reason)`` transaction from ``sender``, for it to sign.

        Simulated first: :class:`DisputeRefused` if the contract would revert it.
        """
        chain = self.contracts.chain
        account = to_checksum_address(sender)
        fn = self.contracts.ledger.functions.fileDispute(leaf.to_abi_tuple(), proof, reason)
        try:
            chain.call(fn, account)
        except TransactionReverted as exc:
            raise DisputeRefused(
                f"the ledger would refuse this dispute: {describe_revert(exc.error, exc.args_)}"
            ) from None
        params: TxParams = {
            "from": account,
            "chainId": chain.chain_id,
            "nonce": chain.w3.eth.get_transaction_count(account, "pending"),
            "gasPrice": Wei(max(chain.w3.eth.gas_price, 1)),
        }
        tx = fn.build_transaction(params)
        return {
            "to": tx["to"],
            "data": tx["data"],
            "chainId": chain.chain_id,
            "nonce": tx["nonce"],
            "gas": gas_with_headroom(tx["gas"]),
            "gasPrice": tx["gasPrice"],
            "value": 0,
            "from": account,
        }

    # -- step 2: relay the signed one -------------------------------------------------

    def relay(self, raw: bytes, *, signer_must_be: str, merchant_key: bytes) -> PendingDisputeRow:
        """Check ``raw``, a signed ``fileDispute`` of ``merchant_key``'s own leaf, record it as pending and send it.

        ``signer_must_be`` is the account that must have signed it (the signed-in one).
        Returns at once, the transaction sent but not mined: :meth:`settle` records the
        dispute once it is. Nothing is recorded when a check refuses it, or the node does.
        """
        tx = decode_signed_transaction(raw)
        call = self._check(tx, signer_must_be=signer_must_be, merchant_key=merchant_key)
        self._check_against_node(tx)
        # Recorded before it is sent, so a crash between the two leaves a pending row that
        # settle() resolves (mined, or its nonce taken by another), never an unrecorded dispute.
        pending = self.store.add_pending_dispute(
            tx.hash,
            call.leaf.round,
            call.leaf.merchant_key,
            call.leaf.leaf_hash(),
            call.reason,
            signer=tx.signer,
            nonce=tx.nonce,
        )
        try:
            self.contracts.chain.w3.eth.send_raw_transaction(tx.raw)
        except (Web3RPCError, ValueError) as exc:  # the node answered no (insufficient funds, a race...)
            self.store.drop_pending_dispute(tx.hash)
            # web3's text is the repr of the JSON-RPC error object: show the node's own words.
            raise TransactionRejected(f"the node refused the transaction: {rpc_error_message(exc)}") from None
        return pending

    def _check(self, tx: SignedTransaction, *, signer_must_be: str, merchant_key: bytes) -> _DisputeCall:
        """Every refusal that the transaction alone decides, before anything reaches the node."""
        if tx.signer.lower() != signer_must_be.lower():
            raise WrongSigner("the transaction is not signed by the signed-in account")
        if tx.type not in _RELAYED_TYPES:
            raise InvalidTransaction(
                f"a type {tx.type} transaction cannot file a dispute; sign a legacy, EIP-2930 or EIP-1559 one"
            )
        ledger = self.contracts.ledger
        if tx.to is None or tx.to.lower() != ledger.address.lower():
            raise InvalidTransaction("the transaction is not a call to this ledger's CreditLedger")
        if tx.value != 0:
            raise NonZeroValue(f"the transaction sends {tx.value} wei along; a dispute sends none")
        chain_id = self.contracts.chain.chain_id
        if tx.chain_id is None:
            raise NoChainId(
                f"the transaction has no chain id (pre-EIP-155): it is valid on every chain, not only on {chain_id}"
            )
        if tx.chain_id != chain_id:
            raise WrongChainId(f"the transaction is signed for chain {tx.chain_id}, not this ledger's chain {chain_id}")
        try:
            fn, args = ledger.decode_function_input(tx.data)
        except ValueError:
            raise InvalidTransaction("the transaction does not call a CreditLedger function") from None
        if fn.fn_name != "fileDispute":
            raise InvalidTransaction(f"the transaction calls {fn.fn_name}, not fileDispute")
        leaf_arg = args["leaf"]
        try:  # web3 decodes the struct as a mapping of its fields, in ABI order
            leaf = DecisionLeaf(*(leaf_arg.values() if isinstance(leaf_arg, Mapping) else leaf_arg))
        except (LeafError, TypeError):
            raise InvalidTransaction("the transaction's leaf is not a decision leaf") from None
        if leaf.merchant_key != merchant_key:
            raise NotYourDecision("the transaction disputes another merchant's decision")
        return _DisputeCall(leaf, str(args["reason"]))

    def _check_against_node(self, tx: SignedTransaction) -> None:
        """Every refusal the chain's current state decides: what passes can be mined now, and will not revert."""
        w3 = self.contracts.chain.w3
        expected = w3.eth.get_transaction_count(tx.signer, "pending")
        if tx.nonce < expected:
            raise StaleNonce(f"the transaction's nonce {tx.nonce} is used; the account's next nonce is {expected}")
        if tx.nonce > expected:
            raise FutureNonce(
                f"the transaction's nonce {tx.nonce} is ahead of the account's next nonce {expected}: "
                "the node would hold it unmined"
            )
        gas_price = w3.eth.gas_price
        if tx.fee_cap < gas_price:
            raise Underpriced(
                f"the transaction pays at most {tx.fee_cap} wei per gas, under the node's gas price of {gas_price}"
            )
        block_gas_limit = int(w3.eth.get_block("latest")["gasLimit"])
        if tx.gas > block_gas_limit:
            raise ExcessiveGas(f"the transaction's gas limit {tx.gas} is over the block gas limit {block_gas_limit}")
        self._simulate(tx)
        try:
            estimate = w3.eth.estimate_gas({"from": tx.signer, "to": self.contracts.ledger.address, "data": tx.data})
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            self._refuse_revert(exc)  # the state changed since the simulation a moment ago
        if tx.gas < estimate:
            raise InsufficientGas(f"the transaction's gas limit {tx.gas} is under the {estimate} the call needs")

    def _simulate(self, tx: SignedTransaction) -> None:
        """Run the call against the current state: a reverting dispute is refused, not mined as a failure."""
        try:
            self.contracts.chain.w3.eth.call({"from": tx.signer, "to": self.contracts.ledger.address, "data": tx.data})
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            self._refuse_revert(exc)

    def _refuse_revert(self, exc: Exception) -> NoReturn:
        reverted = self.contracts.chain.decode_revert(exc, "fileDispute")  # the custom error's name and arguments
        raise DisputeRefused(
            f"the ledger refuses this dispute: {describe_revert(reverted.error, reverted.args_)}"
        ) from None

    # -- step 3: the dispute, once mined ------------------------------------------------

    def settle(self, pending: PendingDisputeRow) -> DisputeRow | None:
        """One look at a relayed transaction: the dispute if it is mined (recorded), None while it is not.

        A transaction that reverted (:class:`DisputeRefused`), emitted no ``DisputeFiled``
        (:class:`DisputeNotRecorded`) or will never be mined (:class:`TransactionRejected`:
        another transaction of its signer took its nonce) ends its pending row: the
        dispute was not filed.
        """
        receipt = self._receipt(pending.tx_hash)
        if receipt is None:
            if self._never_mined(pending):
                self.store.drop_pending_dispute(pending.tx_hash)
                raise TransactionRejected(
                    f"the dispute transaction 0x{pending.tx_hash.hex()} will never be mined: another "
                    f"transaction of {pending.signer} used its nonce {pending.nonce}"
                )
            return None
        return self._record(pending, receipt)

    def settle_pending(self, merchant_key: bytes) -> list[PendingDisputeRow]:
        """:meth:`settle` every pending dispute of ``merchant_key``; those still not mined, oldest first."""
        waiting = []
        for pending in self.store.pending_disputes(merchant_key=merchant_key):
            try:
                if self.settle(pending) is None:
                    waiting.append(pending)
            except RelayError:
                # Reverted or dropped: settle() removed it, and it filed no dispute to list.
                continue
        return waiting

    def _receipt(self, tx_hash: bytes) -> TxReceipt | None:
        try:
            return self.contracts.chain.w3.eth.get_transaction_receipt(Hash32(tx_hash))
        except TransactionNotFound:
            return None

    def _never_mined(self, pending: PendingDisputeRow) -> bool:
        """True if the unmined transaction never will be: another transaction of its signer used its nonce.

        Whether the node knows it is not asked: the relay records it a moment before sending
        it, so a look in between would take it for lost. One the node did lose (a restart)
        stays pending until the merchant's next transaction takes its nonce.
        """
        signer = to_checksum_address(pending.signer)
        if self.contracts.chain.w3.eth.get_transaction_count(signer, "latest") <= pending.nonce:
            return False
        # Used by another transaction, or by this one mined a moment ago: a second look decides.
        return self._receipt(pending.tx_hash) is None

    def _record(self, pending: PendingDisputeRow, receipt: TxReceipt) -> DisputeRow:
        tx_hash = pending.tx_hash
        if receipt["status"] != 1:
            self.store.drop_pending_dispute(tx_hash)
            raise DisputeRefused(f"the dispute transaction 0x{tx_hash.hex()} reverted")
        events = self.contracts.ledger.events.DisputeFiled().process_receipt(receipt, errors=DISCARD)
        if not events:
            self.store.drop_pending_dispute(tx_hash)
            raise DisputeNotRecorded(
                f"the dispute transaction 0x{tx_hash.hex()} was mined but emitted no DisputeFiled event"
            )
        event = events[0]["args"]
        return self.store.add_dispute(  # ends the pending row in the same store transaction
            int(event["disputeId"]),
            int(event["round"]),
            bytes(event["merchantKey"]),
            bytes(event["leafHash"]),
            str(event["reason"]),
            filed_tx=tx_hash,
        )
