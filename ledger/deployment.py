"""Deploying the contracts once per chain, and finding them again.

The address book (``$CREDIT_LEDGER_HOME/deployments.json``) maps a chain id to the
addresses, the deployment block, the roles' accounts and a hash of the sources that
were deployed. :func:`deploy` is idempotent: when the book's entry for this chain
still has code on-chain and was built from the same sources, it is reused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from web3.contract import Contract

from ledger.accounts import RoleAccounts
from ledger.chain import Chain, ChainError, ContractMissing
from ledger.compiler import source_hash
from ledger.roles import ROLE_HOME, Role

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

#: Deployment order; later constructors take earlier addresses.
CONTRACTS = ("IdentityRegistry", "ModelRegistry", "PolicyTimelock", "PolicyRegistry", "CreditLedger")


class NotDeployed(ChainError):
    """The address book has no usable deployment for this chain."""

    code = "not_deployed"
    hint = "run `credit-ledger deploy` against this chain (the address book is $CREDIT_LEDGER_HOME/deployments.json)"


@dataclass(frozen=True)
class Deployment:
    """Where the contracts of one chain live, and who holds which role."""

    chain_id: int
    addresses: dict[str, str]
    deployment_block: int
    source_hash: str
    roles: dict[str, str] = field(default_factory=dict)
    policy_delay_seconds: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Deployment:
        return cls(
            chain_id=int(raw["chain_id"]),
            addresses=dict(raw["addresses"]),
            deployment_block=int(raw["deployment_block"]),
            source_hash=str(raw["source_hash"]),
            roles=dict(raw.get("roles", {})),
            policy_delay_seconds=int(raw.get("policy_delay_seconds", 0)),
        )


class AddressBook:
    """The JSON file mapping chain ids to deployments."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        """The book's JSON: ``{"chains": {chain id: Deployment.to_json()}}``."""
        if not self.path.is_file():
            return {"chains": {}}
        try:
            book: dict[str, Any] = json.loads(self.path.read_text())
        except json.JSONDecodeError as exc:
            raise NotDeployed(f"address book {self.path} is not valid JSON: {exc}") from exc
        return book

    def get(self, chain_id: int) -> Deployment | None:
        entry = self._read()["chains"].get(str(chain_id))
        return Deployment.from_json(entry) if entry else None

    def put(self, deployment: Deployment) -> None:
        data = self._read()
        data["chains"][str(deployment.chain_id)] = deployment.to_json()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)


@dataclass(frozen=True)
class LedgerContracts:
    """Bindings of the deployed contracts."""

    chain: Chain
    deployment: Deployment
    identities: Contract
    models: Contract
    timelock: Contract
    policies: Contract
    ledger: Contract

    @classmethod
    def bind(cls, chain: Chain, deployment: Deployment) -> LedgerContracts:
        a = deployment.addresses
        return cls(
            chain=chain,
            deployment=deployment,
            identities=chain.contract("IdentityRegistry", a["IdentityRegistry"]),
            models=chain.contract("ModelRegistry", a["ModelRegistry"]),
            timelock=chain.contract("PolicyTimelock", a["PolicyTimelock"]),
            policies=chain.contract("PolicyRegistry", a["PolicyRegistry"]),
            ledger=chain.contract("CreditLedger", a["CreditLedger"]),
        )

    def by_name(self, name: str) -> Contract:
        return {
            "IdentityRegistry": self.identities,
            "ModelRegistry": self.models,
            "PolicyTimelock": self.timelock,
            "PolicyRegistry": self.policies,
            "CreditLedger": self.ledger,
        }[name]


def load(chain: Chain, book: AddressBook) -> LedgerContracts:
    """The deployment this chain's entry names; raises NotDeployed/ContractMissing."""
    deployment = book.get(chain.chain_id)
    if deployment is None:
        raise NotDeployed(f"nothing is deployed on chain {chain.chain_id} per {book.path}; run `credit-ledger deploy`")
    return LedgerContracts.bind(chain, deployment)


def _reusable(chain: Chain, deployment: Deployment | None) -> tuple[bool, str]:
    if deployment is None:
        return False, "no deployment recorded for this chain"
    if deployment.source_hash != source_hash():
        return False, "the contract sources changed since the recorded deployment"
    try:
        LedgerContracts.bind(chain, deployment)
    except ContractMissing as exc:
        return False, str(exc)
    return True, "recorded deployment found on-chain"


def deploy(
    chain: Chain,
    accounts: RoleAccounts,
    book: AddressBook,
    policy_delay_seconds: int,
    force: bool = False,
    log: Callable[[str], None] = lambda _msg: None,
) -> tuple[LedgerContracts, bool]:
    """Deploy (or find) the contracts; returns the bindings and whether they were reused."""
    existing = book.get(chain.chain_id)
    reusable, why = _reusable(chain, existing)
    if reusable and not force and existing is not None:  # reusable implies a recorded deployment
        log(f"reusing deployment on chain {chain.chain_id} from block {existing.deployment_block}")
        return LedgerContracts.bind(chain, existing), True
    log(f"deploying on chain {chain.chain_id}: {why}")
    admin = accounts.admin
    start_block = chain.w3.eth.block_number + 1
    identities, _ = chain.deploy("IdentityRegistry", admin, admin.address)
    models, _ = chain.deploy("ModelRegistry", admin, admin.address)
    timelock, _ = chain.deploy(
        "PolicyTimelock",
        admin,
        policy_delay_seconds,
        [accounts[Role.POLICY_ADMIN].address],
        [ZERO_ADDRESS],
        ZERO_ADDRESS,
    )
    policies, _ = chain.deploy("PolicyRegistry", admin, admin.address, timelock.address)
    ledger, _ = chain.deploy("CreditLedger", admin, admin.address, identities.address, models.address, policies.address)
    contracts = {
        "IdentityRegistry": identities,
        "ModelRegistry": models,
        "PolicyTimelock": timelock,
        "PolicyRegistry": policies,
        "CreditLedger": ledger,
    }
    for name, contract in contracts.items():
        log(f"  {name:<17} {contract.address}")
    for role, home in ROLE_HOME.items():
        if role in accounts.by_role:
            chain.send(contracts[home].functions.grantRole(role.id, accounts[role].address), admin)
            log(f"  granted {role.value} on {home} to {accounts[role].address}")
    deployment = Deployment(
        chain_id=chain.chain_id,
        addresses={name: c.address for name, c in contracts.items()},
        deployment_block=start_block,
        source_hash=source_hash(),
        roles=accounts.addresses(),
        policy_delay_seconds=policy_delay_seconds,
    )
    book.put(deployment)
    return LedgerContracts.bind(chain, deployment), False
