"""Replay the whole ledger from the chain and check everything that can be checked.

Order of work (each step only trusts what the previous ones verified):

1. **Events.** Every event of every contract from the deployment block
   (:func:`ledger.indexer.read_events`, straight from the node, not from any index):
   models registered, policies proposed, batches anchored, disputes, identities,
   roles. The contract's own ``roundCount``/``batch(round)`` must agree with them.
2. **Documents.** Each model artifact and policy parameter set named by an event is
   fetched by hash; its SHA-256 must equal the hash the event recorded, the model's
   feature-schema hash must equal the registered one, and it must parse.
3. **Batches,** round by round in round order: the batch file named by
   ``BatchAnchored.contentHash`` is fetched and hashed, re-parsed by
   :func:`ledger.batchfile.from_bytes` (every leaf re-hashed, every node rebuilt), and its
   root, decision count, model and policy compared with the anchor; every leaf must
   carry the round, model and policy of its batch, once per merchant key.
4. **Hash chains.** Each leaf's ``prev_leaf_hash`` must be the leaf hash of the same
   merchant's previous decision (zero for its first).
5. **Store** (when a store is given): its round rows and leaves must equal the chain
   and the batch files; its private inputs must reproduce each feature commitment;
   and re-scoring those inputs with the model and policy the leaf names, at the
   round's as-of date, must give the leaf's score, limit, products and reasons.
6. **Exports** (when an exports directory is given): the platform export each round's
   batch file names is hashed, validated and turned into features again, which must
   give the export hash, the validation report and the committed feature bytes
   (:mod:`audit.exports`).

Every failure is a :class:`audit.report.Discrepancy` under its check; a replay never
stops at the first one. A round whose batch file cannot be trusted is still chained
through using the store's leaves when those rebuild the anchored root (so one bad
file does not flood the hash-chain check with false alarms).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from eth_account.signers.local import LocalAccount

from audit.exports import RoundExport, check_round_export
from audit.report import AuditReport, Discrepancy
from audit.rescore import RescoreError, rescore_rows
from foundation.errors import CreditLedgerError
from ledger import batchfile
from ledger.deployment import LedgerContracts
from ledger.documents import DocumentMissing, DocumentSource, content_hash, uri_for
from ledger.enums import Segment
from ledger.identity import feature_commitment
from ledger.indexer import ChainEvent, read_events
from ledger.leaf import LEAF_FIELDS, ZERO_HASH, DecisionLeaf, leaf_hashes
from ledger.merkle import MerkleTree
from ledger.store import DecisionRow, NotFound, RoundRow, RoundStatus, Store

__all__ = ["ReplayError", "record_audit", "replay"]

#: Statuses in which the store says a round is on-chain.
ANCHORED_STATUSES: Final[tuple[RoundStatus, ...]] = ("anchored", "confirmed")


class ReplayError(CreditLedgerError, RuntimeError):
    """The replay could not run at all (no chain, no deployment): not a discrepancy."""

    code = "replay_cannot_run"
    hint = "replay a range holding anchored rounds (`credit-ledger oracle status` lists them) with a writable documents dir"


# ---------------------------------------------------------------------------
# what the events say
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRecord:
    version: int
    segment: str
    artifact_hash: bytes
    feature_schema_hash: bytes
    uri: str


@dataclass(frozen=True)
class PolicyRecord:
    version: int
    segment: str
    params_hash: bytes
    uri: str


@dataclass(frozen=True)
class AnchorRecord:
    round: int
    root: bytes
    decision_count: int
    model_version: int
    policy_version: int
    content_hash: bytes
    block_number: int
    tx_hash: bytes


@dataclass
class ChainView:
    """The ledger as its events describe it."""

    models: dict[int, ModelRecord] = field(default_factory=dict)
    policies: dict[int, PolicyRecord] = field(default_factory=dict)
    anchors: dict[int, AnchorRecord] = field(default_factory=dict)
    event_counts: dict[str, int] = field(default_factory=dict)
    disputes: int = 0


def _b32(value: str) -> bytes:
    return bytes.fromhex(value[2:])


def _segment(value: Any) -> str:
    index = int(value)
    return Segment(index).label if index in Segment._value2member_map_ else f"segment-{index}"


def collect(events: Iterable[ChainEvent], report: AuditReport) -> ChainView:
    """Fold the event stream into models, policies and anchors."""
    view = ChainView()
    for e in events:
        key = f"{e.contract}.{e.event}"
        view.event_counts[key] = view.event_counts.get(key, 0) + 1
        a = e.args
        if e.event == "ModelRegistered":
            v = int(a["version"])
            view.models[v] = ModelRecord(
                v, _segment(a["segment"]), _b32(a["artifactHash"]), _b32(a["featureSchemaHash"]), a["metadataURI"]
            )
        elif e.event == "PolicyProposed":
            v = int(a["version"])
            view.policies[v] = PolicyRecord(v, _segment(a["segment"]), _b32(a["newHash"]), a["uri"])
        elif e.event == "BatchAnchored":
            r = int(a["round"])
            if r in view.anchors:
                report.fail(Discrepancy("events", f"round {r} anchored twice", round=r, field="BatchAnchored"))
            view.anchors[r] = AnchorRecord(
                r,
                _b32(a["root"]),
                int(a["decisionCount"]),
                int(a["modelVersion"]),
                int(a["policyVersion"]),
                _b32(a["contentHash"]),
                e.block_number,
                e.tx_hash,
            )
        elif e.event == "DisputeFiled":
            view.disputes += 1
    return view


# ---------------------------------------------------------------------------
# the replay
# ---------------------------------------------------------------------------


@dataclass
class _RoundState:
    """What step 3 learned about one round, for the later steps."""

    anchor: AnchorRecord
    batch: batchfile.Batch | None = None
    file: str | None = None
    leaves: list[DecisionLeaf] | None = None  # trusted leaves (batch file, or store if it rebuilds the root)
    as_of: dt.date | None = None
    as_of_source: str = ""


def replay(
    contracts: LedgerContracts,
    documents: DocumentSource,
    store: Store | None = None,
    *,
    from_round: int | None = None,
    to_round: int | None = None,
    rescore: bool = True,
    exports: Path | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> AuditReport:
    """Replay the ledger on ``contracts`` and return the report (never raises for a discrepancy).

    ``exports`` is a directory of platform exports laid out as the export archive
    (``<dir>/<export hash hex>/``); without it the exports are not checked.
    """
    chain = contracts.chain
    head = int(chain.w3.eth.block_number)
    report = AuditReport(
        chain_id=chain.chain_id,
        contracts=dict(contracts.deployment.addresses),
        from_block=contracts.deployment.deployment_block,
        to_block=head,
    )
    started = time.perf_counter()

    # 1. events
    events = list(read_events(contracts, to_block=head, with_times=False))
    report.events = {}
    view = collect(events, report)
    report.events = dict(sorted(view.event_counts.items()))
    report.count("events", len(events))
    report.count("models", len(view.models))
    report.count("policies", len(view.policies))
    report.count("disputes", view.disputes)
    _check_onchain_state(contracts, view, report)
    log(
        f"read {len(events):,} events: {len(view.models)} models, {len(view.policies)} policies, {len(view.anchors)} rounds"
    )

    # 2. documents
    artifacts = _load_models(view, documents, report)
    policies = _load_policies(view, documents, report)

    # 3. batches
    rounds = sorted(
        r for r in view.anchors if (from_round is None or r >= from_round) and (to_round is None or r <= to_round)
    )
    report.rounds = rounds
    states: dict[int, _RoundState] = {}
    for r in sorted(view.anchors):  # every round, so hash chains have their history
        states[r] = _load_batch(view.anchors[r], view, documents, report, audited=r in rounds)

    # 4. store: rounds and leaves (they also rescue the chain walk over a bad file)
    store_rows: dict[int, list[DecisionRow]] = {}
    if store is not None:
        _check_store_rounds(store, view, report, set(rounds))
        for r in rounds:
            rows = list(store.decisions_in_round(r))
            store_rows[r] = rows
            _check_store_leaves(states[r], rows, report)
    else:
        report.notes.append("no store given: store leaves, private inputs and re-scoring were not checked")

    # 5. hash chains
    _check_hash_chains(states, set(rounds), report)

    # 6. inputs and re-scoring
    if store is not None:
        for r in rounds:
            _check_inputs_and_rescore(states[r], store_rows[r], artifacts, policies, report, rescore)
    # 7. exports
    if exports is None:
        report.notes.append("no exports directory given: the platform exports the rounds scored were not checked")
    else:
        for r in rounds:
            state = states[r]
            trusted = state.batch if state.leaves is not None else None  # a batch file that agreed with the chain
            anchor = state.anchor
            target = RoundExport(
                r,
                trusted,
                store_rows.get(r) if store is not None else None,
                _stored_round(store, r),
                artifacts.get(anchor.model_version),
                policies.get(anchor.policy_version),
            )
            check_round_export(target, exports, documents, report)
    report.count("rounds", len(rounds))
    report.count("leaves", sum(len(store_rows.get(r, [])) or (len(states[r].leaves or [])) for r in rounds))
    report.finished_at = datetime.now(dt.UTC)
    log(
        f"replay finished in {time.perf_counter() - started:.1f}s: {'ok' if report.ok else 'FAILED ' + ', '.join(report.failed_checks())}"
    )
    return report


def _stored_round(store: Store | None, round_id: int) -> RoundRow | None:
    if store is None:
        return None
    try:
        return store.get_round(round_id)
    except NotFound:
        return None  # reported by store.round


def _check_onchain_state(contracts: LedgerContracts, view: ChainView, report: AuditReport) -> None:
    """The contract's storage agrees with its events (a cheap cross-check of the node)."""
    ledger = contracts.ledger.functions
    count = int(ledger.roundCount().call())
    if count != len(view.anchors):
        report.fail(
            Discrepancy(
                "events",
                "roundCount() differs from the number of BatchAnchored events",
                field="roundCount",
                expected=len(view.anchors),
                found=count,
            )
        )
    else:
        report.passed("events")
    for r, anchor in sorted(view.anchors.items()):
        stored = ledger.batch(r).call()
        if bytes(stored[0]) != anchor.root or bytes(stored[4]) != anchor.content_hash:
            report.fail(
                Discrepancy(
                    "events",
                    "batch(round) storage differs from its BatchAnchored event",
                    round=r,
                    field="root",
                    expected="0x" + anchor.root.hex(),
                    found="0x" + bytes(stored[0]).hex(),
                )
            )
        else:
            report.passed("events")


