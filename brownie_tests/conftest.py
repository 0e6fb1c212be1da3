"""brownie fixtures: the five credit-ledger contracts deployed with brownie's ContractContainers.

Run through ``bash tools/brownie-check`` (or ``brownie test`` inside .venv-brownie).
Account indices follow ``ledger.accounts.DEV_ROLE_INDEX``: 0 admin, 1 oracle,
2 model admin, 3 policy admin. These tests live outside ``tests/`` so that the main
pytest run (the project's own venv, without brownie) never collects them.
"""

import pytest
from brownie import (
    CreditLedger,
    IdentityRegistry,
    ModelRegistry,
    PolicyRegistry,
    PolicyTimelock,
    accounts,
    web3,
)

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
POLICY_DELAY = 3600  # seconds, the PolicyTimelock minimum delay used in these tests
MERCHANT = 0  # Segment.Merchant


def role_id(name):
    return web3.keccak(text=name)


@pytest.fixture(scope="module")
def roles():
    return {
        "admin": accounts[0],
        "oracle": accounts[1],
        "model_admin": accounts[2],
        "policy_admin": accounts[3],
        "outsider": accounts[7],
    }


@pytest.fixture(scope="module")
def ledger(roles):
    """Deploys IdentityRegistry, ModelRegistry, PolicyTimelock, PolicyRegistry, CreditLedger
    and grants ORACLE / MODEL_ADMIN / POLICY_ADMIN; returns them by short name."""
    admin = roles["admin"]
    sender = {"from": admin}
    identities = IdentityRegistry.deploy(admin, sender)
    models = ModelRegistry.deploy(admin, sender)
    timelock = PolicyTimelock.deploy(POLICY_DELAY, [roles["policy_admin"]], [ZERO_ADDRESS], ZERO_ADDRESS, sender)
    policies = PolicyRegistry.deploy(admin, timelock, sender)
    credit = CreditLedger.deploy(admin, identities, models, policies, sender)
    credit.grantRole(role_id("ORACLE_ROLE"), roles["oracle"], sender)
    models.grantRole(role_id("MODEL_ADMIN_ROLE"), roles["model_admin"], sender)
    policies.grantRole(role_id("POLICY_ADMIN_ROLE"), roles["policy_admin"], sender)
    return {
        "identities": identities,
        "models": models,
        "timelock": timelock,
        "policies": policies,
        "ledger": credit,
    }


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    """Every test starts from the module's deployment (brownie snapshots and reverts)."""
