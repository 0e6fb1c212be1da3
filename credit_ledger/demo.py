"""The end-to-end demo: local chain, deploy, publish model and policy, score, anchor, verify.

Each run anchors the next round. A rerun reuses the node's persisted state and the
recorded deployment, so rounds accumulate and every merchant's leaf chains to its
previous one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ledger.accounts import FIRST_DEV_MERCHANT_INDEX, RoleAccounts, dev_account
from ledger.chain import Chain
from ledger.config import Settings
from ledger.deployment import AddressBook, LedgerContracts, deploy
from ledger.identity import Pseudonymizer, feature_commitment
from ledger.leaf import ZERO_HASH, DecisionLeaf
from ledger.node import LocalNode
from ledger.roles import Role
from oracle import batch as batchfile
from oracle.documents import DocumentStore, uri_for
from oracle.publish import execute_policy, propose_policy, publish_model
from oracle.sources import DecisionSource, default_source

DEMO_MERCHANTS_BOUND = 5  # the first few merchants get dev accounts, so they can sign in


@dataclass(frozen=True)
class DemoResult:
    chain_id: int
    reused_deployment: bool
    round: int
    decisions: int
    root: bytes
    tx_hash: bytes
    anchor_gas: int
    verified_on_chain: bool
    batch_hash: bytes


def connect(settings: Settings, log: Callable[[str], None]) -> Chain:
    if settings.embedded_node:
        node = LocalNode(settings.node_dir, port=settings.node_port, chain_id=settings.chain_id or 31337)
        status = node.start()
        log(f"local chain: anvil at {status.url}, chain {status.chain_id}, block {status.block_number}, state {status.state_file}")
    return Chain.connect(settings.rpc_url, expected_chain_id=settings.chain_id)


def role_accounts(settings: Settings) -> RoleAccounts:
    if settings.keys_file is not None:
        return RoleAccounts.from_keys_file(settings.keys_file)
    return RoleAccounts.development()


def _activate_policy(contracts: LedgerContracts, accounts: RoleAccounts, source: DecisionSource, store: DocumentStore, log: Callable[[str], None]) -> int:
    policy_bytes = source.policy_document()
    policy_hash = store.put(policy_bytes)
    activation = propose_policy(
        contracts, accounts[Role.POLICY_ADMIN], source.segment, policy_hash, uri_for(policy_hash), source.policy_reason(), log=log
    )
    if activation.executed:
        return activation.version
    chain = contracts.chain
    now = chain.w3.eth.get_block("latest")["timestamp"]
    if activation.ready_at > now:
        wait = activation.ready_at - now
        if chain.chain_id in (31337, 1337):
            log(f"development chain: advancing the clock {wait}s past the policy delay (a real chain waits)")
            chain.advance_time(wait)
        else:
            log(f"waiting {wait}s for the policy delay to pass")
            time.sleep(wait + 1)
    execute_policy(contracts, accounts[Role.POLICY_ADMIN], activation.version)
    log(f"policy v{activation.version} is active")
    return activation.version


def _register_demo_merchants(contracts: LedgerContracts, accounts: RoleAccounts, keys: list[tuple[str, bytes]], log: Callable[[str], None]) -> None:
    for offset, (merchant_id, key) in enumerate(keys[:DEMO_MERCHANTS_BOUND]):
        account = dev_account(FIRST_DEV_MERCHANT_INDEX + offset)
        status = contracts.identities.functions.merchant(key).call()[2]
        if status == 0:
            contracts.chain.send(contracts.identities.functions.register(key, account.address, 0), accounts[Role.REGISTRAR])
            log(f"registered demo merchant {merchant_id} -> key 0x{key.hex()[:16]}… bound to {account.address}")


def _previous_leaf_hashes(contracts: LedgerContracts, store: DocumentStore, round_id: int) -> dict[bytes, bytes]:
    """merchant key -> leaf hash of the latest earlier round that has a batch file here."""
    previous: dict[bytes, bytes] = {}
    count = contracts.ledger.functions.roundCount().call()
    for index in range(count):
        r = contracts.ledger.functions.roundAt(index).call()
        if r >= round_id:
            continue
        content_hash = bytes(contracts.ledger.functions.batch(r).call()[4])
        batch = batchfile.from_bytes(store.get(content_hash))
        for leaf in batch.leaves:
            previous[leaf.merchant_key] = leaf.leaf_hash()
    return previous


def run_demo(settings: Settings, merchants: int = 1000, log: Callable[[str], None] = print) -> DemoResult:
    chain = connect(settings, log)
    accounts = role_accounts(settings)
    contracts, reused = deploy(chain, accounts, AddressBook(settings.address_book_path), settings.policy_delay_seconds, log=log)
    store = DocumentStore(settings.documents_dir)
    pseudonyms = Pseudonymizer.load_or_create(settings.home / "platform-secret.key")

    source = default_source(settings.home, merchants, log=log)
    artifact_hash = store.put(source.model_document())
    model_version = publish_model(
        contracts, accounts[Role.MODEL_ADMIN], source.segment, artifact_hash, source.feature_schema_hash(), uri_for(artifact_hash), log=log
    )
    policy_version = _activate_policy(contracts, accounts, source, store, log)

    round_id = int(contracts.ledger.functions.roundCount().call()) + 1
    decisions = source.decisions(round_id)
    keys = [(d.merchant_id, pseudonyms.merchant_key(d.merchant_id)) for d in decisions]
    _register_demo_merchants(contracts, accounts, keys, log)
    previous = _previous_leaf_hashes(contracts, store, round_id)
    leaves = [
        DecisionLeaf(
            merchant_key=key,
            round=round_id,
            score=d.score,
            limit_cny=d.limit_cny,
            product_mask=d.product_mask,
            reason_codes=d.reason_codes,
            model_version=model_version,
            policy_version=policy_version,
            feature_commitment=feature_commitment(pseudonyms.feature_salt(d.merchant_id, round_id), d.feature_bytes),
            prev_leaf_hash=previous.get(key, ZERO_HASH),
        )
        for d, (_, key) in zip(decisions, keys)
    ]
    batch = batchfile.build_batch(leaves, source.segment, chain.chain_id)
    data = batchfile.to_bytes(batch)
    batch_hash = store.put(data)
    log(f"round {round_id}: {len(leaves)} decisions, root 0x{batch.root.hex()}, batch file sha256:{batch_hash.hex()}")
    receipt = chain.send(
        contracts.ledger.functions.anchorBatch(round_id, batch.root, len(leaves), model_version, policy_version, batch_hash),
        accounts.oracle,
    )
    log(f"anchored round {round_id} in tx 0x{bytes(receipt['transactionHash']).hex()} (block {receipt['blockNumber']}, gas {receipt['gasUsed']})")

    sample = len(leaves) // 2
    proof = batch.tree.proof(sample)
    leaf = leaves[sample]
    verified = bool(contracts.ledger.functions.verifyDecision(leaf.to_abi_tuple(), proof).call())
    log(
        f"verified decision of merchant key 0x{leaf.merchant_key.hex()[:16]}… (score {leaf.score}, limit {leaf.limit_cny} CNY) "
        f"on-chain with a {len(proof)}-step proof: {'OK' if verified else 'FAILED'}"
    )
    return DemoResult(
        chain_id=chain.chain_id,
        reused_deployment=reused,
        round=round_id,
        decisions=len(leaves),
        root=batch.root,
        tx_hash=bytes(receipt["transactionHash"]),
        anchor_gas=int(receipt["gasUsed"]),
        verified_on_chain=verified,
        batch_hash=batch_hash,
    )
