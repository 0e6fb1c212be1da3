"""Benchmark: oracle rounds of N merchants, stage by stage, one table per round.

    .venv/bin/python bench/round_bench.py                 # N = 100,000
    .venv/bin/python bench/round_bench.py --n 1000000     # the real target
    .venv/bin/python bench/round_bench.py --murky --js    # add the slow tree peers

What runs (everything real, on a fresh anvil node and a SQLite store in a temp dir):

1. anvil (``ledger.node.LocalNode``), ``ledger.deployment.deploy``, the scoring
   model (``sources.synthetic.ScoringSource.prepare``: trains the scorecard on
   20k synthetic merchants, untimed) and its policy published and activated
   (``credit_ledger.demo.publish_source``) -- setup, not timed.
2. Scoring: a feature frame of N rows is built by generating a smaller population
   (``--population``, 50k) with ``scoring.generate_merchants`` +
   ``scoring.build_features(data, scoring.validate(data))`` and tiling it with new
   merchant ids (60 days of raw data for 1M merchants is a data-generation cost,
   not a round cost; untimed). Timed: ``scoring.score_columns`` on the N rows, and
   the conversion of its columns to ``DecisionColumns`` (``sources.synthetic.
   decision_columns``, the code ``ScoringSource.decisions`` runs, standalone because
   that method also generates the raw data).
3. ``Oracle.build_round`` driven by a ``DecisionSource`` that hands it those
   columns, its parts timed IN PLACE: the bench wraps the bulk calls the method
   makes (``active_versions``, ``Pseudonymizer.merchant_keys``/``feature_salts``,
   ``Store.upsert_merchant_columns`` (on a second thread), ``Store.latest_leaf_hashes``,
   ``feature_commitments``, ``ledger.batchfile.build_batch``, ``LeafColumns.hashes``,
   ``MerkleTree.build``, ``ledger.batchfile.to_chunks`` streamed through ``DocumentStore.put_chunks``,
   ``Store.save_built_round_columns``) with timestamp marks; the gaps between marks
   are the rest. No per-leaf wrapper, so the instrumented run costs what an
   uninstrumented one does. ``--rounds`` (2) repeats this for the same merchants:
   round 1 inserts every merchant, round 2 is the weekly case (all known, chained).
4. Not part of ``build_round`` (the oracle regenerates proofs from the stored
   node array on demand): ``MerkleTree.all_proofs`` on the round's tree.
5. ``Oracle.anchor_round``: one ``anchorBatch`` transaction, mined by anvil.
6. Beside the tree stage, on the same leaves: murky-tree (PyPI), npm
   ``@openzeppelin/merkle-tree`` (``--js``) and the keccak-only lower bound, with
   the code of ``bench/merkle_tree.py``.

Wall and CPU (this process) seconds are printed: the machine is shared, and CPU
time is what the code costs. anvil's CPU is not in the CPU column.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.merkle_tree import keccak64_cost, run_js, run_murky  # noqa: E402
from ledger.accounts import RoleAccounts  # noqa: E402
from ledger.chain import Chain  # noqa: E402
from ledger.config import Settings  # noqa: E402
from ledger.deployment import AddressBook, LedgerContracts, deploy  # noqa: E402
from ledger.leaf import leaf_hashes  # noqa: E402
from ledger.merkle import GcPaused, MerkleTree  # noqa: E402
from ledger.node import LocalNode  # noqa: E402
from sources.records import DecisionColumns, DecisionSource, ScoredRound  # noqa: E402

TARGET_ROUND_S = 60.0  # whole round incl. scoring, SQLite
TARGET_TREE_PROOFS_1M_S = 4.0  # tree + all proofs at 1M leaves
MURKY_MAX_DEFAULT = 200_000


# ---------------------------------------------------------------- shared setup


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LedgerStack:
    """A fresh anvil node with our contracts deployed and one source's model + policy active."""

    node: LocalNode
    settings: Settings
    accounts: RoleAccounts
    chain: Chain
    contracts: LedgerContracts
    model_version: int = 0
    policy_version: int = 0