def _fetch(
    documents: DocumentSource, digest: bytes, check: str, what: str, report: AuditReport, round_: int | None = None
) -> tuple[bytes | None, str | None]:
    """The document's bytes if present and matching ``digest``; else a discrepancy and None."""
    try:
        doc = documents.fetch(digest)
    except DocumentMissing as exc:
        report.fail(
            Discrepancy(
                check,
                f"{what} is missing: {exc}",
                round=round_,
                field="sha256",
                expected="0x" + digest.hex(),
                found=None,
                file=getattr(documents, "location", lambda d: None)(digest),
            )
        )
        return None, None
    actual = content_hash(doc.data)
    if actual != digest:
        report.fail(
            Discrepancy(
                check,
                f"{what} does not match the hash recorded on-chain: it was altered",
                round=round_,
                field="sha256",
                expected="0x" + digest.hex(),
                found="0x" + actual.hex(),
                file=doc.location,
            )
        )
        return None, doc.location
    return doc.data, doc.location


def _load_models(view: ChainView, documents: DocumentSource, report: AuditReport) -> dict[int, Any]:
    from scoring.errors import ArtifactError
    from scoring.scorecard import ModelArtifact

    artifacts: dict[int, Any] = {}
    for v, model in sorted(view.models.items()):
        data, location = _fetch(documents, model.artifact_hash, "model.document", f"model v{v} artifact", report)
        if data is None:
            continue
        try:
            artifact = ModelArtifact.from_dict(json.loads(data))
        except (ValueError, ArtifactError) as exc:
            # A chain-only deployment (generated records) registers a stand-in document:
            # its hash is checked above; it just cannot re-score anything.
            report.passed("model.document")
            report.skipped(
                "model.document",
                note=f"model v{v} document is not a scorecard artifact ({exc}); its rounds are not re-scored",
            )
            continue
        if artifact.feature_schema_hash() != model.feature_schema_hash:
            report.fail(
                Discrepancy(
                    "model.document",
                    f"model v{v} artifact's feature schema differs from the registered one",
                    field="featureSchemaHash",
                    expected="0x" + model.feature_schema_hash.hex(),
                    found="0x" + artifact.feature_schema_hash().hex(),
                    file=location,
                )
            )
            continue
        if artifact.segment != model.segment:
            report.fail(
                Discrepancy(
                    "model.document",
                    f"model v{v} artifact is for another segment",
                    field="segment",
                    expected=model.segment,
                    found=artifact.segment,
                    file=location,
                )
            )
            continue
        report.passed("model.document")
        artifacts[v] = artifact
    return artifacts


