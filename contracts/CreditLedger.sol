// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Roles} from "./Roles.sol";
import {Segment} from "./Types.sol";
import {IdentityRegistry} from "./IdentityRegistry.sol";
import {ModelRegistry} from "./ModelRegistry.sol";
import {PolicyRegistry} from "./PolicyRegistry.sol";

/// @title CreditLedger
/// @notice Anchors one Merkle root of credit decisions per round, with the model and policy
/// versions that made them and the hash of the canonical batch file; verifies a merchant's
/// decision against its round's root; lets merchants dispute a decision and auditors attest a
/// replay.
/// @dev Leaves are hashed as OpenZeppelin's StandardMerkleTree does (double keccak of the ABI
/// encoding), internal nodes are sorted pairs, so `ledger.merkle` and the OpenZeppelin JS merkle-tree
/// proofs verify unchanged. The leaf layout mirrors `ledger/leaf.py` exactly.
contract CreditLedger is AccessControl {
    /// @notice One decision: mirrors `ledger.leaf.DecisionLeaf` field for field, in ABI order.
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

    /// @notice An anchored batch, as returned by `batch(round)`.
    struct Batch {
        bytes32 root;
        uint32 decisionCount;
        uint32 modelVersion;
        uint32 policyVersion;
        bytes32 contentHash;
        uint64 anchoredAt;
        uint64 blockNumber;
    }

    /// @notice Lifecycle of a dispute.
    enum DisputeStatus {
        None,
        Open,
        Upheld,
        Rejected
    }

    /// @notice A merchant's dispute of one decision.
    struct Dispute {
        bytes32 merchantKey;
        bytes32 leafHash;
        uint64 round;
        address filer;
        DisputeStatus status;
        uint64 filedAt;
        uint64 resolvedAt;
        string reason;
        string note;
    }

    /// @notice An auditor's on-chain attestation of a replay of rounds `fromRound..toRound`.
    struct Audit {
        address auditor;
        uint64 fromRound;
        uint64 toRound;
        uint64 recordedAt;
        bytes32 reportHash;
        string uri;
    }

    /// @dev Storage form of Batch: the five small fields share one slot (3 slots, not 4).
    struct StoredBatch {
        bytes32 root;
        bytes32 contentHash;
        uint32 decisionCount;
        uint32 modelVersion;
        uint32 policyVersion;
        uint64 anchoredAt;
        uint64 blockNumber;
    }

    /// @notice Role allowed to anchor batches.
    bytes32 public constant ORACLE_ROLE = Roles.ORACLE_ROLE;
    /// @notice Role allowed to record audits.
    bytes32 public constant AUDITOR_ROLE = Roles.AUDITOR_ROLE;
    /// @notice Read-only supervisory role (no function here needs it; the API checks it with `hasRole`).
    bytes32 public constant REGULATOR_ROLE = Roles.REGULATOR_ROLE;

    /// @notice Merchant keys and their bound accounts.
    IdentityRegistry public immutable identities;
    /// @notice Model versions.
    ModelRegistry public immutable models;
    /// @notice Policy versions.
    PolicyRegistry public immutable policies;

    mapping(uint64 round => StoredBatch) private _batches;
    uint64[] private _rounds;
    mapping(uint256 disputeId => Dispute) private _disputes;
    mapping(bytes32 leafHash => uint256 disputeId) private _openDispute;
    uint256 private _disputeCount;
    Audit[] private _audits;

    /// @notice A round's decisions were anchored.
    event BatchAnchored(
        uint64 indexed round,
        bytes32 root,
        uint32 decisionCount,
        uint32 modelVersion,
        uint32 policyVersion,
        bytes32 contentHash
    );
    /// @notice A merchant disputed one of its decisions.
    event DisputeFiled(
        uint256 indexed disputeId, bytes32 indexed merchantKey, uint64 round, bytes32 leafHash, string reason
    );
    /// @notice The admin resolved a dispute (`upheld` true: the merchant was right).
    event DisputeResolved(uint256 indexed disputeId, bool upheld, string note);
    /// @notice An auditor attested a replay of rounds `fromRound..toRound`.
    event AuditRecorded(address indexed auditor, uint64 fromRound, uint64 toRound, bytes32 reportHash, string uri);

    error ZeroAddress();
    error ZeroRoot();
    error EmptyBatch();
    error ZeroContentHash();
    error ZeroHash();
    error RoundAlreadyAnchored(uint64 round, bytes32 existingRoot);
    error ModelNotActive(uint32 version);
    error PolicyNotActive(uint32 version);
    error SegmentMismatch(uint32 modelVersion, uint32 policyVersion);
    error UnknownRound(uint64 round);
    error NotMerchantAccount(address caller, bytes32 merchantKey);
    error MerchantNotActive(bytes32 merchantKey);
    error InvalidProof();
    error DisputeAlreadyOpen(bytes32 leafHash);
    error UnknownDispute(uint256 disputeId);
    error DisputeAlreadyResolved(uint256 disputeId);
    error InvalidRoundRange(uint64 fromRound, uint64 toRound);

    /// @notice Deploys the ledger over the three registries.
    /// @param admin Account granted DEFAULT_ADMIN_ROLE (grants roles, resolves disputes).
    /// @param identities_ The IdentityRegistry.
    /// @param models_ The ModelRegistry.
    /// @param policies_ The PolicyRegistry.
    constructor(address admin, IdentityRegistry identities_, ModelRegistry models_, PolicyRegistry policies_) {
        if (
            admin == address(0) || address(identities_) == address(0) || address(models_) == address(0)
                || address(policies_) == address(0)
        ) revert ZeroAddress();
        identities = identities_;
        models = models_;
        policies = policies_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---------------------------------------------------------------- anchoring

    /// @notice Anchors the Merkle root of round `round`'s decisions. A round is anchored once only.
    /// @param round The round number (any uint64, not necessarily consecutive).
    /// @param root Merkle root of the round's decision leaves (non-zero).
    /// @param decisionCount Number of leaves (non-zero).
    /// @param modelVersion Model that made the decisions; must be Active now.
    /// @param policyVersion Policy that made the decisions; must be Active now and of the model's segment.
    /// @param contentHash Hash of the canonical batch file (non-zero).
    /// @dev ORACLE_ROLE only. A retry with the same round reverts RoundAlreadyAnchored carrying the
    /// stored root, so a restarted oracle can tell "done" from "conflict".
    function anchorBatch(
        uint64 round,
        bytes32 root,
        uint32 decisionCount,
        uint32 modelVersion,
        uint32 policyVersion,
        bytes32 contentHash
    ) external onlyRole(ORACLE_ROLE) {
        if (root == bytes32(0)) revert ZeroRoot();
        if (decisionCount == 0) revert EmptyBatch();
        if (contentHash == bytes32(0)) revert ZeroContentHash();
        bytes32 existing = _batches[round].root;
        if (existing != bytes32(0)) revert RoundAlreadyAnchored(round, existing);
        if (!models.isActive(modelVersion)) revert ModelNotActive(modelVersion);
        if (!policies.isActive(policyVersion)) revert PolicyNotActive(policyVersion);
        if (models.segmentOf(modelVersion) != policies.segmentOf(policyVersion)) {
            revert SegmentMismatch(modelVersion, policyVersion);
        }
        _batches[round] = StoredBatch({
            root: root,
            contentHash: contentHash,
            decisionCount: decisionCount,
            modelVersion: modelVersion,
            policyVersion: policyVersion,
            anchoredAt: uint64(block.timestamp),
            blockNumber: uint64(block.number)
        });
        _rounds.push(round);
        emit BatchAnchored(round, root, decisionCount, modelVersion, policyVersion, contentHash);
    }

    /// @notice The batch anchored for `round` (reverts UnknownRound if none).
    /// @param round The round number.
    function batch(uint64 round) external view returns (Batch memory) {
        StoredBatch storage b = _batches[round];
        if (b.root == bytes32(0)) revert UnknownRound(round);
        return Batch({
            root: b.root,
            decisionCount: b.decisionCount,
            modelVersion: b.modelVersion,
            policyVersion: b.policyVersion,
            contentHash: b.contentHash,
            anchoredAt: b.anchoredAt,
            blockNumber: b.blockNumber
        });
    }

    /// @notice Whether `round` has an anchored batch.
    /// @param round The round number.
    function isAnchored(uint64 round) external view returns (bool) {
        return _batches[round].root != bytes32(0);
    }

    /// @notice Number of anchored rounds.
    function roundCount() external view returns (uint256) {
        return _rounds.length;
    }

    /// @notice The `index`-th anchored round, in anchoring order (reverts with a Panic past the end).
    /// @param index Position in anchoring order, from 0.
    function roundAt(uint256 index) external view returns (uint64) {
        return _rounds[index];
    }

    // ---------------------------------------------------------------- verification

    /// @notice The StandardMerkleTree leaf hash of `d`: keccak256(keccak256(abi.encode(fields...))).
    /// @param d The decision.
    function leafHash(DecisionLeaf calldata d) public pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(
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
                    )
                )
            )
        );
    }

    /// @notice Whether `leaf` is in the tree anchored for `leaf.round` (reverts UnknownRound if none).
    /// @param leaf The decision.
    /// @param proof Sibling hashes from the leaf up to the root (sorted-pair hashing).
    function verifyDecision(DecisionLeaf calldata leaf, bytes32[] calldata proof) external view returns (bool) {
        return MerkleProof.verifyCalldata(proof, _rootOf(leaf.round), leafHash(leaf));
    }

    /// @notice Whether `leafHash_` is in the tree anchored for `round` (reverts UnknownRound if none).
    /// @param round The round number.
    /// @param leafHash_ The leaf hash (already double-hashed).
    /// @param proof Sibling hashes from the leaf up to the root.
    function verifyLeafHash(uint64 round, bytes32 leafHash_, bytes32[] calldata proof) external view returns (bool) {
        return MerkleProof.verifyCalldata(proof, _rootOf(round), leafHash_);
    }

    // ---------------------------------------------------------------- disputes

    /// @notice Disputes one of the caller's own anchored decisions.
    /// @param leaf The disputed decision.
    /// @param proof Its proof against the round's root.
    /// @param reason Why the merchant disputes it.
    /// @return disputeId The new dispute's id (1, 2, 3, ...).
    /// @dev Only the account bound to `leaf.merchantKey` in IdentityRegistry, while the merchant is
    /// Active; one open dispute per leaf.
    function fileDispute(DecisionLeaf calldata leaf, bytes32[] calldata proof, string calldata reason)
        external
        returns (uint256 disputeId)
    {
        (address account,, IdentityRegistry.MerchantStatus status) = identities.merchant(leaf.merchantKey);
        if (account != msg.sender || account == address(0)) revert NotMerchantAccount(msg.sender, leaf.merchantKey);
        if (status != IdentityRegistry.MerchantStatus.Active) revert MerchantNotActive(leaf.merchantKey);
        bytes32 h = leafHash(leaf);
        if (!MerkleProof.verifyCalldata(proof, _rootOf(leaf.round), h)) revert InvalidProof();
        if (_openDispute[h] != 0) revert DisputeAlreadyOpen(h);
        disputeId = ++_disputeCount;
        _disputes[disputeId] = Dispute({
            merchantKey: leaf.merchantKey,
            leafHash: h,
            round: leaf.round,
            filer: msg.sender,
            status: DisputeStatus.Open,
            filedAt: uint64(block.timestamp),
            resolvedAt: 0,
            reason: reason,
            note: ""
        });
        _openDispute[h] = disputeId;
        emit DisputeFiled(disputeId, leaf.merchantKey, leaf.round, h, reason);
    }

    /// @notice Resolves an open dispute; the leaf may then be disputed again.
    /// @param disputeId The dispute.
    /// @param upheld True if the merchant was right.
    /// @param note The resolution's explanation.
    /// @dev DEFAULT_ADMIN_ROLE only.
    function resolveDispute(uint256 disputeId, bool upheld, string calldata note)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        Dispute storage d = _disputes[disputeId];
        if (d.status == DisputeStatus.None) revert UnknownDispute(disputeId);
        if (d.status != DisputeStatus.Open) revert DisputeAlreadyResolved(disputeId);
        d.status = upheld ? DisputeStatus.Upheld : DisputeStatus.Rejected;
        d.resolvedAt = uint64(block.timestamp);
        d.note = note;
        delete _openDispute[d.leafHash];
        emit DisputeResolved(disputeId, upheld, note);
    }

    /// @notice The dispute `disputeId` (reverts UnknownDispute if none).
    /// @param disputeId The dispute.
    function dispute(uint256 disputeId) external view returns (Dispute memory) {
        Dispute storage d = _disputes[disputeId];
        if (d.status == DisputeStatus.None) revert UnknownDispute(disputeId);
        return d;
    }

    /// @notice The open dispute of a leaf (0 if none).
    /// @param leafHash_ The leaf hash.
    function openDisputeOf(bytes32 leafHash_) external view returns (uint256) {
        return _openDispute[leafHash_];
    }

    /// @notice Number of disputes ever filed (also the highest id).
    function disputeCount() external view returns (uint256) {
        return _disputeCount;
    }

    // ---------------------------------------------------------------- audits

    /// @notice Records that the caller replayed rounds `fromRound..toRound` and publishes the report's hash.
    /// @param fromRound First round replayed.
    /// @param toRound Last round replayed (>= fromRound).
    /// @param reportHash Hash of the audit report (non-zero).
    /// @param uri Where the report can be fetched.
    /// @dev AUDITOR_ROLE only.
    function recordAudit(uint64 fromRound, uint64 toRound, bytes32 reportHash, string calldata uri)
        external
        onlyRole(AUDITOR_ROLE)
    {
        if (fromRound > toRound) revert InvalidRoundRange(fromRound, toRound);
        if (reportHash == bytes32(0)) revert ZeroHash();
        _audits.push(
            Audit({
                auditor: msg.sender,
                fromRound: fromRound,
                toRound: toRound,
                recordedAt: uint64(block.timestamp),
                reportHash: reportHash,
                uri: uri
            })
        );
        emit AuditRecorded(msg.sender, fromRound, toRound, reportHash, uri);
    }

    /// @notice The `index`-th recorded audit (reverts with a Panic past the end).
    /// @param index Position in recording order, from 0.
    function audit(uint256 index) external view returns (Audit memory) {
        return _audits[index];
    }

    /// @notice Number of recorded audits.
    function auditCount() external view returns (uint256) {
        return _audits.length;
    }

    function _rootOf(uint64 round) private view returns (bytes32 root) {
        root = _batches[round].root;
        if (root == bytes32(0)) revert UnknownRound(round);
    }
}
