"""Benchmark: gas per credit decision anchored, against EAS attestations and plain events.

    .venv/bin/python bench/gas_per_decision.py                      # sizes 1, 100, 10k, 1M
    .venv/bin/python bench/gas_per_decision.py --sizes 1,100,10000  # skip the 1M tree
    .venv/bin/python bench/gas_per_decision.py --no-eas-recompile   # EAS from its npm artifacts only

Everything runs in ONE process against ONE fresh anvil node (``ledger.node.LocalNode``
in a temp dir on a free port): our contracts deployed with ``ledger.deployment.deploy``,
a model and a policy published and activated (``credit_ledger.demo.publish_source``
with ``sources.records.GeneratedSource``), then:

1. ``CreditLedger.anchorBatch`` for batch sizes 1, 100, 10,000 and 1,000,000. Each
   size gets a real tree: real ``DecisionLeaf``s up to ``--real-max`` (10,000); above
   it one real leaf plus N-1 random leaf hashes (the root of a real N-leaf tree, built
   from leaf hashes only). Every size is anchored by a real, mined transaction from
   the SAME chain state (anvil ``evm_snapshot``/``evm_revert`` around each), after one
   warm-up round, so sizes differ only by what differs between them. Gas per decision
   = receipt ``gasUsed`` / N. Beside it, ``verifyDecision`` (``eth_estimateGas``) for
   a real leaf of that tree at the tree's deepest proof depth.
2. The same decisions recorded as Ethereum Attestation Service attestations, schema
   ``bytes32 merchantKey,uint64 round,uint16 score,uint32 limitCny,uint32 productMask,
   uint16[4] reasonCodes,uint32 modelVersion,uint32 policyVersion,bytes32
   featureCommitment,bytes32 prevLeafHash`` (data = the leaf's ABI encoding, 416
   bytes): one ``attest`` per decision, and ``multiAttest`` of 100 in one tx. EAS
   1.9.0's sources say ``pragma solidity 0.8.29`` exactly; the project's compiler is
   solc-js 0.8.28. Two builds, both without downloading anything:
   * ``npm artifact``: the bytecode EAS ships in the npm package
     (``artifacts/contracts/*.json``, their own hardhat build with solc 0.8.29);
   * ``recompiled``: the npm sources with the pragma relaxed to ``^0.8.28``,
     compiled by ``tools/solc`` with the project's settings (optimizer 200 runs)
     against the installed OpenZeppelin (EAS 1.9.0 pins 5.3.0), so its gas compares
     with ours compiler-for-compiler -- except the EVM target: cancun, not our
     shanghai, because OpenZeppelin 5.4's ``utils/Bytes.sol`` uses ``mcopy``.
3. One event per decision (``bench/contracts/DecisionEvents.sol``, compiled with
   ``ledger.compiler.compile_contracts``): ``record`` (1 decision, 1 tx) and
   ``recordBatch`` (100 decisions, 1 tx).

Gas is the receipt's ``gasUsed`` of mined transactions (21,000 intrinsic and calldata
included), on anvil's default hardfork (printed).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.merkle_tree import make_leaves  # noqa: E402
from bench.round_bench import ledger_stack  # noqa: E402
from ledger import compiler  # noqa: E402
from ledger.chain import Chain  # noqa: E402
from ledger.leaf import DecisionLeaf, encode, leaf_hashes  # noqa: E402
from ledger.merkle import MerkleTree  # noqa: E402
from ledger.roles import Role  # noqa: E402
from sources.records import GeneratedSource  # noqa: E402

EAS_DIR = REPO_ROOT / "node_modules" / "@ethereum-attestation-service" / "eas-contracts"
EAS_SCHEMA = (
    "bytes32 merchantKey,uint64 round,uint16 score,uint32 limitCny,uint32 productMask,uint16[4] reasonCodes,"
    "uint32 modelVersion,uint32 policyVersion,bytes32 featureCommitment,bytes32 prevLeafHash"
)
ZERO32 = bytes(32)
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
EAS_RECOMPILE_EVM = "cancun"
MULTI = 100  # decisions per multiAttest / recordBatch transaction
TX_GAS_CAP = 2**24  # EIP-7825 (Osaka): per-transaction gas limit on chains that enforce it


def fmt_ratio(r: float) -> str:
    return f"{r:,.0f}" if r >= 100 else f"{r:.1f}" if r >= 1 else f"{r:.2g}"


# ---------------------------------------------------------------- compiling


def solc_version_of(bytecode: str) -> str:
    """The solc version in a contract's CBOR metadata tail ('?' if absent)."""
    raw = bytes.fromhex(bytecode.removeprefix("0x"))
    meta_len = int.from_bytes(raw[-2:], "big")
    meta = raw[-2 - meta_len : -2]
    at = meta.find(b"\x64solc\x43")
    return ".".join(str(b) for b in meta[at + 6 : at + 9]) if at >= 0 else "?"


