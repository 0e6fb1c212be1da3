"""On-demand decisions: decided at once, anchored in the next small batch (by size or by time)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from ledger_support import LedgerEnv, free_port, make_ledger_env

from ledger.merkle import verify
from ledger.node import LocalNode
from oracle.ondemand import STATUS_ANCHORED, STATUS_PENDING, OnDemandDesk, create_app


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerEnv]:
    node = LocalNode(tmp_path_factory.mktemp("ondemand-anvil"), port=free_port())
    node.start()
    env = make_ledger_env(tmp_path_factory.mktemp("ondemand"), node.url, merchants=200, rounds=1)
    yield env
    env.oracle.close()
    node.stop()


def test_batch_by_size_anchors_and_proves(env: LedgerEnv) -> None:
    desk = OnDemandDesk(env.oracle, env.source, batch_size=3, max_wait=3600, log=lambda _m: None)
    client = TestClient(create_app(desk))
    ids = []
    for merchant in ("M00000010", "M00000011", "M00000012"):
        reply = client.post("/applications", json={"merchant_id": merchant})
        assert reply.status_code == 202, reply.text
        body = reply.json()
        assert (body["status"] == STATUS_PENDING and 300 <= body["score"] <= 900) or body["score"] == 0
        ids.append(body["application_id"])
    # A repeat application while one is open returns the open one, not a second decision.
    assert client.post("/applications", json={"merchant_id": "M00000010"}).json()["application_id"] == ids[0]
    assert client.post("/applications", json={"merchant_id": "nobody"}).status_code == 404

    assert desk.due()
    result = desk.flush()
    assert result is not None and result.decisions == 3
    rnd = env.store.get_round(result.round_id)
    assert rnd.kind == "on_demand"
    assert env.contracts.ledger.functions.isAnchored(result.round_id).call()
    for application_id in ids:
        status = client.get(f"/applications/{application_id}").json()
        assert status["status"] == STATUS_ANCHORED and status["round_id"] == result.round_id
        key = env.oracle.pseudonyms.merchant_key(status["merchant_id"])
        row = env.store.decision(result.round_id, key)
        assert verify(bytes.fromhex(status["root"][2:]), row.leaf_hash, [bytes.fromhex(p[2:]) for p in status["proof"]])
        # the on-demand leaf chains to the merchant's weekly decision
        history = env.store.decisions_for_merchant(key)
        assert history[-1].prev_leaf_hash == history[-2].leaf_hash
    assert desk.flush() is None  # nothing queued


def test_batch_by_time(env: LedgerEnv) -> None:
    desk = OnDemandDesk(env.oracle, env.source, batch_size=100, max_wait=1.0, log=lambda _m: None)
    status = desk.apply("M00000020")
    assert status.status == STATUS_PENDING and not desk.due()
    time.sleep(1.2)
    assert desk.due()
    result = desk.flush()
    assert result is not None and result.decisions == 1
    assert desk.status(status.application_id).status == STATUS_ANCHORED