def _load_policies(view: ChainView, documents: DocumentSource, report: AuditReport) -> dict[int, Any]:
    from scoring.errors import PolicyError
    from scoring.policy import Policy

    policies: dict[int, Any] = {}
    for v, record in sorted(view.policies.items()):
        data, location = _fetch(documents, record.params_hash, "policy.document", f"policy v{v} parameter set", report)
        if data is None:
            continue
        try:
            policy = Policy.from_dict(json.loads(data))
        except (ValueError, TypeError, PolicyError) as exc:
            report.passed("policy.document")
            report.skipped(
                "policy.document",
                note=f"policy v{v} document is not a policy parameter set ({exc}); its rounds are not re-scored",
            )
            continue
        if policy.segment != record.segment:
            report.fail(
                Discrepancy(
                    "policy.document",
                    f"policy v{v} is for another segment",
                    field="segment",
                    expected=record.segment,
                    found=policy.segment,
                    file=location,
                )
            )
            continue
        report.passed("policy.document")
        policies[v] = policy
    return policies


def _load_batch(
    anchor: AnchorRecord, view: ChainView, documents: DocumentSource, report: AuditReport, audited: bool
) -> _RoundState:
    r = anchor.round
    state = _RoundState(anchor)
    quiet = AuditReport(report.chain_id, {}, 0, 0)  # rounds outside the range are loaded, not judged
    target = report if audited else quiet
    data, location = _fetch(documents, anchor.content_hash, "batch.document", f"round {r} batch file", target, round_=r)
    state.file = location
    if data is None:
        return state
    target.passed("batch.document")
    try:
        batch = batchfile.from_bytes(data)
    except batchfile.BatchFileError as exc:
        target.fail(Discrepancy("batch.tree", f"round {r} batch file does not rebuild: {exc}", round=r, file=location))
        return state
    target.passed("batch.tree")
    state.batch = batch
    meta = batch.metadata
    mismatches = [
        ("root", "0x" + anchor.root.hex(), "0x" + batch.root.hex()),
        ("decisionCount", anchor.decision_count, len(batch.leaves)),
        ("modelVersion", anchor.model_version, meta.model_version),
        ("policyVersion", anchor.policy_version, meta.policy_version),
        ("round", r, meta.round),
        ("chainId", report.chain_id, meta.chain_id),
    ]
    bad = [(f, e, x) for f, e, x in mismatches if e != x]
    for f, e, x in bad:
        target.fail(
            Discrepancy(
                "batch.anchor",
                f"round {r} batch file disagrees with BatchAnchored on {f}",
                round=r,
                field=f,
                expected=e,
                found=x,
                file=location,
            )
        )
    if not bad:
        target.passed("batch.anchor")
    model = view.models.get(anchor.model_version)
    policy = view.policies.get(anchor.policy_version)
    if model is None or policy is None:
        target.fail(
            Discrepancy(
                "batch.anchor",
                f"round {r} names a model or policy never registered",
                round=r,
                field="modelVersion" if model is None else "policyVersion",
                expected="a registered version",
                found=anchor.model_version if model is None else anchor.policy_version,
            )
        )
    elif model.segment != meta.segment:
        target.fail(
            Discrepancy(
                "batch.anchor",
                f"round {r} batch segment differs from its model's",
                round=r,
                field="segment",
                expected=model.segment,
                found=meta.segment,
                file=location,
            )
        )

    leaf_failures = 0
    seen: set[bytes] = set()
    for i, leaf in enumerate(batch.leaves):
        problem: tuple[str, object, object] | None = None
        if leaf.round != r:
            problem = ("round", r, leaf.round)
        elif leaf.model_version != anchor.model_version:
            problem = ("model_version", anchor.model_version, leaf.model_version)
        elif leaf.policy_version != anchor.policy_version:
            problem = ("policy_version", anchor.policy_version, leaf.policy_version)
        elif leaf.merchant_key in seen:
            problem = ("merchant_key", "one leaf per merchant", "duplicate")
        seen.add(leaf.merchant_key)
        if problem:
            leaf_failures += 1
            target.fail(
                Discrepancy(
                    "batch.leaves",
                    f"round {r} leaf {i} does not belong to its batch",
                    round=r,
                    merchant_key="0x" + leaf.merchant_key.hex(),
                    field=problem[0],
                    expected=problem[1],
                    found=problem[2],
                    file=location,
                )
            )
    target.passed("batch.leaves", len(batch.leaves) - leaf_failures)
    if not bad and leaf_failures == 0:
        state.leaves = list(batch.leaves)
    state.as_of, state.as_of_source = _as_of(batch, r)
    return state


