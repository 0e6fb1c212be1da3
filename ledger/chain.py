"""Talking to the chain: connection, signed transactions, contract bindings, revert decoding.

Everything that touches JSON-RPC goes through :class:`Chain`, so any EVM endpoint
(the embedded anvil, ganache, a consortium chain) is a URL and a chain id away.
Transactions are signed locally and sent raw, with legacy gas pricing, which every
node we support accepts; reverts come back as :class:`TransactionReverted` carrying
the decoded custom error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from eth_account.types import TransactionDictType
from eth_typing import Hash32
from eth_utils.abi import collapse_if_tuple, function_abi_to_4byte_selector
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, TimeExhausted
from web3.types import Nonce, RPCEndpoint, TxParams, TxReceipt, Wei

from foundation.errors import EXIT_INPUT, CreditLedgerError
from ledger.compiler import CompiledContract, compiled

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class ChainError(CreditLedgerError, RuntimeError):
    """Base class for chain access failures."""

    code = "chain_error"
    hint = "check that the node at CREDIT_LEDGER_RPC_URL is up and synced, then try again"


class NodeUnreachable(ChainError):
    """No JSON-RPC node answers at the configured URL."""

    code = "chain_unavailable"
    hint = "`credit-ledger node status` shows the embedded node; any other must answer at CREDIT_LEDGER_RPC_URL"


class WrongChain(ChainError):
    """The node's chain id is not the one configured."""

    code = "wrong_chain"
    hint = "point CREDIT_LEDGER_RPC_URL at a node of the configured chain, or fix CREDIT_LEDGER_CHAIN_ID"
    exit_code = EXIT_INPUT


class ContractMissing(ChainError):
    """A contract the address book names has no code on this chain."""

    code = "contract_missing"
    hint = "the chain was reset or the address book is from another chain: run `credit-ledger deploy`"


