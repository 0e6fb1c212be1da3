"""Proof bundles: one decision, its Merkle proof, and where its root is anchored -- checked against the chain alone.

A bundle is self-contained JSON::

    {"version": 1,
     "leaf": DecisionLeaf.to_dict(),
     "leafHash": "0x..", "proof": ["0x..", ...], "root": "0x..",
     "chain": {"chainId": 31337, "contract": "0x<CreditLedger>", "round": 7,
               "anchorTx": "0x..", "block": 123}}

:func:`verify_bundle` trusts nothing in it but the chain it is pointed at: it
re-hashes the leaf from its values, folds the proof, reads the anchored batch
from the named contract, asks the contract to verify the decision itself, and
checks the anchoring transaction. Each check is one :class:`Check` line, so a
failure says which part of the bundle is wrong.

Caveat: the bundle names the contract. A verifier that wants to be sure the
address is the real ledger (and not a look-alike deployed by whoever made the
bundle) passes ``expected_contract`` (``credit-ledger verify --contract``),
taken from a source it trusts, such as the operator's published address book.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_typing import ChecksumAddress, Hash32
from eth_utils.address import to_checksum_address
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD

from foundation.errors import EXIT_INPUT, CreditLedgerError, shown
from ledger.chain import Chain, TransactionReverted, describe_revert
from ledger.leaf import LEAF_FIELDS, LEAF_LAYOUT, DecisionLeaf, LeafError, LeafField
from ledger.merkle import MerkleError, process_proof

if TYPE_CHECKING:  # for annotations only: this module stays importable without SQLAlchemy
    from ledger.store import Store

__all__ = [
    "BUNDLE_JSON_SCHEMA",
    "BUNDLE_VERSION",
    "BundleError",
    "Check",
    "ParsedBundle",
    "VerificationReport",
    "build_bundle",
    "bundle_from_store",
    "parse_bundle",
    "verify_bundle",
]

BUNDLE_VERSION = 1
#: No tree of up to 2**64 leaves needs a longer proof.
MAX_PROOF_LENGTH = 64

_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}\Z")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}\Z")
#: The same two, as JSON Schema patterns (ECMA-262: ``$`` is the end of the string).
_HEX32_PATTERN = "^0x[0-9a-fA-F]{64}$"
_ADDRESS_PATTERN = "^0x[0-9a-fA-F]{40}$"
_TOP_KEYS = frozenset({"version", "leaf", "leafHash", "proof", "root", "chain"})
_CHAIN_KEYS = frozenset({"chainId", "contract", "round", "anchorTx", "block"})


class BundleError(CreditLedgerError, ValueError):
    """A bundle is malformed, or cannot be built (e.g. its round is not anchored yet)."""

    code = "bundle_invalid"
    hint = "pass the proof bundle exactly as the API returned it (GET /merchant/decisions/{round}), as JSON"
    exit_code = EXIT_INPUT


@dataclass(frozen=True)
class Check:
    """One verification step: its name, whether it passed, and what was compared."""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class VerificationReport:
    """All checks of one bundle; :attr:`ok` only if every one passed (and there is at least one)."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, bool(ok), detail))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_dict() for c in self.checks]}


@dataclass(frozen=True)
class ParsedBundle:
    """A well-formed bundle's values, typed."""

    leaf: DecisionLeaf
    leaf_hash: bytes
    proof: list[bytes]
    root: bytes
    chain_id: int
    contract: ChecksumAddress
    round: int
    anchor_tx: bytes
    block: int


# -- building -------------------------------------------------------------------


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def build_bundle(
    leaf: DecisionLeaf,
    proof: Sequence[bytes],
    root: bytes,
    *,
    chain_id: int,
    contract: str,
    anchor_tx: bytes,
    block: int,
) -> dict[str, Any]:
    """The bundle JSON (a dict) for ``leaf`` proved by ``proof`` under the anchored ``root``."""
    return {
        "version": BUNDLE_VERSION,
        "leaf": leaf.to_dict(),
        "leafHash": _hex(leaf.leaf_hash()),
        "proof": [_hex(p) for p in proof],
        "root": _hex(root),
        "chain": {
            "chainId": int(chain_id),
            "contract": to_checksum_address(contract),
            "round": leaf.round,
            "anchorTx": _hex(anchor_tx),
            "block": int(block),
        },
    }


