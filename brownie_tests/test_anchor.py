"""End to end with brownie: model, policy through the timelock, one anchored batch."""

import brownie
from brownie import chain, web3
from conftest import MERCHANT, POLICY_DELAY, role_id

ZERO32 = b"\x00" * 32


def hex32(value):
    """brownie 1.22's HexString compares only against hex *strings* (bytes and HexBytes
    raise TypeError), and hexbytes 1.x's .hex() has no 0x prefix: normalise here."""
    return "0x" + bytes(value).hex()


def _publish_model(ledger, roles):
    models = ledger["models"]
    tx = models.registerModel(
        MERCHANT,
        web3.keccak(text="model artifact"),
        web3.keccak(text="feature schema"),
        "file://model.json",
        {"from": roles["model_admin"]},
    )
    version = tx.events["ModelRegistered"]["version"]
    models.activateModel(version, {"from": roles["model_admin"]})
    assert models.isActive(version)
    return version


def _activate_policy(ledger, roles):
    policies, timelock = ledger["policies"], ledger["timelock"]
    tx = policies.proposePolicy(
        MERCHANT,
        web3.keccak(text="policy params"),
        "file://policy.json",
        "initial policy",
        {"from": roles["policy_admin"]},
    )
    version = tx.events["PolicyProposed"]["version"]
    data = policies.activatePolicy.encode_input(version)
    salt = version.to_bytes(32, "big")
    timelock.schedule(policies, 0, data, ZERO32, salt, POLICY_DELAY, {"from": roles["policy_admin"]})
    # Executing before the delay has passed is refused by the timelock.
    with brownie.reverts():
        timelock.execute(policies, 0, data, ZERO32, salt, {"from": roles["outsider"]})
    chain.sleep(POLICY_DELAY + 1)
    tx = timelock.execute(policies, 0, data, ZERO32, salt, {"from": roles["outsider"]})  # anyone may execute
    assert tx.events["PolicyActivated"]["version"] == version
    assert policies.isActive(version)
    return version


def test_roles_granted(ledger, roles):
    assert ledger["ledger"].hasRole(role_id("ORACLE_ROLE"), roles["oracle"])
    assert ledger["ledger"].ORACLE_ROLE() == hex32(role_id("ORACLE_ROLE"))
    assert ledger["models"].hasRole(role_id("MODEL_ADMIN_ROLE"), roles["model_admin"])
    assert ledger["policies"].hasRole(role_id("POLICY_ADMIN_ROLE"), roles["policy_admin"])
    assert ledger["policies"].timelock() == ledger["timelock"].address
    assert ledger["timelock"].getMinDelay() == POLICY_DELAY


def test_anchor_batch_once(ledger, roles):
    model_version = _publish_model(ledger, roles)
    policy_version = _activate_policy(ledger, roles)
    credit = ledger["ledger"]

    round_, root, count = 1, web3.keccak(text="merkle root of round 1"), 42
    content_hash = web3.keccak(text="canonical batch file")
    tx = credit.anchorBatch(round_, root, count, model_version, policy_version, content_hash, {"from": roles["oracle"]})
    assert tx.status == 1
    event = tx.events["BatchAnchored"]
    assert event["round"] == round_
    assert event["root"] == hex32(root)
    assert event["decisionCount"] == count
    assert event["modelVersion"] == model_version
    assert event["policyVersion"] == policy_version
    assert credit.isAnchored(round_)
    assert credit.batch(round_)[0] == hex32(root)
    assert credit.batch(round_)[4] == hex32(content_hash)
    assert credit.roundCount() == 1

    # A second anchor for the same round reverts with RoundAlreadyAnchored(round, existingRoot).
    with brownie.reverts(revert_pattern=r"RoundAlreadyAnchored: 1, .*"):
        credit.anchorBatch(
            round_,
            web3.keccak(text="another root"),
            1,
            model_version,
            policy_version,
            content_hash,
            {"from": roles["oracle"]},
        )
    # Only the oracle may anchor.
    with brownie.reverts(revert_pattern=r"AccessControlUnauthorizedAccount: .*"):
        credit.anchorBatch(2, root, count, model_version, policy_version, content_hash, {"from": roles["outsider"]})
    assert credit.roundCount() == 1


def test_anchor_needs_active_model_and_policy(ledger, roles):
    with brownie.reverts(revert_pattern=r"ModelNotActive: 1"):
        ledger["ledger"].anchorBatch(
            5, web3.keccak(text="r"), 1, 1, 1, web3.keccak(text="c"), {"from": roles["oracle"]}
        )
