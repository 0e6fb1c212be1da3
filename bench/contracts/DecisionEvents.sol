// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title DecisionEvents
/// @notice Benchmark baseline for `bench/gas_per_decision.py`: record each credit decision as one
/// event carrying the leaf's fields, instead of anchoring one Merkle root per round. Not deployed
/// by the project; compiled with the project's compiler settings (`ledger.compiler`).
contract DecisionEvents {
    /// @notice Same fields, same order as `CreditLedger.DecisionLeaf` / `ledger.leaf.DecisionLeaf`.
    struct DecisionLeaf {
        bytes32 merchantKey;
        uint64 round;
        uint16 score;
        uint32 limitCny;
        uint32 productMask;
        uint16[4] reasonCodes;
        uint32 modelVersion;
        uint32 policyVersion;
        bytes32 featureCommitment;
        bytes32 prevLeafHash;
    }

    /// @notice One decision. `merchantKey` and `round` are indexed so a merchant's history is a log filter away.
    event DecisionRecorded(
        bytes32 indexed merchantKey,
        uint64 indexed round,
        uint16 score,
        uint32 limitCny,
        uint32 productMask,
        uint16[4] reasonCodes,
        uint32 modelVersion,
        uint32 policyVersion,
        bytes32 featureCommitment,
        bytes32 prevLeafHash
    );

    error NotOracle(address caller);

    /// @notice The only account allowed to record (the comparison keeps an access check, as anchorBatch has one).
    address public immutable oracle;

    constructor(address oracle_) {
        oracle = oracle_;
    }

    /// @notice Records one decision in its own transaction.
    function record(DecisionLeaf calldata d) external {
        if (msg.sender != oracle) revert NotOracle(msg.sender);
        _emit(d);
    }

    /// @notice Records many decisions in one transaction, one event each.
    function recordBatch(DecisionLeaf[] calldata ds) external {
        if (msg.sender != oracle) revert NotOracle(msg.sender);
        for (uint256 i = 0; i < ds.length; ++i) {
            _emit(ds[i]);
        }
    }

    function _emit(DecisionLeaf calldata d) private {
        emit DecisionRecorded(
            d.merchantKey,
            d.round,
            d.score,
            d.limitCny,
            d.productMask,
            d.reasonCodes,
            d.modelVersion,
            d.policyVersion,
            d.featureCommitment,
            d.prevLeafHash
        );
    }
}
