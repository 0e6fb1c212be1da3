"""Compile the Solidity contracts through py-solc-x and the project's solc-js shim.

The native ``solc`` cannot be downloaded here, so ``tools/solc`` (a small Node
program over the npm ``solc`` package) plays its part; py-solc-x drives it with
``--standard-json``. Compiled output is cached by a hash of every input (our
sources, the compiler version, the OpenZeppelin version, the settings), so a second
run costs a file read.

EVM target: ``shanghai``. It is the newest fork that every node we support runs:
anvil runs anything newer too, ganache 7.9 stops at shanghai, and most consortium
chains (Besu/Quorum/FISCO configurations) enable at least shanghai but not cancun's
transient storage or MCOPY.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_typing import ABI

from foundation.errors import CreditLedgerError
from ledger.config import PROJECT_ROOT, Settings

EVM_VERSION = "shanghai"
OPTIMIZER_RUNS = 200
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
SHIM_PATH = PROJECT_ROOT / "tools" / "solc"
CACHE_DIR = PROJECT_ROOT / "build" / "credit-ledger"


class CompileError(CreditLedgerError, RuntimeError):
    """The compiler is missing or reported errors."""

    code = "compile_failed"
    hint = "run `npm ci` in the project root (it installs the contract libraries), then fix what solc reports"


@dataclass(frozen=True)
class CompiledContract:
    name: str
    source: str
    abi: ABI  # as solc wrote it (JSON): eth-typing's TypedDicts describe its items
    bytecode: str
    deployed_bytecode: str


def _library_prefix() -> str:
    """Where imported libraries come from: ``node_modules`` relative to the base path when it is there.

    Relative, the default keeps the source names (and so the bytecode metadata) it
    always had; a ``CREDIT_LEDGER_NODE_MODULES`` elsewhere is named absolutely.
    """
    node_modules = Settings.from_env().node_modules
    try:
        return node_modules.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return node_modules.as_posix()


def _package_version(package: str) -> str:
    manifest = Settings.from_env().node_modules / package / "package.json"
    if not manifest.is_file():
        raise CompileError(
            f"{manifest} is missing: run `npm ci` in {PROJECT_ROOT} (the Makefile targets do this for you)"
        )
    return str(json.loads(manifest.read_text())["version"])


def _sources(contracts_dir: Path) -> dict[str, dict[str, str]]:
    files = sorted(contracts_dir.rglob("*.sol"))
    if not files:
        raise CompileError(f"no .sol files under {contracts_dir}")
    return {str(path.relative_to(PROJECT_ROOT)): {"content": path.read_text()} for path in files}


def standard_input(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """The solc standard-JSON input for every contract under ``contracts_dir``."""
    return {
        "language": "Solidity",
        "sources": _sources(contracts_dir),
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "remappings": [f"@openzeppelin/={_library_prefix()}/@openzeppelin/"],
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def source_hash(contracts_dir: Path = CONTRACTS_DIR) -> str:
    """Hex sha256 over everything that decides the bytecode."""
    payload = {
        "input": standard_input(contracts_dir),
        "solc": _package_version("solc"),
        "openzeppelin": _package_version("@openzeppelin/contracts"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _run_compiler(std_input: dict[str, Any]) -> dict[str, Any]:
    import solcx  # imported here: only a cache miss needs it

    if not SHIM_PATH.is_file():
        raise CompileError(f"compiler shim {SHIM_PATH} is missing")
    _package_version("solc")
    try:
        output = solcx.compile_standard(
            std_input,
            solc_binary=SHIM_PATH,
            base_path=str(PROJECT_ROOT),
            allow_paths=[str(PROJECT_ROOT), str(Settings.from_env().node_modules)],
        )
    except solcx.exceptions.SolcError as exc:
        raise CompileError(str(exc)) from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    return output


def compile_contracts(contracts_dir: Path = CONTRACTS_DIR, use_cache: bool = True) -> dict[str, CompiledContract]:
    """Compile (or load from the cache) every contract; keys are contract names."""
    digest = source_hash(contracts_dir)
    cache_file = CACHE_DIR / f"{digest}.json"
    if use_cache and cache_file.is_file():
        output = json.loads(cache_file.read_text())
    else:
        output = _run_compiler(standard_input(contracts_dir))
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(output))
        tmp.replace(cache_file)
    libraries = _library_prefix()
    contracts: dict[str, CompiledContract] = {}
    for source, by_name in output["contracts"].items():
        for name, data in by_name.items():
            bytecode = data["evm"]["bytecode"]["object"]
            if name in contracts and source.startswith(libraries):
                continue  # our own contract wins a name clash with a library one
            contracts[name] = CompiledContract(
                name=name,
                source=source,
                abi=data["abi"],
                bytecode="0x" + bytecode,
                deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
            )
    return contracts


@lru_cache(maxsize=4)
def compiled(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, CompiledContract]:
    """Process-wide memo of :func:`compile_contracts`."""
    return compile_contracts(contracts_dir)
