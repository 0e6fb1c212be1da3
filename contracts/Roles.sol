// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Roles
/// @notice The AccessControl role ids of credit-ledger, declared once. `ledger/roles.py`
/// computes the same ids (keccak256 of the name); a test keeps the two in step.
/// @dev The admin role is OpenZeppelin's `DEFAULT_ADMIN_ROLE` (zero) and is not repeated here.
library Roles {
    /// @notice Anchors decision batches on CreditLedger.
    bytes32 internal constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    /// @notice Registers, activates and retires models on ModelRegistry.
    bytes32 internal constant MODEL_ADMIN_ROLE = keccak256("MODEL_ADMIN_ROLE");
    /// @notice Proposes and cancels policies on PolicyRegistry (activation goes through the timelock).
    bytes32 internal constant POLICY_ADMIN_ROLE = keccak256("POLICY_ADMIN_ROLE");
    /// @notice Registers, suspends, reinstates and rotates merchants on IdentityRegistry.
    bytes32 internal constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice Records replay audits on CreditLedger.
    bytes32 internal constant AUDITOR_ROLE = keccak256("AUDITOR_ROLE");
    /// @notice Read-only supervisory access, checked off-chain by the API via `hasRole`.
    bytes32 internal constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");
}
