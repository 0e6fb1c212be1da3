"""Dispute relays that cannot be mined, against a real server: how long do other requests take meanwhile?

The issue's probe: concurrent ``POST /merchant/disputes`` of transactions the node accepts
but never mines (a future nonce, chain id 1, 21,000 gas) each held a server thread for
60 s, and ``GET /health`` timed out. This bench sets up, on loopback only, its own anvil
node, a ledger (two anchored rounds, five merchants bound to development accounts) and
the API under ``uvicorn`` in a process of its own, then for each scenario times every
answer of ``GET /health`` (unauthenticated) and ``GET /merchant/history`` (signed in as a
merchant that is relaying), asked in turn every 0.1 s, and every relay's answer:

* ``idle``       -- no relays: the baseline;
* ``probe``      -- ``--relays`` distinct probe transactions (each its own future nonce) from
  the five merchants at once, the node mining;
* ``mining off`` -- the node mines nothing: four merchants' valid relays wait for a block
  (202 after ``--wait`` s), then ``--relays`` minus four more at once (the same merchants
  again: 429; the fifth merchant over ``--max-in-flight 4``: 503).

    .venv/bin/python bench/relay_stall.py
    .venv/bin/python bench/relay_stall.py --relays 200 --wait 12
"""

from __future__ import annotations

import argparse
import collections
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # ledger_support: the test suite's ledger set-up

from ledger_support import free_port, make_ledger_env, mining_paused, oracle_cli_environment, running_node  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the siwe package's grammar warnings at import
    from api.client import sign_in

MERCHANTS = range(5)
MAX_IN_FLIGHT = 4  # fewer than the merchants, so the cap is reached in "mining off"
SERVER = """
import json, sys
import uvicorn
from api.app import create_app
from api.deps import ApiConfig
from ledger.config import Settings
app = create_app(Settings.from_env(), ApiConfig(**json.loads(sys.argv[2])))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


class Watcher:
    """``GET /health`` and ``GET /merchant/history`` in turn every 0.1 s, in a thread; seconds per answer."""

    def __init__(self, base: str, header: dict[str, str]) -> None:
        self.base, self.header = base, header
        self.seconds: dict[str, list[float]] = collections.defaultdict(list)
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self._stop.is_set():
                for path, header in (("/health", {}), ("/merchant/history", self.header)):
                    started = time.perf_counter()
                    try:
                        ok = client.get(path, headers=header).status_code == 200
                    except httpx.TimeoutException:
                        ok = False
                    self.seconds[path].append(time.perf_counter() - started)
                    self.failed += not ok
                self._stop.wait(0.1)


def _signed(account: Any, tx: dict[str, Any], **changes: Any) -> str:
    return "0x" + bytes(account.sign_transaction(dict(tx, **changes)).raw_transaction).hex()


def _relay(client: httpx.Client, header: dict[str, str], raw: str) -> tuple[int, float]:
    started = time.perf_counter()
    status = client.post("/merchant/disputes", json={"signedTransaction": raw}, headers=header).status_code
    return status, time.perf_counter() - started


def _fire(client: httpx.Client, jobs: list[tuple[dict[str, str], str]]) -> list[Any]:
    pool = ThreadPoolExecutor(max_workers=max(1, len(jobs)))
    futures = [pool.submit(_relay, client, header, raw) for header, raw in jobs]
    pool.shutdown(wait=False)
    return futures


def _ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q))]:.0f}" if ordered else "-"


def _row(name: str, watcher: Watcher, relays: list[tuple[int, float]]) -> str:
    statuses = collections.Counter(status for status, _ in relays)
    shown = " ".join(f"{s}x{n}" for s, n in sorted(statuses.items())) or "-"
    slowest = f"{max(s for _, s in relays):.2f}" if relays else "-"
    cells = []
    for path in ("/health", "/merchant/history"):
        values = watcher.seconds[path]
        median = f"{1000 * statistics.median(values):.0f}" if values else "-"
        cells += [median, _ms(values, 0.99), _ms(values, 1.0)]
    answers = sum(len(v) for v in watcher.seconds.values())
    return (
        f"| {name:<10} | {len(relays):>6} | {shown:<22} | {slowest:>9} | "
        + " | ".join(f"{c:>6}" for c in cells)
        + f" | {answers:>7} | {watcher.failed:>6} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relays", type=int, default=45, help="concurrent relays per scenario (default 45)")
    parser.add_argument("--wait", type=float, default=12.0, help="ApiConfig.relay_receipt_wait_seconds (default 12)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, running_node(Path(tmp) / "anvil") as node:
        env = make_ledger_env(Path(tmp) / "home", node.url, merchants=50)
        port = free_port()
        config = {"relay_receipt_wait_seconds": args.wait, "relay_max_in_flight": MAX_IN_FLIGHT}
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port), json.dumps(config)],
            env=oracle_cli_environment(env.settings, PYTHONPATH=str(ROOT)),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            limits = httpx.Limits(max_connections=args.relays + 10)
            with httpx.Client(base_url=base, timeout=args.wait + 90, limits=limits) as client:
                headers = {
                    m: {"Authorization": f"Bearer {sign_in(client, env.merchant_account(m))['token']}"}
                    for m in MERCHANTS
                }
                round_id = env.rounds[-1].round_id

                def prepared(m: int) -> dict[str, Any]:
                    body = {"round": round_id, "reason": "sales missing"}
                    tx = dict(
                        client.post("/merchant/disputes/prepare", json=body, headers=headers[m]).json()["transaction"]
                    )
                    tx.pop("from")
                    return tx

                print(
                    f"relay wait {args.wait:g} s, at most {MAX_IN_FLIGHT} relays in flight, {args.relays} concurrent relays"
                )
                print()
                print(
                    "| scenario   | relays | relay answers (status) | slowest s | health p50 ms | p99 | max |"
                    " history p50 ms | p99 | max | answers | failed |"
                )
                print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

                with Watcher(base, headers[0]) as watcher:
                    time.sleep(3)
                print(_row("idle", watcher, []))

                txs = {m: prepared(m) for m in MERCHANTS}
                jobs = [
                    (
                        headers[m],
                        _signed(env.merchant_account(m), txs[m], nonce=txs[m]["nonce"] + 5 + i, chainId=1, gas=21_000),
                    )
                    for i in range(args.relays // len(MERCHANTS) + 1)
                    for m in MERCHANTS
                ][: args.relays]
                with Watcher(base, headers[0]) as watcher:
                    time.sleep(0.5)
                    relays = [f.result() for f in _fire(client, jobs)]
                    time.sleep(0.5)
                print(_row("probe", watcher, relays))

                waiting, fifth = list(MERCHANTS)[:MAX_IN_FLIGHT], list(MERCHANTS)[MAX_IN_FLIGHT]
                valid = {m: _signed(env.merchant_account(m), txs[m]) for m in MERCHANTS}
                with mining_paused(env.contracts.chain), Watcher(base, headers[0]) as watcher:
                    first = _fire(client, [(headers[m], valid[m]) for m in waiting])
                    time.sleep(1)  # in flight: sent, waiting for a block
                    more = [(headers[fifth], valid[fifth])]
                    more += [
                        (headers[waiting[i % len(waiting)]], valid[waiting[i % len(waiting)]])
                        for i in range(args.relays - len(waiting) - 1)
                    ]
                    relays = [f.result() for f in _fire(client, more)] + [f.result() for f in first]
                print(_row("mining off", watcher, relays))
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
            env.oracle.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
