"""The dispute relay: a merchant's signed ``fileDispute`` transaction, checked, sent and recorded.

A merchant disputes a decision by signing ``CreditLedger.fileDispute(leaf, proof, reason)``
with its own wallet; the platform never holds its key. :class:`DisputeRelay` does the
platform's two parts of that exchange:

* :meth:`DisputeRelay.prepare` builds the unsigned transaction for the wallet to sign
  (nonce, gas with :func:`ledger.chain.gas_with_headroom`, chain id), after simulating
  it so a dispute the contract would refuse is refused here;
* :meth:`DisputeRelay.relay` takes the signed raw transaction back and

  1. decodes it with eth-account (:func:`decode_signed_transaction`: every kind, legacy
     and EIP-2718 typed) and recovers its signer;
  2. checks it (:meth:`DisputeRelay._check`): signed by the account it must be signed by,
     a value-less call to this deployment's ``CreditLedger``, ``fileDispute``, of the
     given merchant's own leaf;
  3. simulates it (a dispute the contract would revert is refused before it is sent);
  4. sends it, waits for its receipt, reads the ``DisputeFiled`` event and records the
     dispute in the store.

Each refusal is a :class:`RelayError` with a stable ``code`` (the table below); the API
maps them to HTTP statuses, a command line to its exit status.

======================  =======================  ================================================
error                   ``code``                 when
======================  =======================  ================================================
InvalidTransaction      ``invalid_transaction``  not a signed transaction; not a value-less
                                                 ``fileDispute`` call to this ledger
WrongSigner             ``wrong_signer``         signed by another account than the expected one
NotYourDecision         ``not_your_decision``    disputes another merchant's leaf
DisputeRefused          ``dispute_refused``      the contract refuses it (simulation, or mined
                                                 and reverted)
TransactionRejected     ``transaction_rejected`` the node refuses to accept it (nonce, price...)
DisputeNotRecorded      ``chain_error``          mined, but no ``DisputeFiled`` event
======================  =======================  ================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account import Account

# eth-account has no public decoder of a signed legacy transaction; this is the one its own
# Account.recover_transaction uses (eth_account/account.py), so both read the bytes alike.
from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError
from web3.logs import DISCARD
from web3.types import TxParams, TxReceipt, Wei

from foundation.errors import EXIT_FAILED, EXIT_INPUT, CreditLedgerError
from ledger.chain import TransactionReverted, describe_revert, gas_with_headroom, rpc_error_message
from ledger.deployment import LedgerContracts
from ledger.keccak import keccak256
from ledger.leaf import DecisionLeaf
from ledger.store import DisputeRow, Store

__all__ = [
    "RECEIPT_TIMEOUT_SECONDS",
    "DisputeNotRecorded",
    "DisputeRefused",
    "DisputeRelay",
    "InvalidTransaction",
    "NotYourDecision",
    "RelayError",
    "RelayedDispute",
    "SignedTransaction",
    "TransactionRejected",
    "WrongSigner",
    "decode_signed_transaction",
]

#: How long :meth:`DisputeRelay.relay` waits for the receipt by default.
RECEIPT_TIMEOUT_SECONDS = 60.0

#: The first byte of a legacy transaction (an RLP list); typed ones start with their type, 0x00-0x7f.
_MAX_TYPED_TX_PREFIX = 0x7F


# -- errors --------------------------------------------------------------------------


class RelayError(CreditLedgerError):
    """The relay refused or could not complete a dispute transaction."""

    code = "relay_error"
    hint = "prepare the dispute with `POST /merchant/disputes/prepare`, sign it unchanged and submit it"
    exit_code = EXIT_INPUT


class InvalidTransaction(RelayError):
    """Not a signed transaction, or not a value-less ``fileDispute`` call to this ledger."""

    code = "invalid_transaction"
    hint = "sign the transaction answered by `POST /merchant/disputes/prepare` unchanged"


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
    """The node refused to accept the signed transaction (nonce too low, underpriced...)."""

    code = "transaction_rejected"
    hint = "prepare the dispute again (fresh nonce and gas price) and sign that"


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
    signer: str  # checksummed
    to: str | None  # checksummed; None for a contract creation
    value: int
    data: bytes
    nonce: int
    gas: int
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
        chain_id=chain_id,
        hash=keccak256(bytes(encoded)),
        fields=fields,
    )


# -- the relay -----------------------------------------------------------------------


@dataclass(frozen=True)
class RelayedDispute:
    """A relayed dispute: the transaction, where it was mined, and the dispute as stored."""

    transaction: SignedTransaction
    tx_hash: bytes
    block_number: int
    dispute: DisputeRow


class DisputeRelay:
    """Prepares and relays merchants' own signed ``fileDispute`` transactions (see the module docstring)."""

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

    def relay(
        self,
        raw: bytes,
        *,
        signer_must_be: str,
        merchant_key: bytes,
        timeout: float = RECEIPT_TIMEOUT_SECONDS,
    ) -> RelayedDispute:
        """Check, simulate, send and record ``raw``, a signed ``fileDispute`` of ``merchant_key``'s own leaf.

        ``signer_must_be`` is the account that must have signed it (the signed-in one);
        ``timeout`` bounds the wait for the receipt (``ChainError`` past it).
        """
        tx = decode_signed_transaction(raw)
        self._check(tx, signer_must_be=signer_must_be, merchant_key=merchant_key)
        self._simulate(tx)
        tx_hash = self._send(tx)
        receipt = self.contracts.chain.wait(tx_hash, timeout=timeout)
        return self._record(tx, tx_hash, receipt)

    def _check(self, tx: SignedTransaction, *, signer_must_be: str, merchant_key: bytes) -> None:
        """Every refusal that the transaction alone decides, before anything reaches the node.

        This is the place for further checks of the transaction's own fields before it
        is sent (its chain id, nonce, gas limit and price, a per-merchant allowance).
        """
        if tx.signer.lower() != signer_must_be.lower():
            raise WrongSigner("the transaction is not signed by the signed-in account")
        ledger = self.contracts.ledger
        if tx.to is None or tx.to.lower() != ledger.address.lower() or tx.value != 0:
            raise InvalidTransaction("the transaction is not a call to this ledger's CreditLedger")
        try:
            fn, args = ledger.decode_function_input(tx.data)
        except ValueError:
            raise InvalidTransaction("the transaction does not call a CreditLedger function") from None
        if fn.fn_name != "fileDispute":
            raise InvalidTransaction(f"the transaction calls {fn.fn_name}, not fileDispute")
        leaf = args["leaf"]
        disputed = bytes(leaf[0] if isinstance(leaf, (list, tuple)) else leaf["merchantKey"])
        if disputed != merchant_key:
            raise NotYourDecision("the transaction disputes another merchant's decision")

    def _simulate(self, tx: SignedTransaction) -> None:
        """Run the call against the current state: a reverting dispute is refused, not mined as a failure."""
        chain = self.contracts.chain
        try:
            chain.w3.eth.call({"from": tx.signer, "to": self.contracts.ledger.address, "data": tx.data})
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            reverted = chain.decode_revert(exc, "fileDispute")  # the custom error's name and arguments
            raise DisputeRefused(
                f"the ledger refuses this dispute: {describe_revert(reverted.error, reverted.args_)}"
            ) from None

    def _send(self, tx: SignedTransaction) -> bytes:
        try:
            return bytes(self.contracts.chain.w3.eth.send_raw_transaction(tx.raw))
        except (Web3RPCError, ValueError) as exc:  # the node answered no: nonce too low, underpriced...
            # web3's text is the repr of the JSON-RPC error object: show the node's own words.
            raise TransactionRejected(f"the node refused the transaction: {rpc_error_message(exc)}") from None

    def _record(self, tx: SignedTransaction, tx_hash: bytes, receipt: TxReceipt) -> RelayedDispute:
        if receipt["status"] != 1:
            raise DisputeRefused(f"the dispute transaction 0x{tx_hash.hex()} reverted")
        events = self.contracts.ledger.events.DisputeFiled().process_receipt(receipt, errors=DISCARD)
        if not events:
            raise DisputeNotRecorded(
                f"the dispute transaction 0x{tx_hash.hex()} was mined but emitted no DisputeFiled event"
            )
        event = events[0]["args"]
        row = self.store.add_dispute(
            int(event["disputeId"]),
            int(event["round"]),
            bytes(event["merchantKey"]),
            bytes(event["leafHash"]),
            str(event["reason"]),
            filed_tx=tx_hash,
        )
        return RelayedDispute(tx, tx_hash, int(receipt["blockNumber"]), row)
