"""Shared helpers for the Solidity contract tests (deployment, reverts, events, leaves).

Imported by ``tests/contracts/conftest.py`` and the test modules of this directory
(pytest puts this directory on ``sys.path``; there is deliberately no ``__init__.py``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from ledger.accounts import RoleAccounts
from ledger.chain import Chain, TransactionReverted
from ledger.keccak import keccak256
from ledger.leaf import DecisionLeaf, leaf_hash
from ledger.roles import ROLE_HOME, Role

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO32 = bytes(32)
POLICY_DELAY = 60

# Enum values as the ABI sees them (uint8).
SEG_MERCHANT, SEG_FARMER = 0, 1
KIND_MERCHANT, KIND_FARMER, KIND_VIRTUAL = 0, 1, 2
M_UNREGISTERED, M_ACTIVE, M_SUSPENDED = 0, 1, 2
MODEL_NONE, MODEL_REGISTERED, MODEL_ACTIVE, MODEL_RETIRED = 0, 1, 2, 3
POL_NONE, POL_PROPOSED, POL_ACTIVE, POL_SUPERSEDED, POL_CANCELLED = 0, 1, 2, 3, 4
D_NONE, D_OPEN, D_UPHELD, D_REJECTED = 0, 1, 2, 3

#: Caller labels used by the role matrix: every role account, a stranger, and a
#: registered merchant's bound account.
ROLE_LABELS: dict[str, Role] = {
    "admin": Role.ADMIN,
    "oracle": Role.ORACLE,
    "model_admin": Role.MODEL_ADMIN,
    "policy_admin": Role.POLICY_ADMIN,
    "registrar": Role.REGISTRAR,
    "auditor": Role.AUDITOR,
    "regulator": Role.REGULATOR,
}
CALLERS: tuple[str, ...] = (*ROLE_LABELS, "stranger", "merchant")

_SALT = os.urandom(8)
_counter = itertools.count(1)


def fresh_hash() -> bytes:
    """A new non-zero bytes32, unique within the session."""
    return keccak256(_SALT + next(_counter).to_bytes(8, "big"))


def fresh_address() -> str:
    return Account.create().address


def norm(value: Any) -> Any:
    """Normalise decoded ABI values for comparison (addresses lowercase, lists as tuples)."""
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, (list, tuple)):
        return tuple(norm(v) for v in value)
    return value


def expect_revert(chain: Chain, fn: Any, sender: LocalAccount, error: str, *args: Any) -> TransactionReverted:
    """Send ``fn`` from ``sender`` and assert it reverts with custom error ``error(args)``."""
    with pytest.raises(TransactionReverted) as info:
        chain.send(fn, sender)
    exc = info.value
    assert exc.error == error, f"expected {error}{args}, got {exc.error}{exc.args_}"
    if args:
        assert norm(exc.args_) == norm(args), f"{error}: expected args {args}, got {exc.args_}"
    return exc


def events(contract: Contract, receipt: Any, name: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The events ``contract`` emitted in ``receipt``, in log order, as (name, args)."""
    topics: dict[bytes, str] = {}
    for item in contract.abi:
        if item.get("type") == "event":
            types = ",".join(_abi_type(i) for i in item["inputs"])
            topics[keccak256(f"{item['name']}({types})".encode())] = item["name"]
    out = []
    for log in receipt["logs"]:
        if log["address"].lower() != contract.address.lower() or not log["topics"]:
            continue
        ev_name = topics.get(bytes(log["topics"][0]))
        if ev_name is None or (name is not None and ev_name != name):
            continue
        decoded = contract.events[ev_name]().process_log(log)
        out.append((ev_name, dict(decoded["args"])))
    return out


def one_event(contract: Contract, receipt: Any, name: str) -> dict[str, Any]:
    found = events(contract, receipt, name)
    assert len(found) == 1, f"expected one {name}, got {found}"
    return found[0][1]


def assert_event(contract: Contract, receipt: Any, name: str, **expected: Any) -> dict[str, Any]:
    args = one_event(contract, receipt, name)
    assert set(args) == set(expected), f"{name}: fields {sorted(args)} != {sorted(expected)}"
    for key, value in expected.items():
        assert norm(args[key]) == norm(value), f"{name}.{key}: {args[key]!r} != {value!r}"
    return args


