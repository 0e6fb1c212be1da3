// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Roles} from "./Roles.sol";
import {Segment} from "./Types.sol";

/// @title PolicyRegistry
/// @notice Versioned policy parameter sets (limits, cut-offs, products) per segment. A policy is
/// proposed by the policy admin and becomes Active only when the timelock executes
/// `activatePolicy`, i.e. after the TimelockController's minimum delay, so every change is public
/// before it takes effect.
/// @dev The delay itself lives in OpenZeppelin's TimelockController (`getMinDelay`, `updateDelay`);
/// nothing here re-implements it. Versions are global and start at 1.
contract PolicyRegistry is AccessControl {
    /// @notice Lifecycle of a policy version.
    enum PolicyStatus {
        None,
        Proposed,
        Active,
        Superseded,
        Cancelled
    }

    /// @notice A policy version.
    struct Policy {
        Segment segment;
        PolicyStatus status;
        bytes32 paramsHash;
        string uri;
        string reason;
        uint64 proposedAt;
        uint64 activatedAt;
    }

    /// @notice Role allowed to propose and cancel policies.
    bytes32 public constant POLICY_ADMIN_ROLE = Roles.POLICY_ADMIN_ROLE;

    /// @notice The TimelockController, the only caller allowed to activate a policy.
    address public immutable timelock;

    mapping(uint32 version => Policy) private _policies;
    mapping(Segment segment => uint32 version) private _active;
    uint32 private _count;

    /// @notice A policy was proposed; `oldHash` is the segment's active params hash (0 if none).
    event PolicyProposed(
        uint32 indexed version, Segment segment, bytes32 oldHash, bytes32 newHash, string uri, string reason
    );
    /// @notice A policy became Active through the timelock; `oldHash` is the params hash it replaces.
    event PolicyActivated(uint32 indexed version, Segment segment, bytes32 oldHash, bytes32 newHash, string reason);
    /// @notice The previously active policy of a segment was replaced by `supersededBy`.
    event PolicySuperseded(uint32 indexed version, Segment segment, uint32 supersededBy);
    /// @notice A proposed policy was withdrawn before activation.
    event PolicyCancelled(uint32 indexed version, string reason);

    error ZeroAddress();
    error ZeroHash();
    error OnlyTimelock(address caller);
    error UnknownPolicy(uint32 version);
    error InvalidPolicyStatus(uint32 version, PolicyStatus status);

    /// @notice Deploys the registry.
    /// @param admin Account granted DEFAULT_ADMIN_ROLE (grants the policy admin role).
    /// @param timelock_ The TimelockController that alone may call `activatePolicy`.
    constructor(address admin, address timelock_) {
        if (admin == address(0) || timelock_ == address(0)) revert ZeroAddress();
        timelock = timelock_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Proposes a new parameter set for `segment`; it takes effect only via the timelock.
    /// @param segment Segment the policy applies to.
    /// @param paramsHash Hash of the canonical parameter set (non-zero).
    /// @param uri Where the parameter set can be fetched.
    /// @param reason Why the change is made; repeated in PolicyActivated.
    /// @return version The new policy version (1, 2, 3, ...).
    /// @dev POLICY_ADMIN_ROLE only. Next step: schedule `activatePolicy(version)` on the timelock.
    function proposePolicy(Segment segment, bytes32 paramsHash, string calldata uri, string calldata reason)
        external
        onlyRole(POLICY_ADMIN_ROLE)
        returns (uint32 version)
    {
        if (paramsHash == bytes32(0)) revert ZeroHash();
        version = ++_count;
        _policies[version] = Policy({
            segment: segment,
            status: PolicyStatus.Proposed,
            paramsHash: paramsHash,
            uri: uri,
            reason: reason,
            proposedAt: uint64(block.timestamp),
            activatedAt: 0
        });
        emit PolicyProposed(version, segment, _activeHash(segment), paramsHash, uri, reason);
    }

    /// @notice Activates a Proposed policy, superseding the segment's previous active policy.
    /// @param version The policy version (must be Proposed).
    /// @dev Callable only by the timelock, i.e. as an executed TimelockController operation.
    function activatePolicy(uint32 version) external {
        if (msg.sender != timelock) revert OnlyTimelock(msg.sender);
        Policy storage p = _known(version);
        if (p.status != PolicyStatus.Proposed) revert InvalidPolicyStatus(version, p.status);
        Segment segment = p.segment;
        uint32 previous = _active[segment];
        bytes32 oldHash;
        if (previous != 0) {
            Policy storage old = _policies[previous];
            oldHash = old.paramsHash;
            old.status = PolicyStatus.Superseded;
            emit PolicySuperseded(previous, segment, version);
        }
        p.status = PolicyStatus.Active;
        p.activatedAt = uint64(block.timestamp);
        _active[segment] = version;
        emit PolicyActivated(version, segment, oldHash, p.paramsHash, p.reason);
    }

    /// @notice Withdraws a Proposed policy (a scheduled activation of it will then fail).
    /// @param version The policy version (must be Proposed).
    /// @param reason Why it is withdrawn.
    /// @dev POLICY_ADMIN_ROLE only.
    function cancelPolicy(uint32 version, string calldata reason) external onlyRole(POLICY_ADMIN_ROLE) {
        Policy storage p = _known(version);
        if (p.status != PolicyStatus.Proposed) revert InvalidPolicyStatus(version, p.status);
        p.status = PolicyStatus.Cancelled;
        emit PolicyCancelled(version, reason);
    }

    /// @notice The full record of `version` (reverts UnknownPolicy if none).
    /// @param version The policy version.
    function policy(uint32 version) external view returns (Policy memory) {
        return _known(version);
    }

    /// @notice The Active policy version of `segment` (0 if none).
    /// @param segment The segment.
    function activePolicy(Segment segment) external view returns (uint32) {
        return _active[segment];
    }

    /// @notice Whether `version` is the Active policy of its segment.
    /// @param version The policy version (unknown versions are simply not active).
    function isActive(uint32 version) external view returns (bool) {
        return _policies[version].status == PolicyStatus.Active;
    }

    /// @notice The segment of `version` (reverts UnknownPolicy if none); cheap for other contracts.
    /// @param version The policy version.
    function segmentOf(uint32 version) external view returns (Segment) {
        return _known(version).segment;
    }

    /// @notice Number of proposed versions (also the highest version number).
    function policyCount() external view returns (uint32) {
        return _count;
    }

    function _activeHash(Segment segment) private view returns (bytes32) {
        uint32 active = _active[segment];
        return active == 0 ? bytes32(0) : _policies[active].paramsHash;
    }

    function _known(uint32 version) private view returns (Policy storage p) {
        p = _policies[version];
        if (p.status == PolicyStatus.None) revert UnknownPolicy(version);
    }
}