def _as_of(batch: batchfile.Batch, round_id: int) -> tuple[dt.date | None, str]:
    """The scoring date of a round: the batch file's ``asOf`` (hashed on-chain), else derived."""
    text = getattr(batch.metadata, "as_of", "") or ""
    if text:
        try:
            return dt.date.fromisoformat(text), "batch file"
        except ValueError:
            return None, f"batch file asOf {text!r} is not an ISO date"
    return None, "batch file has no asOf"


def derive_synthetic_as_of(round_id: int) -> dt.date:
    """The as-of date the synthetic platform source uses for a weekly round (round 1 = week 0).

    Only a fallback for batch files written before ``asOf`` was added to their metadata.
    """
    from scoring.synth import DEFAULT_START

    return DEFAULT_START + dt.timedelta(days=7 * max(round_id - 1, 0) + 60 - 1)


def _check_store_rounds(store: Store, view: ChainView, report: AuditReport, audited: set[int]) -> None:
    for r in sorted(audited):
        anchor = view.anchors[r]
        try:
            row: RoundRow = store.get_round(r)
        except NotFound:
            report.fail(
                Discrepancy("store.round", f"round {r} is anchored on-chain but absent from the store", round=r)
            )
            continue
        checks = [
            ("root", "0x" + anchor.root.hex(), "0x" + (row.root or b"").hex()),
            ("batch_hash", "0x" + anchor.content_hash.hex(), "0x" + (row.batch_hash or b"").hex()),
            ("decision_count", anchor.decision_count, row.decision_count),
            ("model_version", anchor.model_version, row.model_version),
            ("policy_version", anchor.policy_version, row.policy_version),
        ]
        bad = [(f, e, x) for f, e, x in checks if e != x]
        for f, e, x in bad[:1]:
            report.fail(
                Discrepancy(
                    "store.round",
                    f"the store's round {r} differs from the chain",
                    round=r,
                    field=f,
                    expected=e,
                    found=x,
                )
            )
        if not bad:
            report.passed("store.round")
        if row.status not in ANCHORED_STATUSES:
            report.skipped(
                "store.round",
                note=f"round {r} is on-chain but the store still says {row.status!r} (the oracle will record it when resumed)",
            )
    audited_range = range(min(audited), max(audited) + 1) if audited else None
    for row in store.rounds(status=ANCHORED_STATUSES):
        if row.round_id not in view.anchors and (audited_range is None or row.round_id in audited_range):
            report.fail(
                Discrepancy(
                    "store.round",
                    f"the store says round {row.round_id} is {row.status}, the chain has no such round",
                    round=row.round_id,
                    field="status",
                    expected="not anchored",
                    found=row.status,
                )
            )