def _abi_type(item: dict[str, Any]) -> str:
    kind = item["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + kind[5:]
    return kind


def leaf_tuple(leaf: DecisionLeaf) -> tuple:
    """The ABI tuple of CreditLedger.DecisionLeaf for ``leaf``."""
    return leaf.to_abi_tuple()


def make_leaf(
    merchant_key: bytes, round_: int, model_version: int = 1, policy_version: int = 1, **kw: Any
) -> DecisionLeaf:
    fields = dict(
        merchant_key=merchant_key,
        round=round_,
        score=kw.pop("score", 612),
        limit_cny=kw.pop("limit_cny", 50_000),
        product_mask=kw.pop("product_mask", 0b101),
        reason_codes=kw.pop("reason_codes", (3, 7, 11, 0)),
        model_version=model_version,
        policy_version=policy_version,
        feature_commitment=kw.pop("feature_commitment", fresh_hash()),
        prev_leaf_hash=kw.pop("prev_leaf_hash", ZERO32),
    )
    assert not kw, kw
    return DecisionLeaf(**fields)


@dataclass
class Env:
    """One deployed set of contracts with roles granted and an active model/policy per segment."""

    chain: Chain
    accounts: RoleAccounts
    identities: Contract
    models: Contract
    timelock: Contract
    policies: Contract
    ledger: Contract
    stranger: LocalAccount
    merchant: LocalAccount
    merchant_key: bytes
    _rounds: itertools.count = field(default_factory=lambda: itertools.count(1_000))

    # -- accounts ------------------------------------------------------------
    def acct(self, label: str) -> LocalAccount:
        if label == "stranger":
            return self.stranger
        if label == "merchant":
            return self.merchant
        return self.accounts[ROLE_LABELS[label]]

    @property
    def admin(self) -> LocalAccount:
        return self.accounts[Role.ADMIN]

    @property
    def oracle(self) -> LocalAccount:
        return self.accounts[Role.ORACLE]

    @property
    def model_admin(self) -> LocalAccount:
        return self.accounts[Role.MODEL_ADMIN]

    @property
    def policy_admin(self) -> LocalAccount:
        return self.accounts[Role.POLICY_ADMIN]

    @property
    def registrar(self) -> LocalAccount:
        return self.accounts[Role.REGISTRAR]

    @property
    def auditor(self) -> LocalAccount:
        return self.accounts[Role.AUDITOR]

    def funded_account(self) -> LocalAccount:
        """A brand-new account with 10 ETH (anvil_setBalance, no transaction)."""
        acct = Account.create()
        self.chain.w3.provider.make_request("anvil_setBalance", [acct.address, hex(10 * 10**18)])
        return acct

    def send(self, fn: Any, sender: LocalAccount) -> Any:
        return self.chain.send(fn, sender)

    def call(self, fn: Any) -> Any:
        return self.chain.call(fn)

    def next_round(self) -> int:
        return next(self._rounds)

    # -- merchants -----------------------------------------------------------
    def register_merchant(self, kind: int = KIND_MERCHANT) -> tuple[bytes, LocalAccount]:
        key = fresh_hash()
        acct = self.funded_account()
        self.send(self.identities.functions.register(key, acct.address, kind), self.registrar)
        return key, acct

    # -- models and policies -------------------------------------------------
    def register_model(self, segment: int = SEG_MERCHANT) -> int:
        fn = self.models.functions.registerModel(segment, fresh_hash(), fresh_hash(), "ipfs://model")
        version = self.call(self.models.functions.modelCount()) + 1
        self.send(fn, self.model_admin)
        return version

    def active_model(self, segment: int = SEG_MERCHANT) -> int:
        return self.call(self.models.functions.activeModel(segment))

    def active_policy(self, segment: int = SEG_MERCHANT) -> int:
        return self.call(self.policies.functions.activePolicy(segment))

    def propose_policy(
        self, segment: int = SEG_MERCHANT, params_hash: bytes | None = None, reason: str = "tune"
    ) -> int:
        fn = self.policies.functions.proposePolicy(segment, params_hash or fresh_hash(), "ipfs://policy", reason)
        version = self.call(self.policies.functions.policyCount()) + 1
        self.send(fn, self.policy_admin)
        return version

    def activation_op(self, version: int, salt: bytes | None = None) -> tuple[str, int, bytes, bytes, bytes]:
        """(target, value, data, predecessor, salt) of the timelock operation activating ``version``."""
        data = bytes.fromhex(self.policies.encode_abi("activatePolicy", args=[version])[2:])
        return (self.policies.address, 0, data, ZERO32, salt or fresh_hash())

    def schedule(self, op: tuple, delay: int = POLICY_DELAY) -> Any:
        target, value, data, pred, salt = op
        return self.send(self.timelock.functions.schedule(target, value, data, pred, salt, delay), self.policy_admin)

    def execute(self, op: tuple, sender: LocalAccount | None = None) -> Any:
        target, value, data, pred, salt = op
        return self.send(self.timelock.functions.execute(target, value, data, pred, salt), sender or self.stranger)

    def activate_policy(self, version: int) -> Any:
        """Schedule activatePolicy(version) on the timelock, wait out the delay, execute. Returns the receipt."""
        op = self.activation_op(version)
        self.schedule(op)
        self.chain.advance_time(POLICY_DELAY + 1)
        return self.execute(op)

    # -- batches ---------------------------------------------------------------
    def anchor(
        self, root: bytes, count: int = 1, segment: int = SEG_MERCHANT, round_: int | None = None
    ) -> tuple[int, Any]:
        round_ = self.next_round() if round_ is None else round_
        receipt = self.send(
            self.ledger.functions.anchorBatch(
                round_, root, count, self.active_model(segment), self.active_policy(segment), fresh_hash()
            ),
            self.oracle,
        )
        return round_, receipt

    def anchor_leaves(self, leaves: list[DecisionLeaf], round_: int) -> tuple[Any, Any]:
        """Anchor a tree of ``leaves`` (all of round ``round_``); returns (tree, receipt)."""
        from ledger.merkle import MerkleTree

        tree = MerkleTree.build([leaf_hash(lf) for lf in leaves])
        _, receipt = self.anchor(tree.root, len(leaves), round_=round_)
        return tree, receipt

    def anchored_leaf(self, merchant_key: bytes) -> tuple[DecisionLeaf, list[bytes]]:
        """Anchor a fresh 3-leaf round holding one decision for ``merchant_key``; returns (leaf, proof)."""
        round_ = self.next_round()
        mv, pv = self.active_model(), self.active_policy()
        leaves = [make_leaf(merchant_key, round_, mv, pv)] + [make_leaf(fresh_hash(), round_, mv, pv) for _ in range(2)]
        tree, _ = self.anchor_leaves(leaves, round_)
        return leaves[0], tree.proof(0)


def deploy_env(chain: Chain, accounts: RoleAccounts) -> Env:
    """Deploy the five contracts, grant every role on its home contract, activate a model and a
    policy for each segment, register one merchant."""
    admin = accounts[Role.ADMIN]
    identities, _ = chain.deploy("IdentityRegistry", admin, admin.address)
    models, _ = chain.deploy("ModelRegistry", admin, admin.address)
    timelock, _ = chain.deploy(
        "PolicyTimelock", admin, POLICY_DELAY, [accounts[Role.POLICY_ADMIN].address], [ZERO_ADDRESS], ZERO_ADDRESS
    )
    policies, _ = chain.deploy("PolicyRegistry", admin, admin.address, timelock.address)
    ledger, _ = chain.deploy("CreditLedger", admin, admin.address, identities.address, models.address, policies.address)
    homes = {
        "IdentityRegistry": identities,
        "ModelRegistry": models,
        "PolicyRegistry": policies,
        "CreditLedger": ledger,
    }
    for role, home in ROLE_HOME.items():
        chain.send(homes[home].functions.grantRole(role.id, accounts[role].address), admin)

    stranger = Account.create()
    env = Env(chain, accounts, identities, models, timelock, policies, ledger, stranger, stranger, ZERO32)
    chain.w3.provider.make_request("anvil_setBalance", [stranger.address, hex(10 * 10**18)])
    env.merchant_key, env.merchant = env.register_merchant()

    for segment in (SEG_MERCHANT, SEG_FARMER):
        version = env.register_model(segment)
        env.send(models.functions.activateModel(version), env.model_admin)
    ops = []
    for segment in (SEG_MERCHANT, SEG_FARMER):
        op = env.activation_op(env.propose_policy(segment, reason="initial"))
        env.schedule(op)
        ops.append(op)
    chain.advance_time(POLICY_DELAY + 1)
    for op in ops:
        env.execute(op)
    return env


Builder = Callable[[Env, str], tuple[Any, LocalAccount]]
