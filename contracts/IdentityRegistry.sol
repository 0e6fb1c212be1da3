// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Roles} from "./Roles.sol";

/// @title IdentityRegistry
/// @notice Binds each merchant's pseudonymous key (bytes32, never a real-world id) to the one
/// account that may act for it, with the merchant's kind and status.
/// @dev One key <-> one account, both ways: an account is bound to at most one key.
contract IdentityRegistry is AccessControl {
    /// @notice Kind of merchant behind a key.
    enum MerchantKind {
        Merchant,
        Farmer,
        Virtual
    }

    /// @notice Lifecycle of a merchant key.
    enum MerchantStatus {
        Unregistered,
        Active,
        Suspended
    }

    struct MerchantRecord {
        address account;
        MerchantKind kind;
        MerchantStatus status;
    }

    /// @notice Role allowed to register, suspend, reinstate and rotate merchants.
    bytes32 public constant REGISTRAR_ROLE = Roles.REGISTRAR_ROLE;

    mapping(bytes32 merchantKey => MerchantRecord) private _merchants;
    mapping(address account => bytes32 merchantKey) private _keyOf;

    /// @notice A merchant key was registered and bound to `account`.
    event MerchantRegistered(bytes32 indexed merchantKey, address indexed account, MerchantKind kind);
    /// @notice The account bound to a merchant key changed.
    event AccountRotated(bytes32 indexed merchantKey, address oldAccount, address newAccount);
    /// @notice A merchant was suspended.
    event MerchantSuspended(bytes32 indexed merchantKey, string reason);
    /// @notice A suspended merchant was made active again.
    event MerchantReinstated(bytes32 indexed merchantKey);

    error ZeroMerchantKey();
    error ZeroAddress();
    error MerchantAlreadyRegistered(bytes32 merchantKey);
    error AccountAlreadyBound(address account);
    error UnknownMerchant(bytes32 merchantKey);
    error NotRegistrarOrMerchant(address caller);
    error MerchantNotActive(bytes32 merchantKey);
    error MerchantNotSuspended(bytes32 merchantKey);

    /// @notice Deploys the registry with `admin` as DEFAULT_ADMIN_ROLE holder.
    /// @param admin Account granted DEFAULT_ADMIN_ROLE (grants the registrar role).
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Registers `merchantKey`, binds it to `account` and makes it Active.
    /// @param merchantKey Pseudonymous merchant key (non-zero).
    /// @param account Account that will act for the merchant (non-zero, not bound to another key).
    /// @param kind Merchant, Farmer or Virtual.
    /// @dev REGISTRAR_ROLE only.
    function register(bytes32 merchantKey, address account, MerchantKind kind) external onlyRole(REGISTRAR_ROLE) {
        if (merchantKey == bytes32(0)) revert ZeroMerchantKey();
        if (account == address(0)) revert ZeroAddress();
        if (_merchants[merchantKey].status != MerchantStatus.Unregistered) {
            revert MerchantAlreadyRegistered(merchantKey);
        }
        if (_keyOf[account] != bytes32(0)) revert AccountAlreadyBound(account);
        _merchants[merchantKey] = MerchantRecord(account, kind, MerchantStatus.Active);
        _keyOf[account] = merchantKey;
        emit MerchantRegistered(merchantKey, account, kind);
    }

    /// @notice Suspends an Active merchant (it can no longer file disputes or rotate its own key).
    /// @param merchantKey The merchant to suspend.
    /// @param reason Human-readable reason, recorded in the event.
    /// @dev REGISTRAR_ROLE only.
    function suspend(bytes32 merchantKey, string calldata reason) external onlyRole(REGISTRAR_ROLE) {
        MerchantRecord storage record = _known(merchantKey);
        if (record.status != MerchantStatus.Active) revert MerchantNotActive(merchantKey);
        record.status = MerchantStatus.Suspended;
        emit MerchantSuspended(merchantKey, reason);
    }

    /// @notice Makes a Suspended merchant Active again.
    /// @param merchantKey The merchant to reinstate.
    /// @dev REGISTRAR_ROLE only.
    function reinstate(bytes32 merchantKey) external onlyRole(REGISTRAR_ROLE) {
        MerchantRecord storage record = _known(merchantKey);
        if (record.status != MerchantStatus.Suspended) revert MerchantNotSuspended(merchantKey);
        record.status = MerchantStatus.Active;
        emit MerchantReinstated(merchantKey);
    }

    /// @notice Binds `merchantKey` to `newAccount` and unbinds its current account.
    /// @param merchantKey The merchant whose account changes.
    /// @param newAccount The new account (non-zero, not bound to any key).
    /// @dev Callable by REGISTRAR_ROLE (any status) or by the merchant's currently bound account
    /// while the merchant is Active.
    function rotateAccount(bytes32 merchantKey, address newAccount) external {
        MerchantRecord storage record = _known(merchantKey);
        address oldAccount = record.account;
        if (!hasRole(REGISTRAR_ROLE, msg.sender)) {
            if (msg.sender != oldAccount) revert NotRegistrarOrMerchant(msg.sender);
            if (record.status != MerchantStatus.Active) revert MerchantNotActive(merchantKey);
        }
        if (newAccount == address(0)) revert ZeroAddress();
        if (_keyOf[newAccount] != bytes32(0)) revert AccountAlreadyBound(newAccount);
        delete _keyOf[oldAccount];
        _keyOf[newAccount] = merchantKey;
        record.account = newAccount;
        emit AccountRotated(merchantKey, oldAccount, newAccount);
    }

    /// @notice The bound account, kind and status of `merchantKey` (all zero when unregistered).
    /// @param merchantKey The merchant key to look up.
    function merchant(bytes32 merchantKey)
        external
        view
        returns (address account, MerchantKind kind, MerchantStatus status)
    {
        MerchantRecord storage record = _merchants[merchantKey];
        return (record.account, record.kind, record.status);
    }

    /// @notice The account bound to `merchantKey` (zero when unregistered).
    /// @param merchantKey The merchant key to look up.
    function accountOf(bytes32 merchantKey) external view returns (address) {
        return _merchants[merchantKey].account;
    }

    /// @notice The merchant key bound to `account` (zero when none).
    /// @param account The account to look up.
    function keyOf(address account) external view returns (bytes32) {
        return _keyOf[account];
    }

    /// @notice Whether `merchantKey` is registered and Active.
    /// @param merchantKey The merchant key to look up.
    function isActive(bytes32 merchantKey) external view returns (bool) {
        return _merchants[merchantKey].status == MerchantStatus.Active;
    }

    function _known(bytes32 merchantKey) private view returns (MerchantRecord storage record) {
        record = _merchants[merchantKey];
        if (record.status == MerchantStatus.Unregistered) revert UnknownMerchant(merchantKey);
    }
}
