"""The end-to-end demo: local chain, deploy, publish model and policy, score, anchor, verify.

Each run anchors the next weekly rounds. A rerun reuses the node's persisted state,
the recorded deployment and the store, so rounds accumulate and every merchant's
leaf chains to its previous one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ledger.accounts import RoleAccounts
from ledger.chain import Chain
from ledger.config import Settings
from ledger.deployment import AddressBook, LedgerContracts, deploy
from ledger.documents import DocumentStore, uri_for
from ledger.node import LocalNode
from ledger.roles import Role
from oracle.ondemand import OnDemandDesk
from oracle.publish import execute_policy, propose_policy, publish_model
from oracle.service import Oracle, RoundResult, store_segment
from sources.exports import archive_in
from sources.platform import synthetic_round
from sources.records import DecisionSource
from sources.synthetic import ScoringSource

DEMO_MERCHANTS_BOUND = 5  # the first few merchants get dev accounts, so they can sign in
DEV_CHAIN_IDS = (31337, 1337)


@dataclass(frozen=True)
class DemoResult:
    chain_id: int
    reused_deployment: bool
    rounds: list[RoundResult]
    verified_on_chain: bool
    sample_merchant: str
    sample_account: str


def connect(settings: Settings, log: Callable[[str], None]) -> Chain:
    if settings.embedded_node:
        node = LocalNode(settings.node_dir, port=settings.node_port, chain_id=settings.chain_id or 31337)
        status = node.start()
        log(
            f"local chain: anvil at {status.url}, chain {status.chain_id}, block {status.block_number}, state {status.state_file}"
        )
    return Chain.connect(settings.rpc_url, expected_chain_id=settings.chain_id)


def role_accounts(settings: Settings) -> RoleAccounts:
    return RoleAccounts.configured(settings.keys_file)


def publish_source(
    contracts: LedgerContracts,
    accounts: RoleAccounts,
    source: DecisionSource,
    store: DocumentStore,
    log: Callable[[str], None],
) -> tuple[int, int]:
    """Register and activate the source's model, propose and activate its policy."""
    artifact_hash = store.put(source.model_document())
    model_version = publish_model(
        contracts,
        accounts[Role.MODEL_ADMIN],
        source.segment,
        artifact_hash,
        source.feature_schema_hash(),
        uri_for(artifact_hash),
        log=log,
    )
    policy_hash = store.put(source.policy_document())
    activation = propose_policy(
        contracts,
        accounts[Role.POLICY_ADMIN],
        source.segment,
        policy_hash,
        uri_for(policy_hash),
        source.policy_reason(),
        log=log,
    )
    if not activation.executed:
        chain = contracts.chain
        now = chain.w3.eth.get_block("latest")["timestamp"]
        if activation.ready_at > now:
            wait = activation.ready_at - now
            if chain.chain_id in DEV_CHAIN_IDS:
                log(f"development chain: advancing the clock {wait}s past the policy delay (a real chain waits)")
                chain.advance_time(wait)
            else:
                log(f"waiting {wait}s for the policy delay to pass")
                time.sleep(wait + 1)
        execute_policy(contracts, accounts[Role.POLICY_ADMIN], activation.version)
        log(f"policy v{activation.version} is active")
    return model_version, activation.version


def run_demo(
    settings: Settings, merchants: int = 1000, rounds: int = 2, log: Callable[[str], None] = print
) -> DemoResult:
    chain = connect(settings, log)
    accounts = role_accounts(settings)
    contracts, reused = deploy(
        chain, accounts, AddressBook(settings.address_book_path), settings.policy_delay_seconds, log=log
    )
    source = ScoringSource.prepare(settings.home, merchants, log=log)
    publish_source(contracts, accounts, source, DocumentStore(settings.documents_dir), log)

    oracle = Oracle(settings, log=log, accounts=accounts)
    try:
        # Each week of the synthetic platform is written as an export and scored like a platform's own.
        results = []
        segment = store_segment(source.segment)
        for _ in range(rounds):
            round_id = oracle.resume_or_next(segment)
            weekly = synthetic_round(source, oracle.week_of(segment, round_id), archive_in(settings.home), log)
            results.append(oracle.run_round(weekly, round_id=round_id))
        # Three new applications, decided at once and anchored as one small on-demand batch.
        desk = OnDemandDesk(oracle, source, batch_size=3, max_wait=60, log=log)
        offset = 3 * len(oracle.store.rounds(kind="on_demand"))
        for i in range(3):
            desk.apply(f"M{(merchants - 1 - offset - i) % merchants:08d}")
        flushed = desk.flush(force=True)
        if flushed is not None:
            results.append(flushed)
        last = next(r for r in reversed(results) if r.kind == "weekly")
        sample_ids = [r.merchant_id for r in oracle.store.decisions_in_round(last.round_id)][:DEMO_MERCHANTS_BOUND]
        bound = oracle.bind_demo_merchants(sample_ids)
        for merchant_id, key, account in bound:
            log(f"demo merchant {merchant_id}: key 0x{key.hex()[:16]}… bound to {account} (sign in with its dev key)")
        merchant_id, key, account = bound[0]
        row = oracle.store.decision(last.round_id, key)
        proof = oracle.store.proof(last.round_id, key)
        verified = bool(contracts.ledger.functions.verifyDecision(row.to_leaf().to_abi_tuple(), proof).call())
        log(
            f"verified {merchant_id}'s round-{last.round_id} decision (score {row.score}, limit {row.limit_cny:,} CNY) "
            f"on-chain with a {len(proof)}-step proof: {'OK' if verified else 'FAILED'}"
        )
    finally:
        oracle.close()
    return DemoResult(chain.chain_id, reused, results, verified, merchant_id, account)