class TransactionReverted(ChainError):
    """A call or transaction reverted; ``error`` is the custom error's name if known."""

    code = "transaction_reverted"
    hint = "the contract refused the call: the revert names the rule it broke; fix that and send it again"

    def __init__(self, error: str, args: tuple[Any, ...], data: str | None, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.args_ = args
        self.data = data


def gas_with_headroom(estimate: int) -> int:
    """The gas limit to send for an ``eth_estimateGas`` result: 20% plus 10,000 over it.

    The estimate is exact for the state it ran against; the margin covers a slightly
    different state when the transaction is mined (a new storage slot, a longer string).
    """
    return int(estimate * 1.2) + 10_000


def rpc_error_message(exc: BaseException) -> str:
    """What a node said when it answered a call with a JSON-RPC error, in its own words.

    web3's ``Web3RPCError`` reads as the ``repr`` of the error object
    (``{'code': -32003, 'message': 'nonce too low'}``); this is the node's ``message``
    and ``code`` (``nonce too low (JSON-RPC error -32003)``), or the exception's type
    when there is no error object to read.
    """
    response = getattr(exc, "rpc_response", None)
    error = response.get("error") if isinstance(response, dict) else None
    if error is None and exc.args and isinstance(exc.args[0], dict):
        error = exc.args[0]  # a ValueError carrying the error object (how older web3 raised it)
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return f"{error['message'][:200]} (JSON-RPC error {error.get('code')})"
    return f"the node refused the request ({type(exc).__name__})"


def describe_revert(error: str, args: tuple[Any, ...] = ()) -> str:
    """A decoded revert as messages show it: ``Name(arg, ...)``, bytes as ``0x`` hex, never a bytes repr.

    ``describe_revert("DisputeAlreadyOpen", (leaf_hash,))`` is ``"DisputeAlreadyOpen(0x7dac36...)"``;
    a revert without a decoded name is ``"without a reason"``.
    """
    name = error or "without a reason"
    if not args:
        return name
    return f"{name}({', '.join(_revert_arg(a) for a in args)})"


def _revert_arg(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and _ADDRESS.fullmatch(value):
        return value
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_revert_arg(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class ErrorSignature:
    name: str
    types: tuple[str, ...]


def error_table(contracts: dict[str, CompiledContract]) -> dict[bytes, ErrorSignature]:
    """Selector -> error signature for every custom error in every compiled ABI."""
    table: dict[bytes, ErrorSignature] = {}
    for contract in contracts.values():
        for item in contract.abi:
            if item["type"] != "error":  # solc writes "type" on every ABI item
                continue
            # the selector is keccak256("Name(type,...)")[:4], tuples expanded, as for functions
            types = tuple(collapse_if_tuple(i) for i in item.get("inputs", []))
            table[function_abi_to_4byte_selector(item)] = ErrorSignature(item["name"], types)
    # The two built-in revert kinds.
    table[bytes.fromhex("08c379a0")] = ErrorSignature("Error", ("string",))
    table[bytes.fromhex("4e487b71")] = ErrorSignature("Panic", ("uint256",))
    return table


def decode_revert(data: str | bytes | None, table: dict[bytes, ErrorSignature]) -> tuple[str, tuple[Any, ...]]:
    """Name and arguments of the revert in ``data`` (``("", ())`` when there is none)."""
    if data is None:
        return "", ()
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else data
    if len(raw) < 4:
        return "", ()
    signature = table.get(raw[:4])
    if signature is None:
        return f"unknown error 0x{raw[:4].hex()}", ()
    try:
        return signature.name, tuple(abi_decode(list(signature.types), raw[4:]))
    except Exception:  # noqa: BLE001 - node-supplied bytes: eth-abi raises DecodingError, OverflowError...
        return signature.name, ()


class Chain:
    """A connected node plus the compiled contracts, able to deploy, call and transact."""

    def __init__(self, w3: Web3, chain_id: int, url: str = "", confirmations: int = 0) -> None:
        self.w3 = w3
        self.chain_id = chain_id
        self.url = url
        self.confirmations = confirmations

    @classmethod
    def connect(
        cls, url: str, expected_chain_id: int | None = None, timeout: float = 30.0, confirmations: int = 0
    ) -> Chain:
        provider = Web3.HTTPProvider(url, request_kwargs={"timeout": timeout})
        # web3 asks for eth_chainId around every call; caching the requests web3
        # deems immutable turns three round trips per contract call into one.
        provider.cache_allowed_requests = True
        w3 = Web3(provider)
        try:
            chain_id = w3.eth.chain_id
        except Exception as exc:  # noqa: BLE001 - no node there: requests, urllib3, web3 raise many types
            raise NodeUnreachable(
                f"no JSON-RPC node answers at {url} ({type(exc).__name__}). "
                "Start the local one with `credit-ledger node start`, or set CREDIT_LEDGER_RPC_URL."
            ) from None
        if expected_chain_id is not None and chain_id != expected_chain_id:
            raise WrongChain(f"the node at {url} is chain {chain_id}, but chain {expected_chain_id} is configured")
        return cls(w3, chain_id, url, confirmations)

    # -- contracts ---------------------------------------------------------
    @cached_property
    def artifacts(self) -> dict[str, CompiledContract]:
        return compiled()

    @cached_property
    def errors(self) -> dict[bytes, ErrorSignature]:
        return error_table(self.artifacts)

    def artifact(self, name: str) -> CompiledContract:
        try:
            return self.artifacts[name]
        except KeyError:
            raise ChainError(f"no compiled contract named {name}") from None

    def contract(self, name: str, address: str, check_code: bool = True) -> Contract:
        """A binding of the compiled ABI ``name`` at ``address``."""
        address = to_checksum_address(address)
        if check_code and self.w3.eth.get_code(address) in (b"", b"\x00"):
            raise ContractMissing(
                f"{name} at {address} has no code on chain {self.chain_id}: the chain was reset or the "
                "address book is from another chain; run `credit-ledger deploy`"
            )
        return self.w3.eth.contract(address=address, abi=self.artifact(name).abi)

    def deploy(self, name: str, sender: LocalAccount, *args: Any, gas: int | None = None) -> tuple[Contract, TxReceipt]:
        artifact = self.artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self.send(factory.constructor(*args), sender, gas=gas)
        address = receipt["contractAddress"]
        if address is None:  # a mined creation always has one; without it web3 would hand back the factory
            raise ChainError(
                f"deploying {name}: receipt 0x{bytes(receipt['transactionHash']).hex()} has no contract address"
            )
        return self.w3.eth.contract(address=address, abi=artifact.abi), receipt

    # -- transactions ------------------------------------------------------
    def decode_revert(self, exc: Exception, what: str) -> TransactionReverted:
        """The :class:`TransactionReverted` a web3 revert exception stands for (custom error decoded)."""
        data = getattr(exc, "data", None)
        if isinstance(data, dict):
            # anvil puts the revert bytes under "data"; ganache under "result".
            data = data.get("data") or data.get("result")
        if not isinstance(data, (str, bytes)):
            data = None
        name, args = decode_revert(data, self.errors)
        if not name and isinstance(exc, ContractLogicError):
            name = "Error"
            args = (str(exc),)
        return TransactionReverted(
            name, args, data if isinstance(data, str) else None, f"{what} reverted: {describe_revert(name, args)}"
        )

    def call(self, fn: ContractFunction, sender: str | None = None) -> Any:
        """A read-only call; custom-error reverts raise :class:`TransactionReverted`."""
        try:
            return fn.call({"from": sender} if sender else {})
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self.decode_revert(exc, fn.fn_name) from None

    def build(
        self,
        fn: ContractFunction | ContractConstructor,
        sender: LocalAccount,
        gas: int | None = None,
        nonce: int | None = None,
    ) -> TxParams:
        """The signed-ready transaction dict for ``fn`` (estimates gas; reverts raise).

        Sign it with :func:`sign_transaction` (eth-account's signer is typed for a plain dict).
        """
        tx: TxParams = {
            "from": sender.address,
            "chainId": self.chain_id,
            "nonce": self.w3.eth.get_transaction_count(sender.address, "pending") if nonce is None else Nonce(nonce),
            "gasPrice": Wei(max(self.w3.eth.gas_price, 1)),
        }
        if gas is not None:
            tx["gas"] = gas
        try:
            built = fn.build_transaction(tx)
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self.decode_revert(exc, getattr(fn, "fn_name", "constructor")) from None
        if gas is None:
            built["gas"] = gas_with_headroom(built["gas"])
        return built

    def send(
        self,
        fn: ContractFunction | ContractConstructor,
        sender: LocalAccount,
        gas: int | None = None,
        nonce: int | None = None,
        timeout: float = 120.0,
        on_sent: Callable[[bytes], None] | None = None,
    ) -> TxReceipt:
        """Sign, send and wait for ``fn``; raise :class:`TransactionReverted` on failure."""
        tx = self.build(fn, sender, gas=gas, nonce=nonce)
        signed = sign_transaction(sender, tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        if on_sent is not None:
            on_sent(bytes(tx_hash))
        receipt = self.wait(bytes(tx_hash), timeout=timeout)
        if receipt["status"] != 1:
            # Replay as a call at the same block to learn the reason.
            try:
                self.w3.eth.call(_replay_params(tx), receipt["blockNumber"])
            except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
                raise self.decode_revert(exc, getattr(fn, "fn_name", "constructor")) from None
            raise TransactionReverted("", (), None, f"transaction 0x{bytes(tx_hash).hex()} reverted")
        return receipt

    def wait(self, tx_hash: bytes, timeout: float = 120.0, confirmations: int | None = None) -> TxReceipt:
        """Wait for the receipt and for ``confirmations`` blocks on top of it.

        ``confirmations`` defaults to ``self.confirmations``; pass 0 for the receipt
        alone (the oracle waits for confirmations itself, watching for reorgs).
        """
        wanted = self.confirmations if confirmations is None else confirmations
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(Hash32(tx_hash), timeout=timeout, poll_latency=0.05)
        except TimeExhausted as exc:
            raise ChainError(f"transaction 0x{tx_hash.hex()} not mined within {timeout:.0f}s") from exc
        if wanted > 0:
            target = receipt["blockNumber"] + wanted
            deadline = time.monotonic() + timeout
            while self.w3.eth.block_number < target:
                if time.monotonic() > deadline:
                    raise ChainError(f"transaction 0x{tx_hash.hex()} lacks {wanted} confirmations")
                time.sleep(0.2)
        return receipt

    # -- local development nodes only -------------------------------------
    def advance_time(self, seconds: int) -> None:
        """Move a development node's clock forward and mine a block (anvil, ganache)."""
        self.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [int(seconds)])
        self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def sign_transaction(sender: LocalAccount, tx: TxParams) -> SignedTransaction:
    """``tx`` (as :meth:`Chain.build` makes it) signed by ``sender``.

    The cast is for the libraries' types only: web3 builds the transaction as its
    ``TxParams`` TypedDict, while eth-account's ``sign_transaction`` is annotated with a
    plain ``Dict[str, ...]`` (``TransactionDictType``), which mypy never takes a
    TypedDict for. At runtime it is the same dict.
    """
    return sender.sign_transaction(cast(TransactionDictType, tx))


def _replay_params(tx: TxParams) -> TxParams:
    """The fields of ``tx`` an ``eth_call`` replaying it needs (a deployment has no ``to``)."""
    replay: TxParams = {}
    if "from" in tx:
        replay["from"] = tx["from"]
    if "to" in tx:
        replay["to"] = tx["to"]
    if "data" in tx:
        replay["data"] = tx["data"]
    if "value" in tx:
        replay["value"] = tx["value"]
    if "gas" in tx:
        replay["gas"] = tx["gas"]
    return replay