def eas_npm_artifacts() -> dict[str, dict[str, Any]]:
    out = {}
    for name, path in (("SchemaRegistry", "SchemaRegistry.sol/SchemaRegistry.json"), ("EAS", "EAS.sol/EAS.json")):
        data = json.loads((EAS_DIR / "artifacts" / "contracts" / path).read_text())
        if data.get("linkReferences"):
            raise SystemExit(f"{path} needs linking; not supported")
        out[name] = {"abi": data["abi"], "bytecode": data["bytecode"]}
    return out


def eas_recompiled(log: Any) -> dict[str, dict[str, Any]]:
    """EAS sources, pragma ``0.8.29`` relaxed to ``^0.8.28``, through the project's compiler.

    The sources are handed to solc in memory (nothing is written to the tree); OZ
    imports resolve through the project's remapping. Output is cached in the
    project's compile cache directory by a hash of the input.
    """
    root = EAS_DIR / "contracts"
    sources = {}
    for path in sorted(root.rglob("*.sol")):
        rel = path.relative_to(root)
        if rel.parts[0] in ("tests",) or "examples" in rel.parts or "proxy" in rel.parts or rel.name == "Indexer.sol":
            continue
        text = re.sub(r"pragma solidity 0\.8\.29;", "pragma solidity ^0.8.28;", path.read_text())
        sources[str(path.relative_to(REPO_ROOT))] = {"content": text}
    std = compiler.standard_input()
    std["sources"] = sources
    # OpenZeppelin 5.4's utils/Bytes.sol (reached through EIP712) uses mcopy, so
    # shanghai cannot compile it: cancun, the oldest target that can.
    std["settings"]["evmVersion"] = EAS_RECOMPILE_EVM
    key = hashlib.sha256(
        json.dumps(
            {
                "input": std,
                "solc": compiler._package_version("solc"),
                "oz": compiler._package_version("@openzeppelin/contracts"),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    cache = compiler.CACHE_DIR / f"eas-relaxed-{key}.json"
    if cache.is_file():
        output = json.loads(cache.read_text())
    else:
        log("compiling EAS 1.9.0 with solc-js 0.8.28 (pragma relaxed; cached afterwards) ...")
        t0 = time.perf_counter()
        output = compiler._run_compiler(std)
        log(f"  compiled in {time.perf_counter() - t0:.1f}s")
        compiler.CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(output))
        tmp.replace(cache)
    out = {}
    for src, by_name in output["contracts"].items():
        for name in ("SchemaRegistry", "EAS"):
            if name in by_name and src.endswith(f"/{name}.sol"):
                out[name] = {"abi": by_name[name]["abi"], "bytecode": "0x" + by_name[name]["evm"]["bytecode"]["object"]}
    return out


# ---------------------------------------------------------------- chain helpers


def deploy_raw(chain: Chain, artifact: dict[str, Any], sender: Any, *args: Any) -> tuple[Any, int]:
    factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = chain.send(factory.constructor(*args), sender)
    return chain.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"]), int(receipt["gasUsed"])


def rpc(chain: Chain, method: str, params: list[Any] | None = None) -> Any:
    reply = chain.w3.provider.make_request(method, params or [])
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def leaves_for(n: int, round_id: int, mv: int, pv: int, seed: int) -> list[DecisionLeaf]:
    return [
        dataclasses.replace(lf, round=round_id, model_version=mv, policy_version=pv) for lf in make_leaves(n, seed=seed)
    ]


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,10000,1000000", help="batch sizes (1,100,10000,1000000)")
    parser.add_argument(
        "--real-max", type=int, default=10_000, help="largest size built from real DecisionLeafs (10000)"
    )
    parser.add_argument(
        "--no-eas-recompile", action="store_true", help="skip the EAS build with the project's compiler"
    )
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    log = lambda m: print(m, flush=True)  # noqa: E731

    events_art = compiler.compile_contracts(contracts_dir=REPO_ROOT / "bench" / "contracts")["DecisionEvents"]
    eas_builds = {"npm artifact, solc 0.8.29": eas_npm_artifacts()}
    if not args.no_eas_recompile:
        eas_builds[f"recompiled, solc 0.8.28 {EAS_RECOMPILE_EVM}"] = eas_recompiled(log)
    for label, build in eas_builds.items():
        log(f"EAS build '{label}': bytecode metadata says solc {solc_version_of(build['EAS']['bytecode'])}")

    source = GeneratedSource(merchants=1)
    with ledger_stack(source, log=lambda _m: None) as stack:
        chain, contracts, accounts = stack.chain, stack.contracts, stack.accounts
        oracle = accounts[Role.ORACLE]
        mv, pv = stack.model_version, stack.policy_version
        try:
            info = rpc(chain, "anvil_nodeInfo")
            hardfork = str(info.get("hardFork", "?"))
        except RuntimeError:
            hardfork = "?"
        ledger_fn = contracts.ledger.functions
        content = hashlib.sha256(b"bench batch file").digest()

        def anchor(round_id: int, root: bytes, count: int) -> int:
            receipt = chain.send(ledger_fn.anchorBatch(round_id, root, count, mv, pv, content), oracle)
            return int(receipt["gasUsed"])

        # warm-up: the very first anchor on a fresh ledger pays for fresh storage (_rounds length slot)
        first_gas = anchor(1, hashlib.sha256(b"warm-up").digest(), 1)
        log(f"warm-up anchor (round 1, first ever on this ledger): gas {first_gas:,}")

        # -- 1. ours, every size from the same state
        ours: list[dict[str, Any]] = []
        for k, n in enumerate(sizes):
            round_id = 100 + k
            t0 = time.perf_counter()
            if n <= args.real_max:
                leaves = leaves_for(n, round_id, mv, pv, seed=n)
                hashes = leaf_hashes(leaves)
                tree = MerkleTree.build(hashes)
                # the deepest leaf: tree position 2n-2 is on the last level
                i = tree.tree_indices.index(2 * n - 2)
                leaf, how = leaves[i], f"{n:,} real leaves" if n > 1 else "1 real leaf"
            else:
                leaf = leaves_for(1, round_id, mv, pv, seed=n)[0]
                rnd = os.urandom(32 * (n - 1))
                hashes = [leaf.leaf_hash()] + [rnd[j : j + 32] for j in range(0, len(rnd), 32)]
                tree = MerkleTree.build(hashes)
                i, how = 0, f"1 real leaf + {n - 1:,} random leaf hashes"
            proof = tree.proof(i)
            build_s = time.perf_counter() - t0
            snap = rpc(chain, "evm_snapshot")
            gas = anchor(round_id, tree.root, n)
            call = ledger_fn.verifyDecision(leaf.to_abi_tuple(), proof)
            assert call.call() is True, "verifyDecision rejected a real proof"
            verify_gas = int(call.estimate_gas({"from": oracle.address}))
            rpc(chain, "evm_revert", [snap])
            ours.append({"n": n, "gas": gas, "depth": len(proof), "verify": verify_gas, "how": how, "build_s": build_s})
            log(
                f"N={n:>9,}: tree in {build_s:.1f}s, anchorBatch gas {gas:,}, verifyDecision {verify_gas:,} (depth {len(proof)})"
            )
            del tree, hashes

        # consecutive anchors: uint64[] _rounds packs 4 rounds per slot, so every 4th push opens a slot
        consecutive = [anchor(200 + j, hashlib.sha256(b"c%d" % j).digest(), 100) for j in range(8)]

        # -- the decisions the alternatives record: 100 real leaves
        sample = leaves_for(MULTI, 300, mv, pv, seed=12345)

        # -- 2. EAS
        alt: list[tuple[str, int, int]] = []  # name, tx gas, decisions in tx
        eas_notes: list[str] = []
        for label, build in eas_builds.items():
            registry, reg_deploy = deploy_raw(chain, build["SchemaRegistry"], accounts.admin)
            eas, eas_deploy = deploy_raw(chain, build["EAS"], accounts.admin, registry.address)
            reg_call = registry.functions.register(EAS_SCHEMA, ZERO_ADDRESS, True)
            uid = bytes(reg_call.call({"from": oracle.address}))
            reg_gas = int(chain.send(reg_call, oracle)["gasUsed"])
            eas_notes.append(
                f"EAS ({label}): SchemaRegistry deploy {reg_deploy:,}, EAS deploy {eas_deploy:,}, schema register {reg_gas:,} gas (one-time)"
            )

            def request(lf: DecisionLeaf) -> tuple[Any, ...]:
                return (ZERO_ADDRESS, 0, True, ZERO32, encode(lf), 0)

            singles = [
                int(chain.send(eas.functions.attest((uid, request(lf))), oracle)["gasUsed"]) for lf in sample[:3]
            ]
            alt.append((f"EAS attest, 1 per tx ({label})", round(sum(singles) / len(singles)), 1))
            multi = int(
                chain.send(eas.functions.multiAttest([(uid, [request(lf) for lf in sample])]), oracle)["gasUsed"]
            )
            alt.append((f"EAS multiAttest, {MULTI} per tx ({label})", multi, MULTI))
            if len(set(singles)) > 1:
                eas_notes.append(f"  single attests varied: {singles}")

        # -- 3. one event per decision
        events, ev_deploy = deploy_raw(
            chain, {"abi": events_art.abi, "bytecode": events_art.bytecode}, accounts.admin, oracle.address
        )
        ev_single = [
            int(chain.send(events.functions.record(lf.to_abi_tuple()), oracle)["gasUsed"]) for lf in sample[:3]
        ]
        alt.append(("DecisionEvents.record, 1 event per tx", round(sum(ev_single) / len(ev_single)), 1))
        ev_batch = int(
            chain.send(events.functions.recordBatch([lf.to_abi_tuple() for lf in sample]), oracle)["gasUsed"]
        )
        alt.append((f"DecisionEvents.recordBatch, {MULTI} events per tx", ev_batch, MULTI))

    # ---------------------------------------------------------------- tables
    print()
    print(
        f"CreditLedger.anchorBatch: gas per decision anchored (anvil, hardfork {hardfork}; each size mined from the same chain state)"
    )
    hdr = f"{'batch size':>10} {'anchorBatch gas':>16} {'gas/decision':>13} {'proof depth':>12} {'verifyDecision':>15} {'verify excl.21k':>16}  tree"
    print(hdr)
    print("-" * (len(hdr) + 30))
    for r in ours:
        print(
            f"{r['n']:>10,} {r['gas']:>16,} {r['gas'] / r['n']:>13,.3f} {r['depth']:>12} {r['verify']:>15,} {r['verify'] - 21000:>16,}  {r['how']}"
        )
    print("  anchorBatch gas does not depend on N (only decisionCount's calldata bytes do: a few gas);")
    print("  verifyDecision = eth_estimateGas of a call by an EOA, a real leaf at the deepest proof depth;")
    print(
        f"  first anchor ever on a fresh ledger: {first_gas:,} gas; 8 consecutive anchors: {', '.join(f'{g:,}' for g in consecutive)}"
    )
    print("  (uint64[] _rounds packs 4 rounds per storage slot: every 4th anchor opens a new slot)")

    print()
    cols = [r["n"] for r in ours]
    print(
        "Recording each decision instead: gas per decision, and ratio to ours (alternative / anchorBatch-per-decision) at each batch size"
    )
    head = f"{'alternative':<58} {'tx gas':>11} {'gas/decision':>13} " + " ".join(
        f"{'x ours@' + format(n, ','):>15}" for n in cols
    )
    print(head)
    print("-" * len(head))
    for name, gas, per_tx in alt:
        per = gas / per_tx
        ratios = " ".join(f"{fmt_ratio(per / (r['gas'] / r['n'])):>15}" for r in ours)
        flag = " *" if gas > TX_GAS_CAP else ""
        print(f"{name:<58} {gas:>11,} {per:>13,.0f} {ratios}{flag}")
    for r in ours:
        ratios = " ".join(f"{fmt_ratio((r['gas'] / r['n']) / (o['gas'] / o['n'])):>15}" for o in ours)
        print(
            f"{'ours: anchorBatch of ' + format(r['n'], ',') + ' decisions':<58} {r['gas']:>11,} {r['gas'] / r['n']:>13,.3f} {ratios}"
        )
    print()
    for note in eas_notes:
        print(note)
    print(
        f"DecisionEvents deploy {ev_deploy:,} gas; events carry all leaf fields, merchantKey and round indexed; single-tx rows are the mean of 3 txs"
    )
    if any(gas > TX_GAS_CAP for _, gas, _ in alt):
        print(
            f"* above the EIP-7825 per-transaction cap of {TX_GAS_CAP:,} gas (Osaka): anvil mined it, a chain enforcing the cap"
        )
        print("  would not; the per-decision figure is unchanged when split into smaller transactions")
    print(
        f"EAS data = abi.encode(leaf) (416 bytes), recipient 0, no expiry, revocable, no resolver; {MULTI}-per-tx rows fit anvil's 100M block gas limit"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