@contextlib.contextmanager
def ledger_stack(source: DecisionSource, log: Callable[[str], None] = lambda _m: None) -> Iterator[LedgerStack]:
    """Start anvil in a temp dir on a free port, deploy, publish ``source``; stop anvil after."""
    from credit_ledger.demo import publish_source
    from ledger.documents import DocumentStore

    with tempfile.TemporaryDirectory(prefix="credit-ledger-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        node = LocalNode(Path(tmp) / "anvil", port=free_port())
        node.start()
        try:
            settings = Settings(
                home=home,
                rpc_url=node.url,
                chain_id=node.chain_id,
                node_port=node.port,
                keys_file=None,
                database_url=f"sqlite:///{home / 'ledger.db'}",
                policy_delay_seconds=60,
                embedded_node=False,
            )
            accounts = RoleAccounts.development()
            chain = Chain.connect(node.url, expected_chain_id=node.chain_id)
            contracts, _ = deploy(
                chain, accounts, AddressBook(settings.address_book_path), settings.policy_delay_seconds
            )
            mv, pv = publish_source(contracts, accounts, source, DocumentStore(settings.documents_dir), log)
            yield LedgerStack(node, settings, accounts, chain, contracts, mv, pv)
        finally:
            node.stop()


# ---------------------------------------------------------------- timing


class Marks:
    """Named (wall, cpu) timestamps; wrap() marks the entry and exit of a call."""

    def __init__(self) -> None:
        self.points: list[tuple[str, float, float]] = []

    def mark(self, name: str) -> None:
        self.points.append((name, time.perf_counter(), time.process_time()))

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.mark(f"{name}:start")
            try:
                return fn(*args, **kwargs)
            finally:
                self.mark(f"{name}:end")

        return wrapper

    def at(self, name: str, last: bool = True) -> tuple[float, float]:
        found = [(w, c) for n, w, c in self.points if n == name]
        if not found:
            raise KeyError(f"no mark {name!r}: the Oracle's structure changed; update the bench")
        return found[-1] if last else found[0]

    def span(self, a: str, b: str) -> tuple[float, float]:
        wa, ca = self.at(a)
        wb, cb = self.at(b)
        return wb - wa, cb - ca


def timed_once(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


# ---------------------------------------------------------------- scoring input


class PreparedSource:
    """A DecisionSource handing the oracle decisions scored beforehand (documents from ``inner``)."""

    def __init__(self, inner: Any, scored: ScoredRound | None = None) -> None:
        self.inner = inner
        self.segment = inner.segment
        self.scored = scored

    def model_document(self) -> bytes:
        return self.inner.model_document()

    def feature_schema_hash(self) -> bytes:
        return self.inner.feature_schema_hash()

    def policy_document(self) -> bytes:
        return self.inner.policy_document()

    def policy_reason(self) -> str:
        return self.inner.policy_reason()

    def decisions(self, round_id: int, week: int = 0) -> ScoredRound:
        assert self.scored is not None
        return self.scored


def tiled_features(n: int, population: int, seed: int) -> tuple[Any, str, float]:
    """An n-row feature frame: ``population`` generated merchants tiled with fresh ids."""
    import pandas as pd

    from scoring import build_features, generate_merchants, validate

    t0 = time.perf_counter()
    data = generate_merchants(min(n, population), seed=seed)
    features = build_features(data, validate(data))
    reps = -(-n // len(features))
    big = pd.concat([features] * reps).iloc[:n] if reps > 1 else features.iloc[:n]
    big = big.copy()
    big.index = pd.Index([f"B{i:09d}" for i in range(len(big))], name="merchant_id")
    return big, data.as_of.isoformat(), time.perf_counter() - t0


def to_decision_columns(batch: Any, features: Any) -> DecisionColumns:
    """``ScoringSource.decisions``' conversion of a DecisionBatch (``decision_columns``), industry/region from the frame."""
    from sources.synthetic import _nullable, decision_columns

    return decision_columns(batch, _nullable(features["industry"]), _nullable(features["region"]))


# ---------------------------------------------------------------- the bench


def instrumented(oracle: Any, marks: Marks) -> contextlib.ExitStack:
    """Wrap the Oracle's bulk calls with marks for the duration of the context."""
    import ledger.batchfile as batchfile
    import oracle.service as service
    from ledger.leaf import LeafColumns

    stack = contextlib.ExitStack()

    def patch(obj: Any, attr: str, name: str, static: bool = False) -> None:
        original = obj.__dict__[attr] if attr in getattr(obj, "__dict__", {}) else None
        current = getattr(obj, attr)
        wrapped = marks.wrap(name, current)
        setattr(obj, attr, staticmethod(wrapped) if static else wrapped)
        if original is not None:
            stack.callback(setattr, obj, attr, original)
        else:
            stack.callback(delattr, obj, attr)

    patch(oracle, "active_versions", "active_versions")
    patch(oracle.store, "create_round", "create_round")
    patch(oracle.pseudonyms, "merchant_keys", "merchant_keys")
    patch(oracle.pseudonyms, "feature_salts", "feature_salts")
    patch(oracle.store, "upsert_merchant_columns", "upsert_merchants")
    patch(oracle.store, "latest_leaf_hashes", "latest_leaf_hashes")
    patch(oracle.store, "save_built_round_columns", "save_built_round")
    patch(oracle.documents, "put_chunks", "documents_put")
    patch(service, "feature_commitments", "feature_commitments")
    patch(batchfile, "build_batch", "build_batch")
    patch(LeafColumns, "hashes", "leaf_hashes")
    patch(MerkleTree, "build", "tree_build", static=True)
    return stack


def run_round(oracle: Any, source: Any, marks: Marks, no_gc: bool) -> tuple[int, Any]:
    round_id = oracle.next_round_id()
    gc.collect()
    with instrumented(oracle, marks), GcPaused() if no_gc else contextlib.nullcontext():
        marks.mark("build:start")
        built_now, batch = oracle.build_round(source, round_id)
        marks.mark("build:end")
    assert built_now and batch is not None
    return round_id, batch


def stage_table(
    m: Marks,
    w_score: float,
    c_score: float,
    w_conv: float,
    c_conv: float,
    w_anchor: float,
    c_anchor: float,
    w_proofs: float,
    c_proofs: float,
) -> list[tuple[str, float, float, bool]]:
    """(name, wall, cpu, counted in the round total) per stage, from one round's marks."""
    stages: list[tuple[str, float, float, bool]] = []

    def add(name: str, span: tuple[float, float], counted: bool = True) -> None:
        stages.append((name, span[0], span[1], counted))

    add("scoring: score_columns on N feature rows", (w_score, c_score))
    add("scoring: columns -> DecisionColumns (tolist)", (w_conv, c_conv))
    add(
        "build: active_versions (chain calls, model/policy docs)",
        m.span("active_versions:start", "active_versions:end"),
    )
    add("build: store.create_round", m.span("create_round:start", "create_round:end"))
    add("merchants: keys (keccak, Pseudonymizer.merchant_keys)", m.span("merchant_keys:start", "merchant_keys:end"))
    add(
        "store: upsert_merchant_columns (2nd thread, overlapped; not summed)",
        m.span("upsert_merchants:start", "upsert_merchants:end"),
        False,
    )
    add(
        "store: latest_leaf_hashes (prev links, before the upsert)",
        m.span("latest_leaf_hashes:start", "latest_leaf_hashes:end"),
    )
    add("leaves: salts (feature_salts; upsert thread started)", m.span("latest_leaf_hashes:end", "feature_salts:end"))
    add("leaves: feature commitments (keccak)", m.span("feature_commitments:start", "feature_commitments:end"))
    add("leaves: LeafColumns (column checks)", m.span("feature_commitments:end", "build_batch:start"))
    add("leaves: encoding + leaf hashes (LeafColumns.hashes)", m.span("leaf_hashes:start", "leaf_hashes:end"))
    add("tree: MerkleTree.build", m.span("tree_build:start", "tree_build:end"))
    add("batch file: serialize + sha256 + fsync'd write (streamed)", m.span("documents_put:start", "documents_put:end"))
    add(
        "build: wait for the upsert + node array + leaf-hash col", m.span("documents_put:end", "save_built_round:start")
    )
    add("store: save_built_round_columns (SQLite, one tx)", m.span("save_built_round:start", "save_built_round:end"))
    w_build, c_build = m.span("build:start", "build:end")
    accounted_w = sum(s[1] for s in stages[2:] if s[3])
    accounted_c = sum(s[2] for s in stages[2:] if s[3])
    add("build: other (unaccounted gaps)", (w_build - accounted_w, c_build - accounted_c))
    add("anchor: Oracle.anchor_round (1 anchorBatch tx)", (w_anchor, c_anchor))
    stages.append(("proofs: MerkleTree.all_proofs (not in build_round)", w_proofs, c_proofs, False))
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="merchants in the round (100000)")
    parser.add_argument("--population", type=int, default=50_000, help="generated merchants tiled up to N (50000)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="weekly rounds of the same N merchants (2): the first into an empty store (every merchant new), "
        "the next ones the weekly case (every merchant known, each leaf chained to its previous one)",
    )
    parser.add_argument("--murky", action="store_true", help=f"run murky-tree also above {MURKY_MAX_DEFAULT:,} leaves")
    parser.add_argument("--no-murky", action="store_true", help="skip murky-tree")
    parser.add_argument("--js", action="store_true", help="add npm @openzeppelin/merkle-tree (~221 s at 1M)")
    parser.add_argument(
        "--no-gc",
        action="store_true",
        help="pause Python's cyclic GC around the conversion as well (build_round pauses it itself)",
    )
    args = parser.parse_args(argv)
    n = args.n
    if n < 1:
        parser.error("--n must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    say = functools.partial(print, flush=True)

    from oracle.service import Oracle
    from sources.synthetic import PLATFORM_SEED, ScoringSource

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="credit-ledger-model-") as model_home:
        t0 = time.perf_counter()
        scoring = ScoringSource.prepare(Path(model_home), n, log=say)
        source = PreparedSource(scoring)
        say(f"setup: model ready in {time.perf_counter() - t0:.1f}s")
        with ledger_stack(source) as stack:
            say(
                f"setup: anvil at {stack.node.url}, contracts deployed, model v{stack.model_version} / policy v{stack.policy_version} active"
            )

            features, as_of, gen_s = tiled_features(n, args.population, PLATFORM_SEED)
            pop = min(n, args.population)
            say(
                f"setup: feature frame {len(features):,} rows from {pop:,} generated merchants in {gen_s:.1f}s (not timed)"
            )
            from scoring import score_columns

            logs: list[str] = []
            oracle = Oracle(stack.settings, log=logs.append, accounts=stack.accounts)
            for r in range(args.rounds):
                # -- scoring, included variant
                source.scored = None
                gc.collect()
                w_score, c_score, scored_batch = timed_once(
                    functools.partial(score_columns, scoring.artifact, scoring.policy, features, as_of)
                )
                with GcPaused() if args.no_gc else contextlib.nullcontext():
                    w_conv, c_conv, columns = timed_once(functools.partial(to_decision_columns, scored_batch, features))
                del scored_batch
                source.scored = ScoredRound(as_of=as_of, columns=columns)
                del columns
                say(f"round {r + 1}: scored {n:,} rows in {w_score:.2f}s, DecisionColumns in {w_conv:.2f}s")

                # -- the oracle's build, instrumented
                marks = Marks()
                round_id, batch = run_round(oracle, source, marks, args.no_gc)
                say(f"round {r + 1}: built round {round_id}: root 0x{batch.root.hex()}")

                # -- all proofs (not part of build_round)
                tree = batch.tree
                gc.collect()
                w_proofs, c_proofs, proofs = timed_once(tree.all_proofs)
                assert len(proofs) == n
                sample = proofs[n // 2]
                del proofs

                # -- anchor
                w_anchor, c_anchor, sent = timed_once(functools.partial(oracle.anchor_round, round_id))
                assert sent
                oracle.confirm_round(round_id)
                anchor = oracle.store.get_anchor(round_id)
                onchain_root = bytes(stack.contracts.ledger.functions.batch(round_id).call()[0])
                assert onchain_root == batch.root
                # one proof checked on-chain, for good measure
                i = n // 2
                ok = stack.contracts.ledger.functions.verifyDecision(
                    batch.leaves[i].to_abi_tuple(), list(sample)
                ).call()
                assert ok, "on-chain verifyDecision rejected a proof"
                if r:
                    assert batch.leaves[i].prev_leaf_hash != bytes(32), "round 2 leaf not chained to round 1"
                batch_file_mb = Path(oracle.store.get_round(round_id).batch_path or "").stat().st_size / 1e6
                db_mb = sum(p.stat().st_size for p in stack.settings.home.glob("ledger.db*")) / 1e6
                stages = stage_table(marks, w_score, c_score, w_conv, c_conv, w_anchor, c_anchor, w_proofs, c_proofs)
                results.append(
                    dict(
                        round=r + 1,
                        round_id=round_id,
                        stages=stages,
                        marks=marks,
                        w_proofs=w_proofs,
                        c_proofs=c_proofs,
                        w_score=w_score,
                        c_score=c_score,
                        w_conv=w_conv,
                        c_conv=c_conv,
                        anchor=anchor,
                        batch_file_mb=batch_file_mb,
                        db_mb=db_mb,
                    )
                )
                last_batch = batch
                del batch, tree

            # -- peers on the same leaves (the last round's)
            batch = last_batch
            tree = batch.tree
            leaves = list(batch.leaves)  # DecisionLeaf objects for the peers; untimed
            w_hoisted, c_hoisted, hashes = timed_once(lambda: leaf_hashes(leaves))
            assert hashes[0] == tree.leaf(0)
            del hashes
            peers: list[tuple[str, float, float | None]] = []
            run_m = not args.no_murky and (n <= MURKY_MAX_DEFAULT or args.murky)
            if run_m:
                say("running murky-tree ...")
                w_m, c_m, root_m = run_murky(leaves, 1)
                assert root_m == batch.root, "murky-tree root differs"
                peers.append(("murky-tree 1.2.0 StandardMerkleTree.of (leaves -> root)", w_m, c_m))
            if args.js:
                say("running @openzeppelin/merkle-tree in node ...")
                w_js, root_js = run_js(leaves)
                assert root_js == batch.root, "@openzeppelin/merkle-tree root differs"
                peers.append(("@openzeppelin/merkle-tree 1.0.8 .of, node (leaves -> root)", w_js, None))
            w64, c64 = keccak64_cost()
            peers.append(
                (
                    f"keccak lower bound (3N-1) x {c64 * 1e9:.0f} ns (leaves -> root)",
                    (3 * n - 1) * w64,
                    (3 * n - 1) * c64,
                )
            )
            stage_logs = [line for line in logs if line.startswith("round=")]
            oracle.close()

    # ---------------------------------------------------------------- tables
    width = 58
    for res in results:
        stages = res["stages"]
        m = res["marks"]
        w_incl = sum(s[1] for s in stages if s[3])
        c_incl = sum(s[2] for s in stages if s[3])
        w_excl = w_incl - res["w_score"] - res["w_conv"]
        c_excl = c_incl - res["c_score"] - res["c_conv"]
        w_build, c_build = m.span("build:start", "build:end")
        w_tree, c_tree = m.span("tree_build:start", "tree_build:end")
        w_proofs, c_proofs = res["w_proofs"], res["c_proofs"]
        what = (
            "empty store: every merchant new"
            if res["round"] == 1
            else "weekly case: every merchant known, leaves chained"
        )
        print()
        gc_note = "; cyclic GC also paused around the conversion (--no-gc)" if args.no_gc else ""
        print(
            f"Round {res['round']} (round id {res['round_id']}, {what}), N = {n:,} merchants; SQLite store, fresh anvil{gc_note}"
        )
        print(f"{'stage':<{width}} {'wall s':>8} {'cpu s':>8} {'decisions/s':>12} {'% wall':>7}")
        print("-" * (width + 40))
        for name, w, c, counted in stages:
            rate = f"{n / w:12,.0f}" if w > 0.0005 else f"{'-':>12}"
            share = f"{100 * w / w_incl:6.1f}%" if counted else f"{'-':>7}"
            print(f"{name:<{width}} {w:8.3f} {c:8.3f} {rate} {share}")
        print("-" * (width + 40))
        print(
            f"{'round, scoring EXCLUDED (a): build_round + anchor':<{width}} {w_excl:8.3f} {c_excl:8.3f} {n / w_excl:12,.0f}"
        )
        print(
            f"{'round, scoring INCLUDED (b): + score_columns + columns':<{width}} {w_incl:8.3f} {c_incl:8.3f} {n / w_incl:12,.0f}"
        )
        print(
            f"{'  of which build_round as measured around the call':<{width}} {w_build:8.3f} {c_build:8.3f} {n / w_build:12,.0f}"
        )
        print(
            f"{'tree + all proofs':<{width}} {w_tree + w_proofs:8.3f} {c_tree + c_proofs:8.3f} {n / (w_tree + w_proofs):12,.0f}"
        )
        print()
        print("Targets")
        verdict = "MET" if w_incl < TARGET_ROUND_S else "MISSED"
        print(
            f"  whole round incl. scoring < {TARGET_ROUND_S:.0f} s with SQLite : {w_incl:7.2f} s wall, {c_incl:7.2f} s cpu  -> {verdict} at N = {n:,}"
        )
        scale = 1_000_000 / n
        tp = w_tree + w_proofs
        label = "measured" if n == 1_000_000 else f"x{scale:g} linear extrapolation"
        print(
            f"  tree + all proofs for 1M < {TARGET_TREE_PROOFS_1M_S:.0f} s         : {tp:7.2f} s at N = {n:,}"
            f" ({tp * scale:.2f} s at 1M, {label})  -> {'MET' if tp * scale < TARGET_TREE_PROOFS_1M_S else 'MISSED'}"
        )
    if len(results) > 1:
        # week over week: does a round cost more as the history grows?
        def stage_wall(res: dict, prefix: str) -> float:
            return sum(w for name, w, _c, _counted in res["stages"] if name.startswith(prefix))

        print()
        print(f"Rounds side by side (N = {n:,}; wall s; the store holds every earlier round)")
        print(
            f"{'round':>5} {'history':>12} {'prev links':>10} {'upsert*':>8} {'store tx':>8} {'incl. scoring':>13} {'decisions/s':>12}"
        )
        for i, res in enumerate(results):
            w_incl = sum(st[1] for st in res["stages"] if st[3])
            print(
                f"{res['round']:>5} {i * n:>12,} {stage_wall(res, 'store: latest_leaf_hashes'):>10.2f}"
                f" {stage_wall(res, 'store: upsert_merchant_columns'):>8.2f} {stage_wall(res, 'store: save_built_round'):>8.2f}"
                f" {w_incl:>13.2f} {n / w_incl:>12,.0f}"
            )
        print("  * upsert: on the second thread, overlapped with leaves/tree/batch file (not summed)")
    last = results[-1]
    m = last["marks"]
    w_leafh, c_leafh = m.span("leaf_hashes:start", "leaf_hashes:end")
    w_tree, c_tree = m.span("tree_build:start", "tree_build:end")
    print()
    print(f"Tree stage beside its peers, same {n:,} leaves (round {last['round']}; ratio = wall / ours leaves -> root)")
    ours = w_leafh + w_tree
    print(f"{'':<{width}} {'wall s':>8} {'cpu s':>8} {'ratio':>7}")
    rows: list[tuple[str, float, float | None]] = [
        ("ours: leaf hashes as the oracle does (LeafColumns.hashes)", w_leafh, c_leafh),
        ("ours: leaf hashes via ledger.leaf.leaf_hashes (DecisionLeafs)", w_hoisted, c_hoisted),
        ("ours: MerkleTree.build", w_tree, c_tree),
        ("ours: leaves -> root, as in the oracle (reference)", ours, None),
        ("ours: all proofs", last["w_proofs"], last["c_proofs"]),
        *peers,
    ]
    for name, w, c in rows:
        ctext = f"{c:8.3f}" if c is not None else f"{'-':>8}"
        print(f"{name:<{width}} {w:8.3f} {ctext} {w / ours:7.2f}")
    if not run_m and not args.no_murky:
        print(f"  (murky-tree skipped above {MURKY_MAX_DEFAULT:,} leaves: ~40 s at 1M; --murky runs it)")
    if not args.js:
        print("  (npm @openzeppelin/merkle-tree skipped: ~221 s at 1M; --js runs it)")
    print()
    print("The oracle's own stage log lines (RoundStages, rounds > 5,000 decisions):")
    for line in stage_logs:
        print(f"  {line}")
    print()
    print("Notes")
    print(f"  * scoring input: {len(features):,}-row feature frame = {pop:,} merchants from scoring.generate_merchants")
    print(
        f"    + build_features(validate), tiled with new merchant ids; generation ({gen_s:.1f} s) is data preparation, not timed"
    )
    print("  * scoring EXCLUDED = decisions precomputed (handed to Oracle.build_round by a DecisionSource)")
    anchor = last["anchor"]
    print(
        f"  * anchor tx: gas {anchor.gas_used:,}, block {anchor.block_number}; root checked on-chain; one proof checked with verifyDecision"
    )
    print(
        "  * the merchant upsert runs on a second thread during leaves/tree/batch file; its row is not summed, and the"
    )
    print("    cpu column of the stages it overlaps includes its CPU (process time); the wait for it is its own row")
    print(
        f"  * batch file {last['batch_file_mb']:,.1f} MB; SQLite files {last['db_mb']:,.1f} MB after {len(results)} round(s); CPU = this process only (not anvil)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