def _leaf_diff(expected: DecisionLeaf, found: DecisionLeaf) -> tuple[str, Any, Any] | None:
    for name in LEAF_FIELDS:
        e, f = getattr(expected, name), getattr(found, name)
        if e != f:
            if isinstance(e, bytes):
                e, f = "0x" + e.hex(), "0x" + f.hex()
            return name, e, f
    return None


def _check_store_leaves(state: _RoundState, rows: list[DecisionRow], report: AuditReport) -> None:
    r = state.anchor.round
    if state.batch is None:
        # Without a trusted file, the store's leaves are trusted only if they rebuild the anchored root.
        if rows:
            hashes = leaf_hashes(row.to_leaf() for row in rows)
            if MerkleTree.build(hashes).root == state.anchor.root:
                state.leaves = [row.to_leaf() for row in rows]
                report.skipped(
                    "store.leaf",
                    len(rows),
                    note=f"round {r}: no usable batch file; the store's leaves rebuild the anchored root, so they stand in for it",
                )
                return
        report.skipped(
            "store.leaf", len(rows), note=f"round {r}: no usable batch file to compare the store's leaves with"
        )
        return
    leaves = state.batch.leaves
    if len(rows) != len(leaves):
        report.fail(
            Discrepancy(
                "store.leaf",
                f"round {r}: the store holds {len(rows)} decisions, the batch file {len(leaves)}",
                round=r,
                field="decision_count",
                expected=len(leaves),
                found=len(rows),
                file=state.file,
            )
        )
    by_key = {leaf.merchant_key: (i, leaf) for i, leaf in enumerate(leaves)}
    expected_hashes = leaf_hashes(leaves)
    for row in rows:
        found = by_key.get(row.merchant_key)
        key = "0x" + row.merchant_key.hex()
        if found is None:
            report.fail(
                Discrepancy(
                    "store.leaf",
                    f"round {r}: the store has a decision the batch file lacks",
                    round=r,
                    merchant_key=key,
                    field="merchant_key",
                    expected="absent",
                    found="present",
                    file=state.file,
                )
            )
            continue
        i, leaf = found
        diff = _leaf_diff(leaf, row.to_leaf())
        if diff is None and row.leaf_index != i:
            diff = ("leaf_index", i, row.leaf_index)
        if diff is None and row.leaf_hash != expected_hashes[i]:
            diff = ("leaf_hash", "0x" + expected_hashes[i].hex(), "0x" + row.leaf_hash.hex())
        if diff is not None:
            report.fail(
                Discrepancy(
                    "store.leaf",
                    f"round {r}: the store's leaf differs from the anchored batch file",
                    round=r,
                    merchant_key=key,
                    field=diff[0],
                    expected=diff[1],
                    found=diff[2],
                    file=state.file,
                )
            )
        else:
            report.passed("store.leaf")


