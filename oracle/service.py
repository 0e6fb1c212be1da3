"""The oracle: score a round, store it, anchor its root; restartable at any point.

A round moves through the store's states ``pending -> built -> anchoring ->
anchored -> confirmed``; every step first looks at what the store and the chain
already have, so killing the process anywhere and running the round again ends with
exactly one root on-chain, equal to the stored one, and every decision stored once:

* **build** (score, leaves, tree, batch file, store) is one database transaction;
  a crash before it commits leaves the round ``pending`` and the rerun builds it
  again from the same inputs, which gives the same root.
* **anchor**: the transaction's hash and nonce are recorded *before* it is sent. On
  a rerun the oracle first asks the chain whether the round is anchored (and with
  which root), then whether the recorded transaction was mined, and only then sends
  again, reusing the recorded nonce so two anchoring transactions can never both be
  mined.
* **confirm**: waits until the configured number of blocks (``Settings.confirmations``,
  ``CREDIT_LEDGER_CONFIRMATIONS``) sit on top of the anchoring block, watching the
  receipt meanwhile: a reorg that moves the transaction to another block is
  recorded, one that drops it sends the round back to **anchor** (same nonce).
  A round that is anchored but not yet confirmed is resumed like an unfinished one.

For tests and drills, ``CREDIT_LEDGER_CRASH_AT`` (``after_tree``, ``after_send``,
``after_receipt``) makes the process SIGKILL itself at that point, and
``CREDIT_LEDGER_PAUSE_AT=point:seconds`` makes it sleep there (``Settings.crash_at``,
``Settings.pause_at``).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeGuard, TypeVar

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound, Web3RPCError
from web3.types import EventData

from foundation.errors import CreditLedgerError
from ledger import batchfile
from ledger.accounts import FIRST_DEV_MERCHANT_INDEX, RoleAccounts, dev_account
from ledger.chain import Chain, sign_transaction
from ledger.config import Settings
from ledger.deployment import AddressBook, LedgerContracts, load
from ledger.documents import DocumentStore
from ledger.enums import MerchantKind, MerchantStatus
from ledger.identity import Pseudonymizer, feature_commitments
from ledger.leaf import ZERO_HASH, LeafColumns
from ledger.merkle import GcPaused
from ledger.retry import RetryPolicy
from ledger.roles import Role
from ledger.store import SEGMENTS, MerchantRow, NotFound, RoundKind, RoundStatus, Segment, Store
from oracle.publish import segment_id
from sources.records import DecisionSource

T = TypeVar("T")


#: Round states that ``run-round`` resumes instead of starting a new round.
UNFINISHED_STATUSES: Final[tuple[RoundStatus, ...]] = ("pending", "built", "anchoring", "anchored")


class OracleError(CreditLedgerError, RuntimeError):
    """The oracle refuses to go on; the message says why and what to do."""

    code = "oracle_refused"
    hint = "fix what the message names, then rerun `credit-ledger oracle run-round`: it resumes the round"


class ModelMismatch(OracleError):
    """The local model artifact or policy is not the active on-chain version."""

    code = "model_mismatch"
    hint = "publish the local file (`credit-ledger model publish` / `policy propose`) or restore the active one"


class RootConflict(OracleError):
    """The chain holds a different root for this round than the store."""

    code = "root_conflict"
    hint = "compare the chain and the store with `credit-ledger audit replay` before anchoring anything else"


def _is_segment(name: str) -> TypeGuard[Segment]:
    return name in SEGMENTS


def store_segment(name: str) -> Segment:
    """A source's segment name as the store's :data:`~ledger.store.Segment`; :class:`OracleError` otherwise."""
    if not _is_segment(name):
        raise OracleError(f"unknown segment {name!r}; expected one of {', '.join(SEGMENTS)}")
    return name


def crash_point(name: str) -> None:
    """SIGKILL this process if the crash drill asks for ``name`` (no cleanup runs), or pause there.

    The drill settings are read at each call, not taken from the oracle's settings:
    a drill names the point in the environment of the one process it targets.
    """
    settings = Settings.from_env()
    if settings.crash_at == name:
        os.kill(os.getpid(), signal.SIGKILL)
    pause = settings.pause
    if pause is not None and pause[0] == name:
        seconds = pause[1]
        print(f"drill: pausing {seconds:g}s at {name}", flush=True)
        time.sleep(seconds)


def with_retries(
    what: str, fn: Callable[[], T], attempts: int = 8, first_delay: float = 0.5, log: Callable[[str], None] = print
) -> T:
    """Run ``fn`` under the ledger's retry policy (:mod:`ledger.retry`): node restarts are ridden out.

    Connection failures are retried ``attempts - 1`` times with exponential backoff, each
    retry logged through ``log``; then :class:`OracleError` says what failed and what to do.
    """
    policy = RetryPolicy(attempts=attempts, first_delay=first_delay)
    return policy.call(fn, what, log=log, error=lambda exhausted: OracleError(exhausted.explained()))


@dataclass(frozen=True)
class RoundResult:
    round_id: int
    segment: str
    kind: str
    decisions: int
    root: bytes
    batch_hash: bytes
    tx_hash: bytes
    block_number: int
    gas_used: int | None
    built_now: bool
    anchored_now: bool


PROGRESS_MIN_DECISIONS = 5_000
"""Rounds above this many decisions show stage progress and log one line per stage."""

ROUND_STAGES = ("scoring", "merchants", "leaves", "tree", "batch file", "merchants store", "store", "anchor")


class RoundStages:
    """Times a round's stages; for large rounds, logs them and shows their progress.

    Each stage is timed (``seconds``); once the round has more than
    :data:`PROGRESS_MIN_DECISIONS` decisions, every finished stage is logged through
    ``log`` as one line ``round=<id> stage=<name> seconds=<s> decisions=<n>``, and on
    a terminal a ``rich`` progress display lists the stages as they run. Stages that
    never run (a resumed round) are simply not shown.
    """

    def __init__(self, log: Callable[[str], None], round_id: int, console: bool | None = None) -> None:
        self.log = log
        self.round_id = round_id
        self.decisions = 0
        self.seconds: dict[str, float] = {}
        self._console = sys.stdout.isatty() if console is None else console
        self._progress: Any = None
        self._task: Any = None
        self._logged: set[str] = set()

    @property
    def large(self) -> bool:
        return self.decisions > PROGRESS_MIN_DECISIONS

    def _show(self, name: str) -> None:
        if not (self.large and self._console):
            return
        if self._progress is None:
            try:
                from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
            except ImportError:  # rich is a dependency; stay quiet without it
                self._console = False
                return
            self._progress = Progress(
                TextColumn(f"round {self.round_id} [bold]{{task.description:<10}}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} stages"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(name, total=len(ROUND_STAGES), completed=len(self.seconds))
        self._progress.update(self._task, description=name, completed=len(self.seconds))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._show(name)
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        self.seconds[name] = seconds
        if self.large:
            self._show(name)
            if self._progress is not None and name == ROUND_STAGES[-1]:
                self._progress.update(self._task, completed=len(ROUND_STAGES), description="done")
            for done, secs in self._pending_logs():
                self.log(
                    f"round={self.round_id} stage={done.replace(' ', '_')} seconds={secs:.2f} decisions={self.decisions}"
                )

    def _pending_logs(self) -> list[tuple[str, float]]:
        # stages that finished before the round size was known (scoring) are logged late
        out = [(k, v) for k, v in self.seconds.items() if k not in self._logged]
        self._logged.update(k for k, _ in out)
        return out

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> RoundStages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Oracle:
    """Binds settings, chain, contracts, store and documents for running rounds."""

    def __init__(
        self, settings: Settings, log: Callable[[str], None] = print, accounts: RoleAccounts | None = None
    ) -> None:
        self.settings = settings
        self.log = log
        self.chain = Chain.connect(
            settings.rpc_url, expected_chain_id=settings.chain_id, confirmations=settings.confirmations
        )
        self.accounts = accounts or RoleAccounts.configured(settings.keys_file)
        self.contracts: LedgerContracts = load(self.chain, AddressBook(settings.address_book_path))
        self.store = Store.open(settings.database_url)
        self.documents = DocumentStore(settings.documents_dir)
        self.pseudonyms = Pseudonymizer.load_or_create(settings.home / "platform-secret.key")

    def close(self) -> None:
        self.store.close()

    # -- versions ------------------------------------------------------------
    def active_versions(self, source: DecisionSource) -> tuple[int, int]:
        """The active on-chain model and policy of the source's segment, checked against it."""
        segment = segment_id(source.segment)
        models, policies = self.contracts.models.functions, self.contracts.policies.functions
        model_version = int(models.activeModel(segment).call())
        policy_version = int(policies.activePolicy(segment).call())
        if model_version == 0 or policy_version == 0:
            raise ModelMismatch(
                f"no active {'model' if model_version == 0 else 'policy'} for segment {source.segment} on-chain: "
                "publish one with `credit-ledger model publish` / `credit-ledger policy propose`"
            )
        local_model = self.documents.put(source.model_document())
        onchain_model = bytes(models.model(model_version).call()[2])
        if onchain_model != local_model:
            raise ModelMismatch(
                f"the local {source.segment} model artifact sha256:{local_model.hex()} is not the active on-chain "
                f"version v{model_version} (sha256:{onchain_model.hex()}); refusing to score with it"
            )
        local_policy = self.documents.put(source.policy_document())
        onchain_policy = bytes(policies.policy(policy_version).call()[2])
        if onchain_policy != local_policy:
            raise ModelMismatch(
                f"the local {source.segment} policy sha256:{local_policy.hex()} is not the active on-chain "
                f"policy v{policy_version} (sha256:{onchain_policy.hex()})"
            )
        return model_version, policy_version

    def week_of(self, segment: Segment, round_id: int) -> int:
        """The week a weekly round of ``segment`` scores: how many weekly rounds of it come before."""
        return len([r for r in self.store.rounds(segment=segment, kind="weekly") if r.round_id < round_id])

    def next_round_id(self) -> int:
        """One past the highest round in the store or on-chain."""
        latest = self.store.latest_round()
        stored = latest.round_id if latest else 0
        count = int(self.contracts.ledger.functions.roundCount().call())
        onchain = int(self.contracts.ledger.functions.roundAt(count - 1).call()) if count else 0
        return max(stored, onchain) + 1

    # -- build ---------------------------------------------------------------
    def build_round(
        self, source: DecisionSource, round_id: int, kind: RoundKind = "weekly", stages: RoundStages | None = None
    ) -> tuple[bool, batchfile.Batch | None]:
        """Score and store the round unless it is already built; returns (built_now, batch).

        ``stages`` (made here if not given) times the stages and, for large rounds,
        shows their progress and logs one line per stage.
        """
        own = stages is None
        stages = stages or RoundStages(self.log, round_id)
        try:
            # A round holds millions of small objects; the cyclic GC would rescan them over
            # and over (measured: -27% CPU for a 100k round with it paused).
            with GcPaused():
                return self._build_round(source, round_id, kind, stages)
        finally:
            if own:
                stages.close()

    def _build_round(
        self, source: DecisionSource, round_id: int, kind: RoundKind, stages: RoundStages
    ) -> tuple[bool, batchfile.Batch | None]:
        segment = store_segment(source.segment)
        try:
            existing = self.store.get_round(round_id)
        except NotFound:
            existing = None
        if existing is not None and existing.status != "pending":
            self.log(
                f"round {round_id}: already built (root 0x{existing.root.hex() if existing.root else ''}); resuming"
            )
            return False, None
        model_version, policy_version = self.active_versions(source)
        if existing is not None and (existing.model_version, existing.policy_version) != (
            model_version,
            policy_version,
        ):
            raise OracleError(
                f"round {round_id} was started with model v{existing.model_version} / policy v{existing.policy_version}, "
                f"but v{model_version} / v{policy_version} are active now: start a new round"
            )
        self.store.create_round(round_id, segment, kind, model_version, policy_version)
        started = time.perf_counter()
        with stages.stage("scoring"):
            scored = source.decisions(round_id, self.week_of(segment, round_id))
            cols = scored.columns
            n = len(cols)
            stages.decisions = n
        if not n:
            raise OracleError(f"round {round_id}: the source produced no decisions")
        # The export's validation report, content-addressed before any row names it.
        report_hash = self.documents.put(scored.validation_report) if scored.validation_report is not None else None
        self.log(
            f"round {round_id}: scored {n:,} {source.segment}s in {time.perf_counter() - started:.1f}s (data as of {scored.as_of})"
        )

        # Column by column: no per-merchant objects between the scorer's arrays and
        # the store's rows (leaf layout: ledger.leaf.LeafColumns).
        pseudonyms = self.pseudonyms
        ids = cols.merchant_id
        with stages.stage("merchants"):
            keys = pseudonyms.merchant_keys(ids)
        with stages.stage("prev links"):
            # Before the upsert thread starts: a million-row read of the heads is
            # mostly Python work, and would share the GIL with that thread's.
            previous = self.store.latest_leaf_hashes(round_id, keys)
            prev_hashes = [previous.get(k, ZERO_HASH) for k in keys] if previous else [ZERO_HASH] * n
            del previous
        # The merchant upsert is its own transaction (as before); it runs on a second
        # thread while this one derives the leaves, the tree and the batch file:
        # SQLite does its B-tree work without the GIL. Joined before the crash point,
        # so a crash there finds the merchants stored exactly as before.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="upsert-merchants") as pool:
            upserted = pool.submit(self.store.upsert_merchant_columns, segment, ids, keys, cols.industry, cols.region)
            try:
                with stages.stage("leaves"):
                    salts = pseudonyms.feature_salts(ids, round_id)
                    commitments = feature_commitments(salts, cols.feature_bytes)
                    leaves = LeafColumns(
                        merchant_key=keys,
                        round=round_id,
                        score=cols.score,
                        limit_cny=cols.limit_cny,
                        product_mask=cols.product_mask,
                        reason_codes=cols.reason_codes,
                        model_version=model_version,
                        policy_version=policy_version,
                        feature_commitment=commitments,
                        prev_leaf_hash=prev_hashes,
                    )
                with stages.stage("tree"):
                    batch = batchfile.build_batch(
                        leaves,
                        source.segment,
                        self.chain.chain_id,
                        as_of=scored.as_of,
                        export_hash=scored.export_hash,
                        validation_report_hash=report_hash,
                    )
                with stages.stage("batch file"):
                    batch_hash = self.documents.put_chunks(batchfile.to_chunks(batch))
            except BaseException:
                upserted.cancel()  # leaving the pool's block waits for a running upsert
                raise
            with stages.stage("merchants store"):
                upserted.result()  # re-raises the upsert's error (e.g. MerchantConflict)
        tree = batch.tree
        nodes = b"".join(tree.nodes)
        tree_indices = tree.tree_indices
        crash_point("after_tree")
        with stages.stage("store"):
            node_list = tree.nodes
            r0, r1, r2, r3 = cols.reason_codes
            self.store.save_built_round_columns(
                round_id,
                {
                    "tree_index": tree_indices,
                    "merchant_key": keys,
                    "merchant_id": ids,
                    "score": cols.score,
                    "limit_cny": cols.limit_cny,
                    "product_mask": cols.product_mask,
                    "reason1": r0,
                    "reason2": r1,
                    "reason3": r2,
                    "reason4": r3,
                    "feature_commitment": commitments,
                    "prev_leaf_hash": prev_hashes,
                    "leaf_hash": [node_list[t] for t in tree_indices],
                    "feature_salt": salts,
                    "feature_bytes": cols.feature_bytes,
                    "status": cols.status,
                },
                nodes,
                batch.root,
                batch_hash,
                str(self.documents.path_for(batch_hash)),
                export_hash=scored.export_hash,
                validation_report_hash=report_hash,
            )
        self.log(
            f"round {round_id}: built {n:,} decisions, root 0x{batch.root.hex()}, batch file sha256:{batch_hash.hex()}"
        )
        return True, batch

    # -- anchor --------------------------------------------------------------
    def _find_anchor_tx(self, round_id: int) -> EventData | None:
        """The BatchAnchored log of ``round_id`` on-chain, if any."""
        logs: list[EventData] = list(
            self.contracts.ledger.events.BatchAnchored.get_logs(
                from_block=self.contracts.deployment.deployment_block, argument_filters={"round": round_id}
            )
        )
        return logs[0] if logs else None

    def _record_mined(self, round_id: int, tx_hash: bytes) -> None:
        receipt = self.chain.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        self.store.record_anchor_mined(
            round_id, receipt["blockNumber"], bytes(receipt["blockHash"]), receipt["gasUsed"], tx_hash=tx_hash
        )

    def anchor_round(self, round_id: int, _depth: int = 0) -> bool:
        """Anchor a built round exactly once; returns True if this call sent the transaction."""
        if _depth > 3:
            raise OracleError(f"round {round_id}: could not settle the anchoring transaction; see the log above")
        stored = self.store.get_round(round_id)
        if stored.status == "pending" or stored.root is None or stored.batch_hash is None:
            raise OracleError(f"round {round_id} is not built yet")
        ledger = self.contracts.ledger.functions
        oracle: LocalAccount = self.accounts[Role.ORACLE]

        # 1. Does the chain already have this round?
        if with_retries("isAnchored", lambda: ledger.isAnchored(round_id).call(), log=self.log):
            onchain_root = bytes(ledger.batch(round_id).call()[0])
            if onchain_root != stored.root:
                raise RootConflict(
                    f"round {round_id} is anchored on-chain with root 0x{onchain_root.hex()} but the store built "
                    f"0x{stored.root.hex()}: investigate before doing anything else"
                )
            if stored.status in ("anchoring", "built"):
                found = self._find_anchor_tx(round_id)
                if found is None:
                    raise OracleError(f"round {round_id} is anchored but its BatchAnchored event was not found")
                self._record_mined(round_id, bytes(found["transactionHash"]))
                self.log(f"round {round_id}: found on-chain in tx 0x{bytes(found['transactionHash']).hex()}; recorded")
            return False

        # 2. Was a transaction sent before a crash?
        nonce: int | None = None
        try:
            anchor = self.store.get_anchor(round_id)
        except NotFound:
            anchor = None
        if anchor is not None and anchor.status == "sent":
            if self._pending(anchor.tx_hash):
                self.log(f"round {round_id}: earlier tx 0x{anchor.tx_hash.hex()} is still pending; waiting for it")
                with_retries("wait for receipt", lambda: self.chain.wait(anchor.tx_hash, confirmations=0), log=self.log)
                return self.anchor_round(round_id, _depth + 1)
            mined_nonce = self.chain.w3.eth.get_transaction_count(oracle.address, "latest")
            if anchor.nonce is not None and mined_nonce <= anchor.nonce:
                nonce = anchor.nonce  # reuse: a second tx can then never also be mined
                self.log(
                    f"round {round_id}: earlier tx 0x{anchor.tx_hash.hex()} never reached the chain; re-sending with nonce {nonce}"
                )
            else:
                self.log(f"round {round_id}: earlier tx 0x{anchor.tx_hash.hex()} was dropped; sending anew")

        # 3. Send (record first, so a crash right after sending is recoverable).
        call = ledger.anchorBatch(
            round_id, stored.root, stored.decision_count, stored.model_version, stored.policy_version, stored.batch_hash
        )
        tx_fields = self.chain.build(call, oracle, nonce=nonce)
        signed = sign_transaction(oracle, tx_fields)
        tx_hash = bytes(signed.hash)
        self.store.record_anchor_sent(round_id, tx_hash, oracle.address, int(tx_fields["nonce"]))
        try:
            with_retries(
                "send anchor", lambda: self.chain.w3.eth.send_raw_transaction(signed.raw_transaction), log=self.log
            )
        except (ValueError, Web3RPCError) as exc:  # "nonce too low" / "already known": settled on the next pass
            self.log(f"round {round_id}: node refused the transaction ({exc}); re-checking the chain")
            time.sleep(0.5)
            return self.anchor_round(round_id, _depth + 1)
        self.log(f"round {round_id}: anchoring tx 0x{tx_hash.hex()} sent (nonce {tx_fields['nonce']})")
        crash_point("after_send")
        receipt = with_retries("wait for receipt", lambda: self.chain.wait(tx_hash, confirmations=0), log=self.log)
        if receipt["status"] != 1:
            raise OracleError(
                f"anchoring tx 0x{tx_hash.hex()} reverted (isAnchored={ledger.isAnchored(round_id).call()})"
            )
        crash_point("after_receipt")
        self.store.record_anchor_mined(
            round_id, receipt["blockNumber"], bytes(receipt["blockHash"]), receipt["gasUsed"], tx_hash=tx_hash
        )
        self.log(f"round {round_id}: anchored in block {receipt['blockNumber']} (gas {receipt['gasUsed']:,})")
        return True

    def _pending(self, tx_hash: bytes) -> bool:
        """True if the node knows the transaction (mined or waiting in its pool)."""
        try:
            return self.chain.w3.eth.get_transaction(HexBytes(tx_hash)) is not None
        except TransactionNotFound:  # what web3 raises for a hash the node does not know
            return False

    def _receipt(self, tx_hash: bytes) -> Any:
        """The transaction's receipt on the node's canonical chain, or None."""
        try:
            return self.chain.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def confirm_round(self, round_id: int, poll_seconds: float = 0.5) -> None:
        """Wait until ``confirmations`` blocks sit on top of the round's anchoring block.

        The receipt is read again on every poll, so a reorg is noticed while
        waiting: if the transaction now sits in another block, that block is
        recorded and the count starts from it; if it left the chain, the anchor
        goes back to 'sent' and :meth:`anchor_round` settles it as after a crash
        (waits for it if the node still holds it, else re-sends with its nonce).
        """
        wanted = self.chain.confirmations
        last_report = time.monotonic()
        while True:
            anchor = self.store.get_anchor(round_id)
            if anchor.status == "confirmed":
                return
            if anchor.status == "sent":
                self.anchor_round(round_id)
                continue
            tx_hash = anchor.tx_hash
            receipt = with_retries("anchor receipt", functools.partial(self._receipt, tx_hash), log=self.log)
            if receipt is None:
                self.log(
                    f"round {round_id}: anchoring tx 0x{tx_hash.hex()} is no longer on the chain "
                    f"(block {anchor.block_number} was reorganised away); settling the round again"
                )
                self.store.record_anchor_reorged(round_id)
                continue
            if bytes(receipt["blockHash"]) != anchor.block_hash:
                self.log(
                    f"round {round_id}: reorg moved anchoring tx 0x{tx_hash.hex()} from block "
                    f"{anchor.block_number} to block {receipt['blockNumber']}; counting confirmations from there"
                )
                self.store.record_anchor_mined(
                    round_id, receipt["blockNumber"], bytes(receipt["blockHash"]), receipt["gasUsed"], tx_hash=tx_hash
                )
                continue
            head = with_retries("block number", lambda: self.chain.w3.eth.block_number, log=self.log)
            have = head - receipt["blockNumber"]
            if have >= wanted:
                self.store.record_anchor_confirmed(round_id, have)
                if wanted:
                    self.log(f"round {round_id}: confirmed, {have} blocks on top of block {receipt['blockNumber']}")
                return
            if time.monotonic() - last_report >= 30:
                self.log(
                    f"round {round_id}: waiting for confirmations: {have} of {wanted} blocks on top of block {receipt['blockNumber']}"
                )
                last_report = time.monotonic()
            time.sleep(poll_seconds)

    # -- the whole round ---------------------------------------------------
    def run_round(self, source: DecisionSource, round_id: int | None = None, kind: RoundKind = "weekly") -> RoundResult:
        round_id = round_id if round_id is not None else self.resume_or_next(store_segment(source.segment), kind)
        with RoundStages(self.log, round_id) as stages:
            built_now, _ = self.build_round(source, round_id, kind, stages=stages)
            with stages.stage("anchor"):
                anchored_now = self.anchor_round(round_id)
        self.confirm_round(round_id)
        stored = self.store.get_round(round_id)
        anchor = self.store.get_anchor(round_id)
        assert stored.root is not None and stored.batch_hash is not None
        return RoundResult(
            round_id=round_id,
            segment=stored.segment,
            kind=stored.kind,
            decisions=stored.decision_count,
            root=stored.root,
            batch_hash=stored.batch_hash,
            tx_hash=anchor.tx_hash,
            block_number=int(anchor.block_number or 0),
            gas_used=anchor.gas_used,
            built_now=built_now,
            anchored_now=anchored_now,
        )

    def resume_or_next(self, segment: Segment, kind: RoundKind = "weekly") -> int:
        """An unfinished round of ``segment`` and ``kind`` if there is one, else a new round id."""
        unfinished = self.store.rounds(segment=segment, kind=kind, status=UNFINISHED_STATUSES)
        if unfinished:
            return unfinished[0].round_id
        return self.next_round_id()

    # -- identities ----------------------------------------------------------
    def bind_demo_merchants(self, merchant_ids: list[str]) -> list[tuple[str, bytes, str]]:
        """Register the given merchants on-chain, bound to development accounts 10, 11, ...

        Each merchant must be in the store (scored at least once): its kind on-chain
        follows its segment there.
        """
        bound: list[tuple[str, bytes, str]] = []
        identities = self.contracts.identities.functions
        for offset, merchant_id in enumerate(merchant_ids):
            account = dev_account(FIRST_DEV_MERCHANT_INDEX + offset)
            key = self.pseudonyms.merchant_key(merchant_id)
            row = self.store.merchant_by_id(merchant_id)
            if identities.merchant(key).call()[2] == MerchantStatus.UNREGISTERED:
                kind = MerchantKind.from_label(row.segment)
                self.chain.send(identities.register(key, account.address, int(kind)), self.accounts[Role.REGISTRAR])
            self.store.upsert_merchants(
                [MerchantRow(merchant_id, key, row.segment, row.industry, row.region, account=account.address)]
            )
            bound.append((merchant_id, key, account.address))
        return bound
