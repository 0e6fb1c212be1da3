"""Deploy credit-ledger's five contracts with brownie (for brownie users).

    export SOLCX_BINARY_PATH=$PWD/.venv-brownie/solcx PATH=$PWD/.venv-brownie/bin:$PATH
    brownie run scripts/brownie_deploy.py --network credit-ledger-anvil

(`bash tools/brownie-check` sets up .venv-brownie, the compiler and that network.)

Same contracts, constructor arguments and role grants as ``ledger.deployment.deploy``,
with brownie's development accounts (anvil's "test test ... junk" mnemonic):
accounts[0] admin, [1] oracle, [2] model admin, [3] policy admin, [4] registrar,
[5] auditor, [6] regulator -- the indices of ``ledger.accounts.DEV_ROLE_INDEX``.

This does not write the project's address book (``deployments.json``): the Python
side (``credit-ledger deploy``) owns that file. The addresses are printed instead.
On a development network brownie's chain disappears when the script ends unless you
run it against a node you started yourself (e.g. ``credit-ledger node start`` and a
brownie live/dev network pointing at it).
"""

from brownie import (
    CreditLedger,
    IdentityRegistry,
    ModelRegistry,
    PolicyRegistry,
    PolicyTimelock,
    accounts,
    network,
    web3,
)

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
POLICY_DELAY_SECONDS = 3600

#: role name -> (account index, contract that guards its functions), as ledger.roles.ROLE_HOME.
ROLES = {
    "ORACLE_ROLE": (1, "CreditLedger"),
    "MODEL_ADMIN_ROLE": (2, "ModelRegistry"),
    "POLICY_ADMIN_ROLE": (3, "PolicyRegistry"),
    "REGISTRAR_ROLE": (4, "IdentityRegistry"),
    "AUDITOR_ROLE": (5, "CreditLedger"),
    "REGULATOR_ROLE": (6, "CreditLedger"),
}


def deploy(policy_delay_seconds=POLICY_DELAY_SECONDS):
    """Deploy all five contracts and grant the roles; returns them by name."""
    admin = accounts[0]
    policy_admin = accounts[3]
    sender = {"from": admin}
    identities = IdentityRegistry.deploy(admin, sender)
    models = ModelRegistry.deploy(admin, sender)
    timelock = PolicyTimelock.deploy(policy_delay_seconds, [policy_admin], [ZERO_ADDRESS], ZERO_ADDRESS, sender)
    policies = PolicyRegistry.deploy(admin, timelock, sender)
    ledger = CreditLedger.deploy(admin, identities, models, policies, sender)
    contracts = {
        "IdentityRegistry": identities,
        "ModelRegistry": models,
        "PolicyTimelock": timelock,
        "PolicyRegistry": policies,
        "CreditLedger": ledger,
    }
    for role, (index, home) in ROLES.items():
        contracts[home].grantRole(web3.keccak(text=role), accounts[index], sender)
    return contracts


def main():
    contracts = deploy()
    print(f"\ncredit-ledger deployed on {network.show_active()} (chain id {web3.eth.chain_id}):")
    for name, contract in contracts.items():
        print(f"  {name:<17} {contract.address}")
    for role, (index, home) in ROLES.items():
        print(f"  {role:<17} on {home:<16} -> {accounts[index]}")
    return contracts