def _check_hash_chains(states: dict[int, _RoundState], audited: set[int], report: AuditReport) -> None:
    last: dict[bytes, bytes] = {}
    broken_after: int | None = None
    for r in sorted(states):
        state = states[r]
        if state.leaves is None:
            # An untrusted round: its merchants' chain positions are unknown from here on.
            broken_after = r
            if r in audited:
                report.skipped(
                    "hash_chain",
                    state.anchor.decision_count,
                    note=f"round {r}: no trusted leaves; links into later rounds were not checked",
                )
            continue
        hashes = leaf_hashes(state.leaves)
        for leaf, h in zip(state.leaves, hashes):
            if r in audited:
                known = leaf.merchant_key in last
                expected = last.get(leaf.merchant_key, ZERO_HASH)
                if broken_after is not None and not known:
                    report.skipped("hash_chain")
                elif leaf.prev_leaf_hash != expected:
                    report.fail(
                        Discrepancy(
                            "hash_chain",
                            f"round {r}: prev_leaf_hash does not link to the merchant's previous decision",
                            round=r,
                            merchant_key="0x" + leaf.merchant_key.hex(),
                            field="prev_leaf_hash",
                            expected="0x" + expected.hex(),
                            found="0x" + leaf.prev_leaf_hash.hex(),
                            file=state.file,
                        )
                    )
                else:
                    report.passed("hash_chain")
            last[leaf.merchant_key] = h


