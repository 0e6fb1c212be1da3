"""Benchmark: the decision Merkle tree against its peers, as one table.

    python bench/merkle_tree.py [--leaves N] [--no-murky] [--js] [--repeat R]

Rows, all over the same N random DecisionLeafs:

* ours, leaf hashes   -- ledger.leaf.leaf_hashes: encode + keccak(keccak(.))
* ours, tree build    -- ledger.merkle.MerkleTree.build on those hashes
* ours, leaves->root  -- the two above: the reference every ratio divides by
* ours, all proofs    -- MerkleTree.all_proofs (sibling lookups, no hashing)
* murky-tree          -- PyPI port of OZ: StandardMerkleTree.of(values, encoding)
* keccak lower bound  -- (3N - 1) x one measured 64-byte tiny-keccak call: the
                         hashing any leaves->root build must do (2N leaf
                         hashes, N - 1 nodes), with zero overhead; a second
                         row counts the leaf hashes at their real input sizes
* @openzeppelin/merkle-tree (--js) -- StandardMerkleTree.of in Node, timed
                         inside Node (JSON transfer excluded)

Every implementation's root is checked against ours before the table prints.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ledger.keccak import keccak256
from ledger.leaf import LEAF_ENCODING, LEAF_FIELDS, ZERO_HASH, DecisionLeaf, leaf_hashes
from ledger.merkle import MerkleTree

REPO_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

_JS_BUILD = r"""
const { StandardMerkleTree } = require("@openzeppelin/merkle-tree");
const chunks = [];
process.stdin.on("data", c => chunks.push(c));
process.stdin.on("end", () => {
  const { values, encoding } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const t0 = performance.now();
  const tree = StandardMerkleTree.of(values, encoding);
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ seconds, root: tree.root }));
  process.exitCode = 0;
});
"""


def make_leaves(n: int, seed: int = 1) -> list[DecisionLeaf]:
    rnd = random.Random(seed)
    return [
        DecisionLeaf(
            merchant_key=rnd.randbytes(32),
            round=rnd.randint(1, 500),
            score=rnd.randint(300, 900),
            limit_cny=rnd.randint(5_000, 300_000),
            product_mask=rnd.getrandbits(12),
            reason_codes=(rnd.randint(1, 60), rnd.randint(1, 60), rnd.randint(0, 60), 0),
            model_version=3,
            policy_version=7,
            feature_commitment=rnd.randbytes(32),
            prev_leaf_hash=ZERO_HASH if rnd.random() < 0.1 else rnd.randbytes(32),
        )
        for _ in range(n)
    ]


def timed(fn: Callable[[], T], repeat: int) -> tuple[float, float, T]:
    """Best wall time and best process CPU time of ``repeat`` runs, and the last result.

    CPU time is printed too because shared machines (other builds on the same
    cores) inflate wall time; on an idle machine the two agree.
    """
    best_wall = best_cpu = float("inf")
    result: Any = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_wall, best_cpu, result


def keccak64_cost(samples: int = 200_000, size: int = 64) -> tuple[float, float]:
    """Wall and CPU seconds per keccak256 of a ``size``-byte input (best of 5, loop included)."""
    k = keccak256
    data = bytes(i % 256 for i in range(size))

    def loop() -> None:
        for _ in range(samples):
            k(data)

    wall, cpu, _ = timed(loop, 5)
    return wall / samples, cpu / samples


def run_murky(leaves: list[DecisionLeaf], repeat: int) -> tuple[float, float, bytes]:
    from murky_tree import StandardMerkleTree

    values = [[getattr(lf, f) if f != "reason_codes" else list(lf.reason_codes) for f in LEAF_FIELDS] for lf in leaves]
    wall, cpu, tree = timed(lambda: StandardMerkleTree.of(values, list(LEAF_ENCODING)), repeat)
    root = tree.root
    return wall, cpu, root if isinstance(root, bytes) else bytes.fromhex(str(root)[2:])


def run_js(leaves: list[DecisionLeaf]) -> tuple[float, bytes]:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("--js needs node on PATH")
    payload = json.dumps({"values": [lf.to_values() for lf in leaves], "encoding": list(LEAF_ENCODING)})
    proc = subprocess.run(
        [node, "--max-old-space-size=8192", "-e", _JS_BUILD],
        input=payload,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"node failed:\n{proc.stderr}")
    out = json.loads(proc.stdout)
    return float(out["seconds"]), bytes.fromhex(out["root"][2:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=100_000, help="number of leaves (100000)")
    parser.add_argument("--repeat", type=int, default=1, help="best of R runs (1)")
    parser.add_argument("--no-murky", action="store_true", help="skip murky-tree (~40 s at 1M)")
    parser.add_argument("--js", action="store_true", help="add npm @openzeppelin/merkle-tree (slow)")
    args = parser.parse_args(argv)
    n = args.leaves
    if n < 1:
        parser.error("--leaves must be at least 1")

    leaves = make_leaves(n)
    # ledger.merkle imports numpy lazily on the first large build; keep that
    # one-time import (~0.15 s) out of the per-tree numbers.
    MerkleTree.build(leaf_hashes(make_leaves(5000, seed=2)))
    w_leaf, c_leaf, hashes = timed(lambda: leaf_hashes(leaves), args.repeat)
    w_tree, c_tree, tree = timed(lambda: MerkleTree.build(hashes), args.repeat)
    w_proofs, c_proofs, proofs = timed(tree.all_proofs, args.repeat)
    del proofs
    ours = w_leaf + w_tree
    rows: list[tuple[str, float, float | None]] = [
        ("ours: leaf hashes (encode + 2x keccak)", w_leaf, c_leaf),
        ("ours: tree build from leaf hashes", w_tree, c_tree),
        ("ours: leaves -> root (reference)", ours, c_leaf + c_tree),
        ("ours: all proofs", w_proofs, c_proofs),
        ("ours: leaves -> root + all proofs", ours + w_proofs, c_leaf + c_tree + c_proofs),
    ]
    if not args.no_murky:
        w_murky, c_murky, murky_root = run_murky(leaves, args.repeat)
        if murky_root != tree.root:
            raise SystemExit("murky-tree root differs from ours")
        rows.append(("murky-tree 1.2.0 StandardMerkleTree.of", w_murky, c_murky))
    if args.js:
        w_js, js_root = run_js(leaves)
        if js_root != tree.root:
            raise SystemExit("@openzeppelin/merkle-tree root differs from ours")
        rows.append(("@openzeppelin/merkle-tree 1.0.8 .of (node)", w_js, None))
    w64, c64 = keccak64_cost()
    bound = 3 * n - 1
    rows.append((f"keccak lower bound (3N-1) x {c64 * 1e9:.0f} ns", bound * w64, bound * c64))
    # The 64-byte bound undercounts the leaf hash: its first keccak absorbs the
    # 416-byte encoding (four sponge blocks, not one). Same bound, real sizes:
    w416, c416 = keccak64_cost(size=416)
    w32, c32 = keccak64_cost(size=32)
    rows.append(
        (
            "keccak bound, real sizes (N x 416B + N x 32B + (N-1) x 64B)",
            n * (w416 + w32) + (n - 1) * w64,
            n * (c416 + c32) + (n - 1) * c64,
        )
    )

    width = max(len(name) for name, _, _ in rows)
    print(f"Merkle tree, N = {n:,} decision leaves (ratio = wall seconds / ours leaves -> root)")
    print(f"{'':{width}}  {'wall s':>9}  {'cpu s':>9}  {'ratio':>7}")
    for name, wall, cpu in rows:
        cpu_text = f"{cpu:9.3f}" if cpu is not None else f"{'-':>9}"
        print(f"{name:<{width}}  {wall:9.3f}  {cpu_text}  {wall / ours:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
