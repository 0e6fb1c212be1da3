"""Publishing model versions and policy parameter sets to the registries.

Both are idempotent: a model whose artifact hash is already registered is found by
``ModelRegistry.versionOfArtifact``, and a policy whose hash is already proposed is found
by its ``PolicyProposed`` event, so re-running a publish step never registers twice.
Policy activation goes through the TimelockController: schedule now, execute after
the delay (on a development chain the demo may fast-forward the clock, and says so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from foundation.errors import EXIT_INPUT, CreditLedgerError
from ledger.deployment import LedgerContracts
from ledger.enums import PolicyStatus, Segment

ZERO32 = bytes(32)


class PublishError(CreditLedgerError, RuntimeError):
    """A model or policy could not be published as asked."""

    code = "publish_refused"
    hint = "segments are merchant or farmer; the artifact or policy file names its segment"
    exit_code = EXIT_INPUT


def segment_id(segment: str) -> int:
    """The on-chain ``Segment`` ordinal of a segment name (``"farmer"`` -> 1)."""
    try:
        return int(Segment.from_label(segment))
    except ValueError:
        raise PublishError(f"unknown segment {segment!r}; expected one of {list(Segment.labels())}") from None


def find_model_version(contracts: LedgerContracts, artifact_hash: bytes) -> int | None:
    """The version registered with ``artifact_hash``, or None (the registry keeps the index)."""
    version = int(contracts.models.functions.versionOfArtifact(artifact_hash).call())
    return version or None


def publish_model(
    contracts: LedgerContracts,
    sender: LocalAccount,
    segment: str,
    artifact_hash: bytes,
    feature_schema_hash: bytes,
    uri: str,
    activate: bool = True,
    log: Callable[[str], None] = lambda _m: None,
) -> int:
    """Register (once) and optionally activate a model version; returns its version id."""
    chain = contracts.chain
    version = find_model_version(contracts, artifact_hash)
    if version is None:
        call = contracts.models.functions.registerModel(segment_id(segment), artifact_hash, feature_schema_hash, uri)
        version = int(chain.call(call, sender.address))
        chain.send(call, sender)
        log(f"registered model v{version} ({segment}) artifact sha256:{artifact_hash.hex()[:16]}…")
    if activate and not contracts.models.functions.isActive(version).call():
        chain.send(contracts.models.functions.activateModel(version), sender)
        log(f"activated model v{version}")
    return version


def find_policy_version(contracts: LedgerContracts, segment: str, params_hash: bytes) -> int | None:
    logs = contracts.policies.events.PolicyProposed.get_logs(from_block=contracts.deployment.deployment_block)
    found = None
    for log in logs:
        if bytes(log["args"]["newHash"]) == params_hash and int(log["args"]["segment"]) == segment_id(segment):
            found = int(log["args"]["version"])
    return found


@dataclass(frozen=True)
class PolicyActivation:
    version: int
    operation_id: bytes
    ready_at: int  # unix time from which anyone may execute
    executed: bool


def _activation_call(contracts: LedgerContracts, version: int) -> tuple[str, bytes, bytes, bytes]:
    data = contracts.policies.encode_abi("activatePolicy", args=[version])
    salt = version.to_bytes(32, "big")
    return contracts.policies.address, bytes.fromhex(data[2:]), ZERO32, salt


def propose_policy(
    contracts: LedgerContracts,
    sender: LocalAccount,
    segment: str,
    params_hash: bytes,
    uri: str,
    reason: str,
    log: Callable[[str], None] = lambda _m: None,
) -> PolicyActivation:
    """Propose (once) a policy version and schedule its activation through the timelock."""
    chain = contracts.chain
    version = find_policy_version(contracts, segment, params_hash)
    if version is None:
        call = contracts.policies.functions.proposePolicy(segment_id(segment), params_hash, uri, reason)
        version = int(chain.call(call, sender.address))
        chain.send(call, sender)
        log(f"proposed policy v{version} ({segment}) sha256:{params_hash.hex()[:16]}… reason: {reason}")
    target, data, predecessor, salt = _activation_call(contracts, version)
    timelock = contracts.timelock
    op_id = bytes(timelock.functions.hashOperation(target, 0, data, predecessor, salt).call())
    status = PolicyStatus(contracts.policies.functions.policy(version).call()[1])
    if status is PolicyStatus.ACTIVE:
        return PolicyActivation(version, op_id, 0, True)
    if not timelock.functions.isOperation(op_id).call():
        delay = int(timelock.functions.getMinDelay().call())
        chain.send(timelock.functions.schedule(target, 0, data, predecessor, salt, delay), sender)
        log(f"scheduled activation of policy v{version}: takes effect after {delay}s")
    ready_at = int(timelock.functions.getTimestamp(op_id).call())
    return PolicyActivation(version, op_id, ready_at, bool(timelock.functions.isOperationDone(op_id).call()))


def execute_policy(contracts: LedgerContracts, sender: LocalAccount, version: int) -> None:
    """Execute a scheduled activation whose delay has passed (anyone may)."""
    target, data, predecessor, salt = _activation_call(contracts, version)
    contracts.chain.send(contracts.timelock.functions.execute(target, 0, data, predecessor, salt), sender)
