"""API latency: fetch a proof and verify a bundle, 50 and 200 concurrent clients, against a populated ledger.

Sets up everything on loopback only: its own anvil node (free port), a temp
``CREDIT_LEDGER_HOME`` with a SQLite store, the contracts, one anchored round of
``--decisions`` generated decisions (``sources.records.GeneratedSource`` through
the real ``oracle.service.Oracle``), ten merchants bound to dev accounts 10..19.
Then it starts ``credit-ledger api serve`` in a subprocess and drives it with ``httpx.AsyncClient``:

* ``proof``  -- ``GET /merchant/decisions/{round}`` (store read + proof + bundle), signed in;
* ``verify`` -- ``POST /verify`` of a bundle (about ten JSON-RPC calls to the node).

Each (operation, concurrency) cell runs until ``--requests`` requests or
``--seconds`` seconds, whichever comes first, and prints one table row.

    .venv/bin/python bench/api_latency.py                 # 10,000 decisions
    .venv/bin/python bench/api_latency.py --decisions 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from eth_account.messages import encode_defunct

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"  # all traffic stays on loopback
BOUND_MERCHANTS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Cell:
    operation: str
    clients: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def row(self, workers: int) -> str:
        lat = sorted(self.latencies_ms) or [float("nan")]
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return (
            f"| {workers:>7} | {self.operation:<7}| {self.clients:>7} | {self.requests:>8} | {self.errors:>6} |"
            f" {p50:>8.1f} | {p99:>8.1f} | {self.rate:>9.1f} |"
        )


def populate(home: Path, rpc_url: str, decisions: int, log: Any) -> tuple[Any, int, list[tuple[str, bytes, str]]]:
    """Deploy, publish, anchor one round of ``decisions``, bind 10 merchants; returns (settings, round, bound)."""
    from credit_ledger.demo import publish_source
    from ledger.accounts import RoleAccounts
    from ledger.chain import Chain
    from ledger.config import Settings
    from ledger.deployment import AddressBook, deploy
    from ledger.documents import DocumentStore
    from oracle.service import Oracle
    from sources.records import GeneratedSource

    settings = Settings(
        home=home, rpc_url=rpc_url, chain_id=31337, node_port=0, keys_file=None,
        database_url=f"sqlite:///{home / 'ledger.db'}", policy_delay_seconds=60, embedded_node=False,
    )  # fmt: skip
    accounts = RoleAccounts.development()
    chain = Chain.connect(rpc_url)
    contracts, _ = deploy(chain, accounts, AddressBook(settings.address_book_path), settings.policy_delay_seconds)
    source = GeneratedSource(decisions)
    publish_source(contracts, accounts, source, DocumentStore(settings.documents_dir), lambda _m: None)
    oracle = Oracle(settings, log=lambda _m: None, accounts=accounts)
    started = time.perf_counter()
    result = oracle.run_round(source)
    log(f"anchored round {result.round_id}: {decisions:,} decisions in {time.perf_counter() - started:.1f}s")
    ids = [f"M{i:07d}" for i in range(0, decisions, max(1, decisions // BOUND_MERCHANTS))][:BOUND_MERCHANTS]
    bound = oracle.bind_demo_merchants(ids)
    oracle.close()
    return settings, result.round_id, bound


def start_server(settings: Any, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        CREDIT_LEDGER_HOME=str(settings.home),
        CREDIT_LEDGER_RPC_URL=settings.rpc_url,
        CREDIT_LEDGER_CHAIN_ID=str(settings.chain_id),
        CREDIT_LEDGER_DATABASE_URL=settings.database_url,
    )
    # Served as `credit-ledger api serve` serves it: its slow-client deadlines and connection limit.
    return subprocess.Popen(
        [sys.executable, "-m", "credit_ledger.cli", "api", "serve", "--host", HOST, "--port", str(port),
         "--log-level", "warning", "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def wait_ready(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"API at {base} did not start within {timeout:.0f}s")


def sign_in(base: str, account: Any, chain_id: int) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from siwe import SiweMessage

    nonce = httpx.get(f"{base}/auth/nonce").json()
    now = datetime.now(UTC)
    iso = lambda t: t.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: E731
    message = SiweMessage(
        domain=nonce["domain"], address=account.address, statement="bench", uri=nonce["uri"], version="1",
        chain_id=chain_id, nonce=nonce["nonce"], issued_at=iso(now), expiration_time=iso(now + timedelta(minutes=5)),
    ).prepare_message()  # fmt: skip
    signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
    response = httpx.post(f"{base}/auth/login", json={"message": message, "signature": signature})
    response.raise_for_status()
    return response.json()["token"]


async def run_cell(base: str, operation: str, clients: int, max_requests: int, max_seconds: float,
                   round_id: int, tokens: list[str], bundles: list[dict]) -> Cell:  # fmt: skip
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60.0) as client:

        async def worker(w: int) -> None:
            nonlocal errors, issued
            while issued < max_requests and time.perf_counter() < deadline:
                issued += 1
                started = time.perf_counter()
                try:
                    if operation == "proof":
                        headers = {"Authorization": f"Bearer {tokens[w % len(tokens)]}"}
                        response = await client.get(f"/merchant/decisions/{round_id}", headers=headers)
                    else:
                        response = await client.post("/verify", json=bundles[w % len(bundles)])
                    ok = response.status_code == 200 and (operation != "verify" or response.json()["ok"])
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(clients)))
        elapsed = time.perf_counter() - started
    return Cell(operation, clients, len(latencies), errors, elapsed, latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=10_000, help="decisions in the anchored round")
    parser.add_argument("--clients", type=int, nargs="+", default=[50, 200], help="concurrency levels")
    parser.add_argument("--requests", type=int, default=2000, help="max requests per cell")
    parser.add_argument("--seconds", type=float, default=20.0, help="max seconds per cell")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="API processes (one server per value)")
    args = parser.parse_args()

    from ledger.accounts import FIRST_DEV_MERCHANT_INDEX, dev_account
    from ledger.node import LocalNode

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="credit-ledger-bench-") as tmp:
        home = Path(tmp) / "home"
        node = LocalNode(Path(tmp) / "node", port=free_port())
        node.start()
        server = None
        try:
            settings, round_id, bound = populate(home, node.url, args.decisions, log)
            print(f"\nAPI latency: {args.decisions:,} decisions in the round, `api serve` (processes as given), "
                  f"SQLite, anvil; <= {args.requests} requests or {args.seconds:.0f}s per row\n")  # fmt: skip
            print("| workers | op     | clients | requests | errors | p50 (ms) | p99 (ms) | req/s     |")
            print("|---------|--------|---------|----------|--------|----------|----------|-----------|")
            rates: dict[tuple[int, str, int], float] = {}
            for workers in args.workers:
                port = free_port()
                base = f"http://{HOST}:{port}"
                server = start_server(settings, port, workers)
                wait_ready(base)
                tokens = [sign_in(base, dev_account(FIRST_DEV_MERCHANT_INDEX + i), 31337) for i in range(len(bound))]
                bundles = [
                    httpx.get(f"{base}/merchant/decisions/{round_id}", headers={"Authorization": f"Bearer {t}"}).json()[
                        "bundle"
                    ]
                    for t in tokens
                ]
                for operation in ("proof", "verify"):
                    for clients in args.clients:
                        cell = asyncio.run(
                            run_cell(base, operation, clients, args.requests, args.seconds, round_id, tokens, bundles)
                        )
                        rates[(workers, operation, clients)] = cell.rate
                        print(cell.row(workers), flush=True)
                server.terminate()
                server.wait(timeout=30)
                server = None
            first = args.workers[0]
            for workers in args.workers[1:]:
                ratios = ", ".join(
                    f"{op}@{c} {rates[(workers, op, c)] / rates[(first, op, c)]:.2f}x"
                    for op in ("proof", "verify") for c in args.clients if rates.get((first, op, c))
                )  # fmt: skip
                print(f"\nreq/s with {workers} workers / with {first}: {ratios}")
        finally:
            if server is not None:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
            node.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
