"""ModelRegistry: versions, one active model per segment, retirement; every error and event."""

from __future__ import annotations

from contracts_support import (
    MODEL_ACTIVE,
    MODEL_REGISTERED,
    MODEL_RETIRED,
    SEG_FARMER,
    SEG_MERCHANT,
    ZERO32,
    Env,
    assert_event,
    events,
    expect_revert,
    fresh_hash,
)


def _register(env: Env, segment: int = SEG_MERCHANT):
    artifact, schema = fresh_hash(), fresh_hash()
    version = env.call(env.models.functions.modelCount()) + 1
    fn = env.models.functions.registerModel(segment, artifact, schema, "ipfs://model/x")
    receipt = env.send(fn, env.model_admin)
    return version, artifact, schema, receipt


def test_register_model(env: Env) -> None:
    f = env.models.functions
    before = env.call(f.modelCount())
    version, artifact, schema, receipt = _register(env, SEG_FARMER)
    assert version == before + 1 == env.call(f.modelCount())
    assert_event(
        env.models,
        receipt,
        "ModelRegistered",
        version=version,
        segment=SEG_FARMER,
        artifactHash=artifact,
        featureSchemaHash=schema,
        metadataURI="ipfs://model/x",
    )
    m = env.call(f.model(version))
    block = env.chain.w3.eth.get_block(receipt["blockNumber"])
    assert tuple(m) == (SEG_FARMER, MODEL_REGISTERED, artifact, schema, "ipfs://model/x", block["timestamp"])
    assert env.call(f.isActive(version)) is False
    assert env.call(f.versionOfArtifact(artifact)) == version
    assert env.call(f.segmentOf(version)) == SEG_FARMER


def test_versions_are_global_and_sequential(env: Env) -> None:
    a, *_ = _register(env, SEG_MERCHANT)
    b, *_ = _register(env, SEG_FARMER)
    c, *_ = _register(env, SEG_MERCHANT)
    assert (b, c) == (a + 1, a + 2)


def test_register_errors(env: Env) -> None:
    f = env.models.functions
    expect_revert(env.chain, f.registerModel(0, ZERO32, fresh_hash(), "u"), env.model_admin, "ZeroHash")
    expect_revert(env.chain, f.registerModel(0, fresh_hash(), ZERO32, "u"), env.model_admin, "ZeroHash")
    _, artifact, _, _ = _register(env)
    expect_revert(
        env.chain, f.registerModel(1, artifact, fresh_hash(), "u"), env.model_admin, "DuplicateArtifact", artifact
    )


def test_activate_retires_previous_of_same_segment_only(env: Env) -> None:
    f = env.models.functions
    previous = env.active_model(SEG_MERCHANT)
    farmer = env.active_model(SEG_FARMER)
    prev_artifact = tuple(env.call(f.model(previous)))[2]
    version, artifact, _, _ = _register(env, SEG_MERCHANT)
    receipt = env.send(f.activateModel(version), env.model_admin)
    assert events(env.models, receipt) == [
        ("ModelRetired", {"version": previous, "segment": SEG_MERCHANT, "artifactHash": prev_artifact}),
        (
            "ModelActivated",
            {"version": version, "segment": SEG_MERCHANT, "artifactHash": artifact, "previousVersion": previous},
        ),
    ]
    assert env.active_model(SEG_MERCHANT) == version
    assert env.call(f.isActive(version)) is True
    assert env.call(f.isActive(previous)) is False
    assert tuple(env.call(f.model(previous)))[1] == MODEL_RETIRED
    assert tuple(env.call(f.model(version)))[1] == MODEL_ACTIVE
    assert env.active_model(SEG_FARMER) == farmer and env.call(f.isActive(farmer))


def test_first_activation_has_no_previous(env: Env) -> None:
    f = env.models.functions
    # empty the farmer segment, then activate into it
    current = env.active_model(SEG_FARMER)
    receipt = env.send(f.retireModel(current), env.model_admin)
    assert env.active_model(SEG_FARMER) == 0
    version, artifact, _, _ = _register(env, SEG_FARMER)
    receipt = env.send(f.activateModel(version), env.model_admin)
    assert events(env.models, receipt) == [
        ("ModelActivated", {"version": version, "segment": SEG_FARMER, "artifactHash": artifact, "previousVersion": 0})
    ]


def test_retire(env: Env) -> None:
    f = env.models.functions
    version, artifact, _, _ = _register(env, SEG_FARMER)
    receipt = env.send(f.retireModel(version), env.model_admin)
    assert_event(env.models, receipt, "ModelRetired", version=version, segment=SEG_FARMER, artifactHash=artifact)
    assert tuple(env.call(f.model(version)))[1] == MODEL_RETIRED
    # retired is final
    expect_revert(env.chain, f.retireModel(version), env.model_admin, "InvalidModelStatus", version, MODEL_RETIRED)
    expect_revert(env.chain, f.activateModel(version), env.model_admin, "InvalidModelStatus", version, MODEL_RETIRED)
    # retiring the active one leaves the segment empty
    active = env.active_model(SEG_FARMER)
    assert active != 0
    env.send(f.retireModel(active), env.model_admin)
    assert env.active_model(SEG_FARMER) == 0
    assert env.call(f.isActive(active)) is False


def test_activate_active_is_invalid(env: Env) -> None:
    active = env.active_model(SEG_MERCHANT)
    expect_revert(
        env.chain,
        env.models.functions.activateModel(active),
        env.model_admin,
        "InvalidModelStatus",
        active,
        MODEL_ACTIVE,
    )


def test_unknown_model_errors(env: Env) -> None:
    f = env.models.functions
    missing = env.call(f.modelCount()) + 1
    for version in (0, missing):
        expect_revert(env.chain, f.activateModel(version), env.model_admin, "UnknownModel", version)
        expect_revert(env.chain, f.retireModel(version), env.model_admin, "UnknownModel", version)
        assert env.call(f.isActive(version)) is False
    import pytest

    from ledger.chain import TransactionReverted

    for view in (f.model, f.segmentOf):
        with pytest.raises(TransactionReverted) as info:
            env.call(view(missing))
        assert info.value.error == "UnknownModel" and info.value.args_ == (missing,)
