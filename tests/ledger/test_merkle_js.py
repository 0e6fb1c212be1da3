"""Cross-check against the reference: npm @openzeppelin/merkle-tree StandardMerkleTree.

One Node process (tests/js/oz_tree.mjs) builds the JS tree for every case;
root, every proof and the dump must equal ours byte for byte, JS must accept
our dump (StandardMerkleTree.load validates it), and we must load JS's dump.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ledger.leaf import LEAF_ENCODING, ZERO_HASH, DecisionLeaf, leaf_hashes
from ledger.merkle import MerkleTree, dump, load

REPO_ROOT = Path(__file__).resolve().parents[2]
HELPER = REPO_ROOT / "tests" / "js" / "oz_tree.mjs"
OZ_PACKAGE = REPO_ROOT / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: JS cross-check needs Node 20")


def random_leaves(n: int, rnd: random.Random) -> list[DecisionLeaf]:
    def u(bits: int) -> int:
        # mix small values and full-width ones (uint64 beyond 2**53 matters for JS)
        return rnd.choice([0, (1 << bits) - 1, rnd.getrandbits(bits), rnd.randint(0, 1000)])

    return [
        DecisionLeaf(
            merchant_key=rnd.randbytes(32),
            round=u(64),
            score=u(16),
            limit_cny=u(32),
            product_mask=u(32),
            reason_codes=(u(16), u(16), u(16), u(16)),
            model_version=u(32),
            policy_version=u(32),
            feature_commitment=rnd.randbytes(32),
            prev_leaf_hash=ZERO_HASH if rnd.random() < 0.3 else rnd.randbytes(32),
        )
        for _ in range(n)
    ]


def build_cases() -> list[list[DecisionLeaf]]:
    rnd = random.Random(20240607)
    cases = [random_leaves(n, rnd) for n in (1, 2, 3, 4, 5, 257)]
    with_duplicates = random_leaves(6, rnd)
    with_duplicates += [with_duplicates[1], with_duplicates[4], with_duplicates[1]]
    cases.append(with_duplicates)
    return cases


def run_node(payload: dict[str, Any]) -> list[dict[str, Any]]:
    assert OZ_PACKAGE.exists(), f"{OZ_PACKAGE} missing: run `npm ci` in {REPO_ROOT}"
    assert NODE is not None, "node (Node.js) is not on PATH"
    proc = subprocess.run(
        [NODE, str(HELPER), str(REPO_ROOT)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"node failed ({proc.returncode}):\n{proc.stderr}"
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def cross_check() -> list[tuple[list[DecisionLeaf], MerkleTree, dict[str, Any], dict[str, Any]]]:
    cases = build_cases()
    trees = [MerkleTree.build(leaf_hashes(leaves)) for leaves in cases]
    dumps = [dump(tree, leaves) for tree, leaves in zip(trees, cases)]
    payload = {
        "encoding": list(LEAF_ENCODING),
        "cases": [{"values": [lf.to_values() for lf in leaves], "dump": d} for leaves, d in zip(cases, dumps)],
    }
    results = run_node(payload)
    assert len(results) == len(cases)
    return list(zip(cases, trees, dumps, results))


def hexes(items: Any) -> list[str]:
    return ["0x" + h.hex() for h in items]


def test_roots_match(cross_check: Any) -> None:
    for leaves, tree, _, js in cross_check:
        assert "0x" + tree.root.hex() == js["root"], f"root differs for n={len(leaves)}"


def test_every_proof_matches(cross_check: Any) -> None:
    for leaves, tree, _, js in cross_check:
        all_proofs = tree.all_proofs()
        assert len(js["proofs"]) == len(leaves)
        for i, js_proof in enumerate(js["proofs"]):
            assert hexes(tree.proof(i)) == js_proof, f"proof {i} differs for n={len(leaves)}"
            assert hexes(all_proofs[i]) == js_proof


def test_dump_matches_byte_for_byte(cross_check: Any) -> None:
    for leaves, _, ours, js in cross_check:
        assert ours == json.loads(js["dumpText"]), f"dump differs for n={len(leaves)}"
        # same key order and value forms, so even the compact text is identical
        assert json.dumps(ours, separators=(",", ":")) == js["dumpText"]


def test_js_accepts_our_dump(cross_check: Any) -> None:
    for leaves, _, _, js in cross_check:
        assert "loadError" not in js, f"JS rejected our dump for n={len(leaves)}: {js['loadError']}"
        assert js["loadOk"] is True


def test_we_load_the_js_dump(cross_check: Any) -> None:
    for leaves, tree, _, js in cross_check:
        loaded_tree, loaded_leaves = load(json.loads(js["dumpText"]))
        assert loaded_leaves == leaves
        assert loaded_tree.nodes == tree.nodes
