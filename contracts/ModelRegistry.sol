// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Roles} from "./Roles.sol";
import {Segment} from "./Types.sol";

/// @title ModelRegistry
/// @notice Versioned scoring models: the hash of each model artifact and of its feature schema,
/// and which version is Active for each segment.
/// @dev Versions are global and start at 1. At most one model per segment is Active; activating
/// a model retires the segment's previous active one. Retired is final.
contract ModelRegistry is AccessControl {
    /// @notice Lifecycle of a model version.
    enum ModelStatus {
        None,
        Registered,
        Active,
        Retired
    }

    /// @notice A registered model version.
    struct Model {
        Segment segment;
        ModelStatus status;
        bytes32 artifactHash;
        bytes32 featureSchemaHash;
        string metadataURI;
        uint64 registeredAt;
    }

    /// @notice Role allowed to register, activate and retire models.
    bytes32 public constant MODEL_ADMIN_ROLE = Roles.MODEL_ADMIN_ROLE;

    mapping(uint32 version => Model) private _models;
    mapping(Segment segment => uint32 version) private _active;
    mapping(bytes32 artifactHash => uint32 version) private _versionOfArtifact;
    uint32 private _count;

    /// @notice A model version was registered.
    event ModelRegistered(
        uint32 indexed version, Segment segment, bytes32 artifactHash, bytes32 featureSchemaHash, string metadataURI
    );
    /// @notice A model version became the Active one of its segment (`previousVersion` 0 if none).
    event ModelActivated(uint32 indexed version, Segment segment, bytes32 artifactHash, uint32 previousVersion);
    /// @notice A model version was retired (explicitly, or because another one was activated).
    event ModelRetired(uint32 indexed version, Segment segment, bytes32 artifactHash);

    error ZeroAddress();
    error ZeroHash();
    error DuplicateArtifact(bytes32 artifactHash);
    error UnknownModel(uint32 version);
    error InvalidModelStatus(uint32 version, ModelStatus status);

    /// @notice Deploys the registry with `admin` as DEFAULT_ADMIN_ROLE holder.
    /// @param admin Account granted DEFAULT_ADMIN_ROLE (grants the model admin role).
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Registers a new model version in status Registered.
    /// @param segment Segment the model scores.
    /// @param artifactHash Hash of the model artifact (non-zero, unique across versions).
    /// @param featureSchemaHash Hash of the feature schema the model expects (non-zero).
    /// @param metadataURI Where the artifact and its documentation can be fetched.
    /// @return version The new version number (1, 2, 3, ...).
    /// @dev MODEL_ADMIN_ROLE only.
    function registerModel(Segment segment, bytes32 artifactHash, bytes32 featureSchemaHash, string calldata metadataURI)
        external
        onlyRole(MODEL_ADMIN_ROLE)
        returns (uint32 version)
    {
        if (artifactHash == bytes32(0) || featureSchemaHash == bytes32(0)) revert ZeroHash();
        if (_versionOfArtifact[artifactHash] != 0) revert DuplicateArtifact(artifactHash);
        version = ++_count;
        _models[version] = Model({
            segment: segment,
            status: ModelStatus.Registered,
            artifactHash: artifactHash,
            featureSchemaHash: featureSchemaHash,
            metadataURI: metadataURI,
            registeredAt: uint64(block.timestamp)
        });
        _versionOfArtifact[artifactHash] = version;
        emit ModelRegistered(version, segment, artifactHash, featureSchemaHash, metadataURI);
    }

    /// @notice Makes a Registered model the Active one of its segment, retiring the previous one.
    /// @param version The model version to activate (must be Registered).
    /// @dev MODEL_ADMIN_ROLE only. Emits ModelRetired for the previous active version, then ModelActivated.
    function activateModel(uint32 version) external onlyRole(MODEL_ADMIN_ROLE) {
        Model storage m = _known(version);
        if (m.status != ModelStatus.Registered) revert InvalidModelStatus(version, m.status);
        Segment segment = m.segment;
        uint32 previous = _active[segment];
        if (previous != 0) {
            Model storage p = _models[previous];
            p.status = ModelStatus.Retired;
            emit ModelRetired(previous, segment, p.artifactHash);
        }
        m.status = ModelStatus.Active;
        _active[segment] = version;
        emit ModelActivated(version, segment, m.artifactHash, previous);
    }

    /// @notice Retires a Registered or Active model; an Active one leaves its segment without an active model.
    /// @param version The model version to retire.
    /// @dev MODEL_ADMIN_ROLE only.
    function retireModel(uint32 version) external onlyRole(MODEL_ADMIN_ROLE) {
        Model storage m = _known(version);
        ModelStatus status = m.status;
        if (status != ModelStatus.Registered && status != ModelStatus.Active) {
            revert InvalidModelStatus(version, status);
        }
        if (status == ModelStatus.Active) delete _active[m.segment];
        m.status = ModelStatus.Retired;
        emit ModelRetired(version, m.segment, m.artifactHash);
    }

    /// @notice The full record of `version` (reverts UnknownModel if none).
    /// @param version The model version.
    function model(uint32 version) external view returns (Model memory) {
        return _known(version);
    }

    /// @notice The Active model version of `segment` (0 if none).
    /// @param segment The segment.
    function activeModel(Segment segment) external view returns (uint32) {
        return _active[segment];
    }

    /// @notice Whether `version` is the Active model of its segment.
    /// @param version The model version (unknown versions are simply not active).
    function isActive(uint32 version) external view returns (bool) {
        return _models[version].status == ModelStatus.Active;
    }

    /// @notice The segment of `version` (reverts UnknownModel if none); cheap for other contracts.
    /// @param version The model version.
    function segmentOf(uint32 version) external view returns (Segment) {
        return _known(version).segment;
    }

    /// @notice The version registered with `artifactHash` (0 if none).
    /// @param artifactHash The artifact hash.
    function versionOfArtifact(bytes32 artifactHash) external view returns (uint32) {
        return _versionOfArtifact[artifactHash];
    }

    /// @notice Number of registered versions (also the highest version number).
    function modelCount() external view returns (uint32) {
        return _count;
    }

    function _known(uint32 version) private view returns (Model storage m) {
        m = _models[version];
        if (m.status == ModelStatus.None) revert UnknownModel(version);
    }
}
