"""Write speed of the off-chain store: one round of N decisions, SQLite vs PostgreSQL.

    .venv/bin/python bench/store_write.py              # N = 100,000
    .venv/bin/python bench/store_write.py --n 1000000
    .venv/bin/python bench/store_write.py --postgres-url postgresql://... --no-postgres

Prints one table. Per backend/method: the time of ``Store.save_built_round``
(all decisions + the tree + the status, one transaction, checks included),
decisions per second, the no-op re-run after a "crash" (same root), average
latency of ``Store.proof`` (regenerated from the stored node array) over 1,000
random merchants, and the time to stream the whole round back.

Inputs are real leaves (``ledger.leaf``) and a real tree (``ledger.merkle``);
building them is not timed. Each decision carries a 32-byte feature salt and
``--feature-bytes`` (default 160) bytes of private canonical inputs. SQLite runs
on a file in a temp dir (WAL, synchronous=NORMAL); PostgreSQL in a throw-away
schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.leaf import DecisionLeaf, leaf_hashes
from ledger.merkle import MerkleTree
from ledger.store import DecisionRow, Store, normalise_url

DEFAULT_PG = os.environ.get("CREDIT_LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def make_round(n: int, round_id: int, feature_size: int) -> tuple[list[DecisionRow], bytes, bytes]:
    rng = random.Random(n)
    keys = [rng.randbytes(32) for _ in range(n)]
    leaves = [
        DecisionLeaf(
            keys[i],
            round_id,
            300 + i % 600,
            5_000 + (i * 37) % 295_000,
            i % 16,
            (i % 7, i % 11, i % 13, i % 17),
            3,
            2,
            rng.randbytes(32),
            bytes(32),
        )
        for i in range(n)
    ]
    hashes = leaf_hashes(leaves)
    tree = MerkleTree.build(hashes)
    tidx = tree.tree_indices
    feature = rng.randbytes(feature_size)
    rows = [
        DecisionRow.from_leaf(
            leaf,
            leaf_index=i,
            tree_index=tidx[i],
            merchant_id=f"M{i:09d}",
            leaf_hash=hashes[i],
            feature_salt=keys[i],
            feature_bytes=feature,
        )
        for i, leaf in enumerate(leaves)
    ]
    return rows, b"".join(tree.nodes), tree.root


def run(
    label: str, store: Store, rows: list[DecisionRow], nodes: bytes, root: bytes, tree_check: MerkleTree | None
) -> dict[str, object]:
    store.create_round(rows[0].round_id, "merchant", "weekly", 3, 2)
    t0 = time.perf_counter()
    store.save_built_round(rows[0].round_id, rows, nodes, root, bytes(32), "/tmp/batch.json")
    save = time.perf_counter() - t0
    t0 = time.perf_counter()
    noop = store.save_built_round(rows[0].round_id, rows, nodes, root, bytes(32), "/tmp/batch.json")
    rerun = time.perf_counter() - t0
    assert noop is False
    rng = random.Random(1)
    sample = rng.sample(range(len(rows)), min(1000, len(rows)))
    lat = []
    for i in sample:
        t0 = time.perf_counter()
        proof = store.proof(rows[i].round_id, rows[i].merchant_key)
        lat.append(time.perf_counter() - t0)
        if tree_check is not None:
            assert proof == tree_check.proof(i)
    t0 = time.perf_counter()
    count = sum(1 for _ in store.decisions_in_round(rows[0].round_id))
    stream = time.perf_counter() - t0
    assert count == len(rows)
    print(f"  {label}: save {save:.2f}s, re-run {rerun:.3f}s, proofs {sum(lat):.2f}s, stream {stream:.2f}s", flush=True)
    return {
        "backend": label,
        "save_s": save,
        "rows_per_s": len(rows) / save,
        "rerun_s": rerun,
        "proof_ms": statistics.mean(lat) * 1000,
        "stream_s": stream,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="decisions in the round")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--feature-bytes", type=int, default=160)
    args = parser.parse_args()

    t0 = time.perf_counter()
    rows, nodes, root = make_round(args.n, 1, args.feature_bytes)
    print(f"built {args.n:,} leaves + tree in {time.perf_counter() - t0:.1f}s (not timed below)")
    check = None
    if args.n <= 200_000:
        check = MerkleTree([nodes[i : i + 32] for i in range(0, len(nodes), 32)], [r.tree_index for r in rows])

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        with Store.open(f"sqlite:///{path}") as store:
            res = run("sqlite (executemany)", store, rows, nodes, root, check)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        res["db_mb"] = size / 1e6
        results.append(res)

    if not args.no_postgres:
        base = normalise_url(args.postgres_url)
        admin = sa.create_engine(base)
        for use_copy in (True, False):
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            try:
                url = base.update_query_dict({"options": f"-csearch_path={schema}"})
                with Store.open(url, use_copy=use_copy) as store:
                    label = "postgresql (COPY binary)" if use_copy else "postgresql (executemany)"
                    res = run(label, store, rows, nodes, root, check)
                with admin.begin() as conn:
                    res["db_mb"] = (
                        float(
                            conn.exec_driver_sql(
                                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                f"WHERE n.nspname = '{schema}' AND c.relkind = 'r'"
                            ).scalar()
                        )
                        / 1e6
                    )
                results.append(res)
            finally:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    print()
    print(f"save_built_round, N = {args.n:,} decisions (one transaction, incl. tree and checks)")
    header = (
        f"{'backend':<26} {'save s':>8} {'rows/s':>10} {'re-run s':>9} {'proof ms':>9} {'stream s':>9} {'size MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['backend']:<26} {r['save_s']:>8.2f} {r['rows_per_s']:>10,.0f} {r['rerun_s']:>9.3f}"
            f" {r['proof_ms']:>9.3f} {r['stream_s']:>9.2f} {r['db_mb']:>8.1f}"
        )


if __name__ == "__main__":
    main()
