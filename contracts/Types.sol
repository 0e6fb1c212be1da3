// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The scoring segment a model or a policy applies to. Shared by ModelRegistry,
/// PolicyRegistry and CreditLedger so that a batch's model and policy can be matched.
enum Segment {
    Merchant,
    Farmer
}