def bundle_from_store(
    store: Store, round_id: int, merchant_key: bytes, *, chain_id: int, contract: str
) -> dict[str, Any]:
    """The bundle of one merchant's decision in one round, from the off-chain store.

    Raises ``ledger.store.NotFound``
    when the merchant has no decision in the round and :class:`BundleError`
    while the round is not anchored yet (no transaction to point at).
    """
    from ledger.store import NotFound  # local: keep this module importable without SQLAlchemy

    decision = store.decision(round_id, merchant_key)
    rnd = store.get_round(round_id)
    try:
        anchor = store.get_anchor(round_id)
    except NotFound:
        anchor = None
    if anchor is None or anchor.block_number is None or rnd.root is None:
        raise BundleError(
            f"round {round_id} is not anchored yet",
            code="round_not_anchored",
            hint="a bundle exists once the round's anchoring transaction is mined; ask again after that",
        )
    return build_bundle(
        decision.to_leaf(),
        store.proof(round_id, merchant_key),
        rnd.root,
        chain_id=chain_id,
        contract=contract,
        anchor_tx=anchor.tx_hash,
        block=anchor.block_number,
    )


# -- parsing --------------------------------------------------------------------


def _hex32(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not _HEX32.match(value):
        raise BundleError(f"{where}: expected '0x' and 64 hex digits, got {shown(value, 80)}")
    return bytes.fromhex(value[2:])


def _uint(value: Any, where: str, bits: int = 64) -> int:
    if type(value) is not int or not 0 <= value < 1 << bits:
        raise BundleError(f"{where}: expected an integer 0..2**{bits}-1, got {shown(value, 80)}")
    return value


def _leaf(value: Any) -> DecisionLeaf:
    """The bundle's leaf: integers must be JSON integers in their ABI range (no decimal strings, booleans or floats).

    ``DecisionLeaf.from_dict`` also takes decimal strings; a bundle is written by
    :func:`build_bundle` with integers, and :data:`BUNDLE_JSON_SCHEMA` says so.
    """
    if isinstance(value, Mapping):
        for f in LEAF_LAYOUT:
            if f.name not in value:
                continue  # from_dict names the missing field
            if f.kind == "uint":
                _uint(value[f.name], f"leaf.{f.name}", f.bits)
            elif f.kind == "uint_array" and isinstance(value[f.name], list):
                for i, code in enumerate(value[f.name]):
                    _uint(code, f"leaf.{f.name}[{i}]", f.bits)
    try:
        return DecisionLeaf.from_dict(value)
    except LeafError as exc:
        raise BundleError(f"leaf.{exc}") from None


def parse_bundle(bundle: Any) -> ParsedBundle:
    """Check a bundle's shape and types; :class:`BundleError` names the first bad field.

    The one parser of bundles: ``credit-ledger verify`` (through :func:`verify_bundle`)
    and the API's ``POST /verify`` both use it. It is strict: JSON integers only
    (no ``true`` for 1, no ``"688"``), no missing or extra keys. The shape it
    accepts is :data:`BUNDLE_JSON_SCHEMA`.
    """
    if not isinstance(bundle, Mapping):
        raise BundleError(f"bundle: expected a JSON object, got {type(bundle).__name__}")
    keys = set(bundle)
    if keys != _TOP_KEYS:
        missing, extra = sorted(_TOP_KEYS - keys), sorted(map(str, keys - _TOP_KEYS))
        raise BundleError(f"bundle: missing {missing}, unexpected {extra}")
    if bundle["version"] != BUNDLE_VERSION or type(bundle["version"]) is not int:
        raise BundleError(f"version: expected {BUNDLE_VERSION}, got {shown(bundle['version'], 40)}")
    leaf = _leaf(bundle["leaf"])
    proof_raw = bundle["proof"]
    if not isinstance(proof_raw, list) or len(proof_raw) > MAX_PROOF_LENGTH:
        raise BundleError(f"proof: expected a list of at most {MAX_PROOF_LENGTH} hashes")
    proof = [_hex32(p, f"proof[{i}]") for i, p in enumerate(proof_raw)]
    chain = bundle["chain"]
    if not isinstance(chain, Mapping) or set(chain) != _CHAIN_KEYS:
        raise BundleError(f"chain: expected an object with {sorted(_CHAIN_KEYS)}")
    contract = chain["contract"]
    if not isinstance(contract, str) or not _ADDRESS.match(contract):
        raise BundleError(f"chain.contract: expected a 0x address, got {shown(contract, 80)}")
    try:
        contract = to_checksum_address(contract)
    except ValueError:
        raise BundleError(f"chain.contract: not an address: {shown(contract, 80)}") from None
    return ParsedBundle(
        leaf=leaf,
        leaf_hash=_hex32(bundle["leafHash"], "leafHash"),
        proof=proof,
        root=_hex32(bundle["root"], "root"),
        chain_id=_uint(chain["chainId"], "chain.chainId"),
        contract=contract,
        round=_uint(chain["round"], "chain.round"),
        anchor_tx=_hex32(chain["anchorTx"], "chain.anchorTx"),
        block=_uint(chain["block"], "chain.block"),
    )


def _uint_schema(bits: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": (1 << bits) - 1}


def _leaf_field_schema(f: LeafField) -> dict[str, Any]:
    if f.kind == "bytes32":
        return {"type": "string", "pattern": _HEX32_PATTERN}
    if f.kind == "uint_array":
        return {"type": "array", "items": _uint_schema(f.bits), "minItems": f.length, "maxItems": f.length}
    return _uint_schema(f.bits)


def _bundle_json_schema() -> dict[str, Any]:
    hex32 = {"type": "string", "pattern": _HEX32_PATTERN}
    chain = {
        "chainId": _uint_schema(64),
        "contract": {"type": "string", "pattern": _ADDRESS_PATTERN},
        "round": _uint_schema(64),
        "anchorTx": hex32,
        "block": _uint_schema(64),
    }
    top = {
        "version": {"type": "integer", "const": BUNDLE_VERSION},
        "leaf": {
            "type": "object",
            "description": "The decision exactly as hashed (ledger.leaf.DecisionLeaf.to_dict())",
            "properties": {f.name: _leaf_field_schema(f) for f in LEAF_LAYOUT},
            "required": list(LEAF_FIELDS),
            "additionalProperties": False,
        },
        "leafHash": hex32,
        "proof": {"type": "array", "items": hex32, "maxItems": MAX_PROOF_LENGTH},
        "root": hex32,
        "chain": {
            "type": "object",
            "description": "Where the bundle's root is anchored",
            "properties": chain,
            "required": sorted(_CHAIN_KEYS),
            "additionalProperties": False,
        },
    }
    assert set(top) == _TOP_KEYS and set(chain) == _CHAIN_KEYS  # the schema and the parser name the same keys
    return {
        "title": "ProofBundle",
        "description": "A self-contained proof that one decision is in an anchored round",
        "type": "object",
        "properties": top,
        "required": sorted(_TOP_KEYS),
        "additionalProperties": False,
    }


BUNDLE_JSON_SCHEMA: dict[str, Any] = _bundle_json_schema()
"""The JSON Schema of a bundle :func:`parse_bundle` accepts (the API documents ``POST /verify``'s body with it).

Built from the same constants as the parser and from :data:`ledger.leaf.LEAF_LAYOUT`;
``tests/api/test_api_verify.py`` checks that every bundle the parser accepts is valid under it.
"""


# -- verifying --------------------------------------------------------------------


def verify_bundle(bundle: Any, chain: Chain, *, expected_contract: str | None = None) -> VerificationReport:
    """Check ``bundle`` against ``chain`` only; every step is a named :class:`Check`.

    Never raises for a bad bundle: a malformed one yields a failing ``format``
    check naming the field. Node failures (connection errors) do propagate.
    """
    report = VerificationReport()
    try:
        b = parse_bundle(bundle)
    except BundleError as exc:
        report.add("format", False, str(exc))
        return report
    report.add("format", True, f"version {BUNDLE_VERSION} bundle, {len(b.proof)}-step proof")

    # -- offline: the bundle must agree with itself ------------------------------
    computed = b.leaf.leaf_hash()
    report.add(
        "leaf_hash",
        computed == b.leaf_hash,
        f"recomputed {_hex(computed)} from the leaf values; bundle says {_hex(b.leaf_hash)}",
    )
    try:
        folded = process_proof(computed, b.proof)
    except MerkleError as exc:  # unreachable after parse_bundle, kept for safety
        report.add("proof", False, str(exc))
        folded = b""
    report.add("proof", folded == b.root, f"proof folds to {_hex(folded)}; bundle root {_hex(b.root)}")
    report.add("round", b.round == b.leaf.round, f"chain.round {b.round}, leaf.round {b.leaf.round}")

    # -- the chain ------------------------------------------------------------------
    node_chain = chain.chain_id
    report.add("chain_id", node_chain == b.chain_id, f"node is chain {node_chain}; bundle says {b.chain_id}")
    if expected_contract is not None:
        pinned = to_checksum_address(expected_contract)
        report.add("contract_pinned", pinned == b.contract, f"trusted CreditLedger {pinned}; bundle names {b.contract}")
    code = chain.w3.eth.get_code(b.contract)
    has_code = len(code) > 0
    report.add("contract_code", has_code, f"{len(code)} bytes of code at {b.contract}")
    on_chain = ("anchored_root", "block", "versions", "on_chain_verify", "anchor_tx")
    if node_chain != b.chain_id or not has_code:
        for name in on_chain:
            report.add(name, False, "skipped: the bundle's chain or contract is not this node's")
        return report

    ledger = chain.contract("CreditLedger", b.contract, check_code=False)
    batch = _call(chain, ledger.functions.batch(b.leaf.round))
    if isinstance(batch, str):
        report.add("anchored_root", False, f"batch({b.leaf.round}): {batch}")
        report.add("block", False, "skipped: no anchored batch")
        report.add("versions", False, "skipped: no anchored batch")
    else:
        root, _count, model_version, policy_version, _content, _at, block_number = batch
        root = bytes(root)
        report.add(
            "anchored_root",
            root == b.root,
            f"CreditLedger.batch({b.leaf.round}).root is {_hex(root)}; bundle root {_hex(b.root)}",
        )
        report.add("block", int(block_number) == b.block, f"anchored in block {block_number}; bundle says {b.block}")
        report.add(
            "versions",
            (b.leaf.model_version, b.leaf.policy_version) == (int(model_version), int(policy_version)),
            f"batch model v{model_version} policy v{policy_version}; leaf model v{b.leaf.model_version} "
            f"policy v{b.leaf.policy_version}",
        )
    verified = _call(chain, ledger.functions.verifyDecision(b.leaf.to_abi_tuple(), b.proof))
    report.add(
        "on_chain_verify",
        verified is True,
        f"CreditLedger.verifyDecision: {verified}" if not isinstance(verified, str) else f"verifyDecision: {verified}",
    )
    report.add("anchor_tx", *_check_anchor_tx(chain, ledger, b))
    return report


def _call(chain: Chain, fn: ContractFunction) -> Any:
    """The call's result, or a string describing its revert."""
    try:
        return chain.call(fn)
    except TransactionReverted as exc:
        return f"reverted {describe_revert(exc.error, exc.args_)}"


def _check_anchor_tx(chain: Chain, ledger: Contract, b: ParsedBundle) -> tuple[bool, str]:
    """Is ``anchorTx`` a mined call to the contract that emitted BatchAnchored(round, root) in ``block``?"""
    from web3.exceptions import TransactionNotFound

    try:
        receipt = chain.w3.eth.get_transaction_receipt(Hash32(b.anchor_tx))
    except TransactionNotFound:
        return False, f"no mined transaction {_hex(b.anchor_tx)}"
    if receipt["status"] != 1:
        return False, f"transaction {_hex(b.anchor_tx)} reverted"
    if receipt["blockNumber"] != b.block:
        return False, f"transaction mined in block {receipt['blockNumber']}; bundle says {b.block}"
    events = ledger.events.BatchAnchored().process_receipt(receipt, errors=DISCARD)
    for event in events:
        if event["address"] != b.contract:
            continue
        if int(event["args"]["round"]) == b.leaf.round and bytes(event["args"]["root"]) == b.root:
            return (
                True,
                f"BatchAnchored(round {b.leaf.round}, root {_hex(b.root)}) in tx {_hex(b.anchor_tx)}, block {b.block}",
            )
    return False, f"transaction {_hex(b.anchor_tx)} did not anchor round {b.leaf.round} with root {_hex(b.root)}"