def _check_inputs_and_rescore(
    state: _RoundState,
    rows: list[DecisionRow],
    artifacts: dict[int, Any],
    policies: dict[int, Any],
    report: AuditReport,
    rescore: bool,
) -> None:
    r = state.anchor.round
    trusted = {leaf.merchant_key: leaf for leaf in state.leaves} if state.leaves is not None else {}
    if state.leaves is None:
        report.skipped("inputs.commitment", len(rows), note=f"round {r}: no trusted leaves to check inputs against")
        report.skipped("rescore", len(rows))
        return
    verified: list[tuple[DecisionLeaf, bytes]] = []
    for row in rows:
        leaf = trusted.get(row.merchant_key)
        key = "0x" + row.merchant_key.hex()
        if leaf is None:
            continue  # reported by store.leaf
        if row.feature_salt is None or row.feature_bytes is None:
            report.fail(
                Discrepancy(
                    "inputs.missing",
                    f"round {r}: the store lacks the private inputs of a decision",
                    round=r,
                    merchant_key=key,
                    field="feature_bytes" if row.feature_bytes is None else "feature_salt",
                )
            )
            continue
        report.passed("inputs.missing")
        commitment = feature_commitment(row.feature_salt, row.feature_bytes)
        if commitment != leaf.feature_commitment:
            report.fail(
                Discrepancy(
                    "inputs.commitment",
                    f"round {r}: keccak(salt || feature_bytes) differs from the anchored commitment",
                    round=r,
                    merchant_key=key,
                    field="feature_commitment",
                    expected="0x" + leaf.feature_commitment.hex(),
                    found="0x" + commitment.hex(),
                )
            )
            continue
        report.passed("inputs.commitment")
        verified.append((leaf, row.feature_bytes))
    if not rescore:
        report.skipped("rescore", len(verified), note="re-scoring was switched off")
        return
    artifact = artifacts.get(state.anchor.model_version)
    policy = policies.get(state.anchor.policy_version)
    if artifact is None or policy is None:
        missing = (
            f"model v{state.anchor.model_version}" if artifact is None else f"policy v{state.anchor.policy_version}"
        )
        report.skipped(
            "rescore",
            len(verified),
            note=f"round {r}: {missing} is not available as a verified document; not re-scored",
        )
        return
    as_of = state.as_of
    if as_of is None:
        as_of = derive_synthetic_as_of(r)
        report.skipped(
            "rescore",
            0,
            note=f"round {r}: {state.as_of_source}; as-of date derived from the synthetic calendar ({as_of})",
        )
    if not verified:
        return
    try:
        expected = rescore_rows(artifact, policy, [fb for _, fb in verified], as_of)
    except RescoreError as exc:
        report.fail(
            Discrepancy(
                "rescore",
                f"round {r}: model v{state.anchor.model_version} and policy v{state.anchor.policy_version} cannot replay: {exc}",
                round=r,
            )
        )
        return
    for i, (leaf, _) in enumerate(verified):
        key = "0x" + leaf.merchant_key.hex()
        if not expected.schema_ok[i]:
            report.fail(
                Discrepancy(
                    "rescore",
                    f"round {r}: committed feature bytes do not follow model v{leaf.model_version}'s schema",
                    round=r,
                    merchant_key=key,
                    field="feature_bytes",
                )
            )
            continue
        want = expected.row(i)
        diff = next(
            (
                (f, want[f], getattr(leaf, f))
                for f in ("score", "limit_cny", "product_mask", "reason_codes")
                if want[f] != getattr(leaf, f)
            ),
            None,
        )
        if diff is None:
            report.passed("rescore")
        else:
            f, e, x = diff
            report.fail(
                Discrepancy(
                    "rescore",
                    f"round {r}: re-scoring the committed inputs with model v{leaf.model_version} / policy v{leaf.policy_version} as of {as_of} gives another {f}",
                    round=r,
                    merchant_key=key,
                    field=f,
                    expected=list(e) if isinstance(e, tuple) else e,
                    found=list(x) if isinstance(x, tuple) else x,
                )
            )


# ---------------------------------------------------------------------------
# attesting
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedAudit:
    tx_hash: bytes
    report_hash: bytes
    uri: str
    from_round: int
    to_round: int


def record_audit(
    contracts: LedgerContracts, auditor: LocalAccount, report: AuditReport, put_document: Callable[[bytes], bytes]
) -> RecordedAudit:
    """Publish the report (content-addressed) and attest it with ``CreditLedger.recordAudit``.

    ``put_document`` stores the report bytes and returns their SHA-256 (e.g.
    ``DocumentStore(settings.documents_dir).put``); the on-chain ``reportHash`` is that
    same digest, and the ``uri`` is ``sha256:<hex>``, so the report is fetched and
    checked like every other document.
    """
    if not report.rounds:
        raise ReplayError("no anchored rounds were replayed: nothing to attest")
    data = report.to_bytes()
    digest = put_document(data)
    if digest != content_hash(data):
        raise ReplayError("the document store returned a hash that is not the report's SHA-256")
    uri = uri_for(digest)
    lo, hi = report.rounds[0], report.rounds[-1]
    receipt = contracts.chain.send(contracts.ledger.functions.recordAudit(lo, hi, digest, uri), auditor)
    return RecordedAudit(bytes(receipt["transactionHash"]), digest, uri, lo, hi)
