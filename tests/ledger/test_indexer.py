"""The chain-event indexer: complete, resumable, idempotent, reorg-aware, retrying."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from ledger_support import LedgerEnv
from web3.types import FilterParams, LogReceipt

from ledger.indexer import (
    ChainReorganised,
    EventFilter,
    Indexer,
    IndexerUnavailable,
    InvalidQuery,
    chain_cursors,
    count_events,
    decode_cursor,
    encode_cursor,
    query_events,
    read_events,
    retrying,
)
from ledger.store import Store


def test_sync_indexes_every_event_once(ledger_env: LedgerEnv, fresh_store: Store) -> None:
    contracts = ledger_env.contracts
    head = contracts.chain.w3.eth.block_number
    expected = list(read_events(contracts, to_block=head, with_times=False))
    indexer = Indexer(fresh_store.engine, contracts, chunk_blocks=7)  # many small pages
    first = indexer.sync(to_block=head)
    assert first.events_inserted == len(expected) and first.chunks > 1
    assert indexer.cursor() == head
    counts = count_events(fresh_store.engine)
    assert counts["BatchAnchored"] == len(ledger_env.rounds)
    assert counts["ModelRegistered"] >= 1 and counts["PolicyActivated"] >= 1 and counts["RoleGranted"] >= 6
    again = indexer.sync(to_block=head)
    assert again.events_inserted == 0 and again.from_block == head + 1
    # forget the cursor: the rescan finds everything already there (unique tx/log index)
    with fresh_store.engine.begin() as conn:
        conn.execute(sa.delete(chain_cursors))
    assert indexer.sync(to_block=head).events_inserted == 0
    assert sum(count_events(fresh_store.engine).values()) == len(expected)


def test_sync_resumes_where_it_stopped(ledger_env: LedgerEnv, fresh_store: Store) -> None:
    contracts = ledger_env.contracts
    head = contracts.chain.w3.eth.block_number
    start = contracts.deployment.deployment_block
    indexer = Indexer(fresh_store.engine, contracts)
    part = indexer.sync(to_block=(start + head) // 2)
    rest = indexer.sync(to_block=head)
    assert rest.from_block == (start + head) // 2 + 1
    total = len(list(read_events(contracts, to_block=head, with_times=False)))
    assert part.events_inserted + rest.events_inserted == total


def test_queries_filter_and_paginate(ledger_env: LedgerEnv, fresh_store: Store) -> None:
    contracts = ledger_env.contracts
    Indexer(fresh_store.engine, contracts).sync()
    engine = fresh_store.engine
    chain_id = contracts.chain.chain_id
    anchored = query_events(engine, EventFilter(chain_id=chain_id, events=("BatchAnchored",))).events
    assert [e.round_id for e in anchored] == [r.round_id for r in ledger_env.rounds]
    assert all(e.block_time is not None for e in anchored)
    one = query_events(engine, EventFilter(round_id=ledger_env.rounds[1].round_id, events=("BatchAnchored",))).events
    assert len(one) == 1 and one[0].args["root"] == "0x" + ledger_env.rounds[1].root.hex()
    model_v = anchored[0].model_version
    by_model = query_events(engine, EventFilter(model_version=model_v)).events
    assert {"ModelRegistered", "ModelActivated", "BatchAnchored"} <= {e.event for e in by_model}
    key = ledger_env.bound[0][1]
    mine = query_events(engine, EventFilter(merchant_key=key)).events
    assert [e.event for e in mine] == ["MerchantRegistered"]
    # keyset pagination visits every event exactly once, in chain order
    seen, cursor = [], None
    while True:
        page = query_events(engine, EventFilter(chain_id=chain_id), limit=5, cursor=cursor)
        seen.extend((e.block_number, e.log_index) for e in page.events)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == sum(count_events(engine).values())
    t0, t1 = anchored[0].block_time, anchored[-1].block_time
    in_time = query_events(engine, EventFilter(events=("BatchAnchored",), from_time=t0, to_time=t1)).events
    assert len(in_time) == len(anchored)


def test_query_rejects_bad_input() -> None:
    with pytest.raises(InvalidQuery):
        EventFilter(from_block=10, to_block=5)
    with pytest.raises(InvalidQuery):
        EventFilter(contracts=("NoSuchContract",))
    with pytest.raises(InvalidQuery):
        decode_cursor("!!not-a-cursor!!")
    assert decode_cursor(encode_cursor(12, 3)) == (12, 3)


def test_reset_chain_is_detected_and_repaired(ledger_env: LedgerEnv, fresh_store: Store) -> None:
    indexer = Indexer(fresh_store.engine, ledger_env.contracts)
    indexer.sync()
    total = sum(count_events(fresh_store.engine).values())
    with fresh_store.engine.begin() as conn:  # as if the block we stopped at had been replaced
        conn.execute(sa.update(chain_cursors).values(last_block_hash=b"\x01" * 32))
    with pytest.raises(ChainReorganised, match="--repair"):
        indexer.sync()
    indexer.sync(repair=True)
    assert sum(count_events(fresh_store.engine).values()) == total


def test_retrying_survives_a_restart_and_reports_a_dead_node() -> None:
    calls, sleeps = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("connection refused")
        return "ok"

    assert retrying(flaky, "eth_getLogs", retries=5, sleep=sleeps.append) == "ok"
    assert sleeps == [0.5, 1.0]  # exponential backoff

    def dead() -> None:
        raise ConnectionError("connection refused")

    with pytest.raises(IndexerUnavailable, match="after 2 retries"):
        retrying(dead, "eth_blockNumber", retries=2, sleep=lambda _s: None)


def test_sync_survives_a_node_restart(
    ledger_env: LedgerEnv, fresh_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node drops two eth_getLogs calls mid-sync (as during a restart); the sync still completes."""
    import ledger.indexer as indexer_module

    w3 = ledger_env.contracts.chain.w3
    real = w3.eth.get_logs
    failures = {"left": 2}

    def get_logs(params: FilterParams) -> list[LogReceipt]:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("node restarting")
        return real(params)

    monkeypatch.setattr(w3.eth, "get_logs", get_logs)
    monkeypatch.setattr(indexer_module.time, "sleep", lambda _s: None)
    result = Indexer(fresh_store.engine, ledger_env.contracts).sync()
    assert failures["left"] == 0
    assert result.events_inserted == len(
        list(read_events(ledger_env.contracts, to_block=result.to_block, with_times=False))
    )
