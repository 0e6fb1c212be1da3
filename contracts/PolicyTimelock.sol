// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title PolicyTimelock
/// @notice OpenZeppelin's TimelockController under credit-ledger's name: every policy activation
/// on PolicyRegistry is scheduled here and can be executed only after `getMinDelay()`.
/// @dev Deploy with the policy admin as proposer (and so canceller), `address(0)` as executor
/// (anyone executes a ready operation) and `address(0)` as admin, so that the delay can be changed
/// only by the timelock itself (`updateDelay` scheduled through the timelock).
contract PolicyTimelock is TimelockController {
    /// @notice Deploys the timelock.
    /// @param minDelay Initial minimum delay in seconds.
    /// @param proposers Accounts granted PROPOSER_ROLE and CANCELLER_ROLE.
    /// @param executors Accounts granted EXECUTOR_ROLE (`address(0)` opens execution to anyone).
    /// @param admin Optional extra admin (use `address(0)` for a self-administered timelock).
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
