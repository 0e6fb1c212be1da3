"""Reliability figures, not adjectives: faults injected into real rounds, and what survived.

Everything runs on this machine, on loopback only: its own anvil node, ledgers deployed
with the scoring model and policy active, the real ``credit-ledger`` command as a
subprocess, the real API under ``credit-ledger api serve``. Each fault is injected
``--runs`` times (default 10), each run into a new weekly round of ``--merchants``
merchants; after the fault the round is run again (as an operator would) and checked:

* **rounds completed**: the round ended anchored, with exactly one ``BatchAnchored``
  event, the stored root equal to the on-chain root;
* **decisions lost**: merchants of the round that are not in its anchored batch (must be 0);
* **decisions doubled**: a merchant stored twice in the round, a second round started for
  the same week instead of resuming this one, or a second anchoring transaction sent
  (the oracle's nonce advanced by more than one per round) (must be 0).

Faults:

``kill@after_tree`` ``kill@after_send`` ``kill@after_receipt``
    the oracle SIGKILLs itself at that point (``CREDIT_LEDGER_CRASH_AT``);
``kill@random``
    SIGKILL from outside at a random moment of the round (any stage, also the ones
    without a drill point);
``node-restart``
    the chain node stopped and started again while the oracle waits between two steps
    (``CREDIT_LEDGER_PAUSE_AT``: alternately after the tree and after the send);
``postgres-restart``
    the round's PostgreSQL server (a throwaway one of Debian's binaries, never the
    machine's own) restarted in ``immediate`` mode, every connection killed, while the
    oracle waits before its store transaction or after sending;
``disk-full``
    the documents directory on a tmpfs too small for the batch file (made and removed by
    the bench; needs root for ``mount``): the round must fail cleanly (no round built,
    no half-written document), and succeed once there is room;
``api-kill``
    ``credit-ledger api serve`` SIGKILLed while clients sign in and fetch proofs; restarted:
    every request after the restart must succeed, and a sign-in nonce issued before the
    kill is honoured exactly once.

    .venv/bin/python bench/reliability.py                    # every fault, 10 runs each
    .venv/bin/python bench/reliability.py --runs 1           # a quick pass
    .venv/bin/python bench/reliability.py --faults kill@random disk-full
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # ledger_support, pg_support: the test suite's set-ups

from ledger_support import LedgerEnv, free_port, make_ledger_env, oracle_cli_environment, running_node  # noqa: E402
from pg_support import find_binaries, restartable_server  # noqa: E402

from ledger.node import LocalNode  # noqa: E402
from ledger.roles import Role  # noqa: E402
from ledger.store import NotFound, Store  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the siwe package's grammar warnings at import
    from api.client import sign_in

FAULTS = (
    "kill@after_tree",
    "kill@after_send",
    "kill@after_receipt",
    "kill@random",
    "node-restart",
    "postgres-restart",
    "disk-full",
    "api-kill",
)


@dataclass
class FaultRow:
    """One line of the faults table."""

    fault: str
    runs: int = 0
    rounds_completed: int = 0
    decisions_lost: int = 0
    decisions_doubled: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


# -- a round, run and checked -------------------------------------------------------------------


def round_command(merchants: int) -> list[str]:
    return [sys.executable, "-m", "credit_ledger.cli", "oracle", "run-round", "--merchants", str(merchants)]


def run_round(env: LedgerEnv, merchants: int, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        round_command(merchants),
        env=oracle_cli_environment(env.settings, **extra),
        capture_output=True,
        text=True,
        timeout=600,
    )


@dataclass(frozen=True)
class Before:
    round_id: int
    rounds: int
    nonce: int


def before_round(env: LedgerEnv) -> Before:
    oracle = env.oracle.accounts[Role.ORACLE].address
    with Store.open(env.settings.database_url) as store:
        rounds = len(store.rounds(kind="weekly"))
    return Before(env.oracle.next_round_id(), rounds, env.contracts.chain.w3.eth.get_transaction_count(oracle))


def settle(env: LedgerEnv, merchants: int, before: Before, row: FaultRow) -> None:
    """Unless the round finished despite the fault, run it again (at most three times); count what survived."""
    for _ in range(3):
        if _finished(env, before.round_id):
            break
        done = run_round(env, merchants)
        if done.returncode != 0:
            row.notes.append(f"round {before.round_id}: a rerun exited {done.returncode}: {done.stderr.strip()[-160:]}")
    check(env, merchants, before, row)


def _finished(env: LedgerEnv, round_id: int) -> bool:
    with Store.open(env.settings.database_url) as store:
        try:
            return store.get_round(round_id).status in ("anchored", "confirmed")
        except NotFound:
            return False


def check(env: LedgerEnv, merchants: int, before: Before, row: FaultRow) -> None:
    """Count the run into ``row``: completed, lost and doubled decisions (see the module docstring)."""
    ledger = env.contracts.ledger
    round_id = before.round_id
    oracle = env.oracle.accounts[Role.ORACLE].address
    with Store.open(env.settings.database_url) as store:
        weekly = store.rounds(kind="weekly")
        try:
            stored = store.get_round(round_id)
        except NotFound:
            row.decisions_lost += merchants
            row.notes.append(f"round {round_id} was never stored")
            return
        keys = [d.merchant_key for d in store.decisions_in_round(round_id)]
    events = ledger.events.BatchAnchored.get_logs(from_block=0, argument_filters={"round": round_id})
    onchain_root = bytes(ledger.functions.batch(round_id).call()[0])
    anchored = stored.status in ("anchored", "confirmed") and len(events) == 1 and onchain_root == stored.root
    row.rounds_completed += int(anchored)
    row.decisions_lost += merchants - len(set(keys)) if anchored else merchants
    row.decisions_doubled += len(keys) - len(set(keys))
    extra_rounds = len(weekly) - before.rounds - 1
    if extra_rounds > 0:  # the retry started a new week instead of resuming this one
        row.decisions_doubled += extra_rounds * merchants
        row.notes.append(f"{extra_rounds} extra round(s) after round {round_id}")
    sent = env.contracts.chain.w3.eth.get_transaction_count(oracle) - before.nonce
    if sent > 1:  # a second anchoring transaction was mined
        row.decisions_doubled += (sent - 1) * merchants
        row.notes.append(f"round {round_id}: {sent} anchoring transactions mined")


# -- the faults ---------------------------------------------------------------------------------


def fault_crash_point(env: LedgerEnv, merchants: int, point: str, row: FaultRow) -> None:
    before = before_round(env)
    crashed = run_round(env, merchants, CREDIT_LEDGER_CRASH_AT=point)
    if crashed.returncode != -signal.SIGKILL:
        row.notes.append(f"{point}: exit {crashed.returncode}, not SIGKILL")
    settle(env, merchants, before, row)


def fault_random_kill(env: LedgerEnv, merchants: int, rng: random.Random, typical: float, row: FaultRow) -> None:
    before = before_round(env)
    process = subprocess.Popen(
        round_command(merchants),
        env=oracle_cli_environment(env.settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(rng.uniform(0.2, typical))
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    settle(env, merchants, before, row)


def _paused_round(env: LedgerEnv, merchants: int, point: str, seconds: int) -> subprocess.Popen[str]:
    """A round that stops for ``seconds`` at ``point``; returns once it says it is pausing."""
    process = subprocess.Popen(
        round_command(merchants),
        env=oracle_cli_environment(env.settings, CREDIT_LEDGER_PAUSE_AT=f"{point}:{seconds}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "drill: pausing" in line:
            return process
    process.wait(timeout=60)
    raise RuntimeError(f"the round ended without pausing at {point} (exit {process.returncode})")


def fault_node_restart(env: LedgerEnv, node: LocalNode, merchants: int, point: str, row: FaultRow) -> None:
    before = before_round(env)
    process = _paused_round(env, merchants, point, 4)
    node.stop()  # SIGTERM: anvil writes its state (a transaction in its pool is lost)
    time.sleep(2)  # the oracle wakes while the node is down and must retry
    node.start()
    process.communicate(timeout=300)
    if process.returncode != 0:
        row.notes.append(f"node restart at {point}: the round exited {process.returncode}; run again")
    settle(env, merchants, before, row)


def fault_postgres_restart(
    env: LedgerEnv, restart: Callable[[], None], merchants: int, point: str, row: FaultRow
) -> None:
    before = before_round(env)
    process = _paused_round(env, merchants, point, 3)
    restart()  # every connection of the oracle's pool dies here
    process.communicate(timeout=300)
    if process.returncode != 0:
        row.notes.append(f"postgres restart at {point}: the round exited {process.returncode}; run again")
    settle(env, merchants, before, row)


@contextlib.contextmanager
def small_filesystem(directory: Path, size_bytes: int, copy: list[Path]) -> Iterator[None]:
    """A tmpfs of ``size_bytes`` mounted over ``directory``, holding copies of ``copy``; unmounted after."""
    keep = Path(tempfile.mkdtemp(prefix="reliability-documents-"))
    for path in copy:
        shutil.copy2(path, keep / path.name)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(directory)], check=True)
    try:
        for path in keep.iterdir():
            shutil.copy2(path, directory / path.name)
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True)  # the directory as it was reappears
        shutil.rmtree(keep, ignore_errors=True)


def _is_batch_file(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(24).startswith(b'{"format":"standard-v1"')


def fault_disk_full(env: LedgerEnv, merchants: int, row: FaultRow) -> None:
    before = before_round(env)
    documents = env.settings.documents_dir
    # a new round needs the model and policy documents (re-put every round), not the old batch files
    needed = [p for p in documents.iterdir() if p.is_file() and not _is_batch_file(p)]
    used = sum(p.stat().st_size for p in needed)
    batch_bytes = 440 * merchants  # a batch file is about 430 bytes per decision
    size = used + 16384 + batch_bytes // 4  # room for the rest, not for the batch file
    with small_filesystem(documents, size, needed):
        failed = run_round(env, merchants)
        leftovers = [p.name for p in documents.iterdir() if p.name.startswith(".incoming")]
    if failed.returncode == 0:
        row.notes.append("the round succeeded on a full disk (the tmpfs was too big)")
    elif "error[" not in failed.stderr:
        row.notes.append(f"disk full without a clear error: {failed.stderr.strip()[-200:]}")
    if leftovers:
        row.notes.append(f"half-written documents left: {leftovers}")
    with Store.open(env.settings.database_url) as store:
        with contextlib.suppress(NotFound):
            if store.get_round(before.round_id).status != "pending":
                row.notes.append(f"round {before.round_id} was built although its batch file was not written")
    settle(env, merchants, before, row)


def fault_api_kill(env: LedgerEnv, rng: random.Random, row: FaultRow) -> None:
    """Kill the API mid-traffic; after a restart every request succeeds and an old nonce works once."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "credit_ledger.cli", "api", "serve", "--port", str(port)]
    environment = oracle_cli_environment(env.settings)

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    return process
            time.sleep(0.2)
        process.kill()
        raise RuntimeError("the API did not start")

    server = start()
    stop = threading.Event()
    counts = {"before": 0, "after": 0, "errors_after": 0}
    phase = ["before"]

    def traffic(i: int) -> None:
        account = env.merchant_account(i % len(env.bound))
        with httpx.Client(base_url=base, timeout=10) as client:
            while not stop.is_set():
                try:
                    token = sign_in(client, account)["token"]
                    got = client.get("/merchant/history", headers={"Authorization": f"Bearer {token}"})
                    ok = got.status_code == 200
                except Exception:  # noqa: BLE001 - every failure counts; the kill makes many
                    ok = False
                counts[phase[0]] += 1
                if phase[0] == "after" and not ok:
                    counts["errors_after"] += 1

    with httpx.Client(base_url=base, timeout=10) as client:
        early_nonce = client.get("/auth/nonce").json()["nonce"]  # issued before the kill
    workers = [threading.Thread(target=traffic, args=(i,), daemon=True) for i in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(rng.uniform(1.0, 3.0))
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=30)
    server = start()
    phase[0] = "after"
    time.sleep(2.0)
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
    reused = _sign_in_with_nonce(env, base, early_nonce)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    if counts["errors_after"]:
        row.notes.append(f"{counts['errors_after']} requests failed after the restart")
    if reused != [200, 401]:
        row.notes.append(f"a nonce from before the kill gave {reused} (expected one success, then refused)")
    row.rounds_completed += int(not counts["errors_after"] and reused == [200, 401])


def _sign_in_with_nonce(env: LedgerEnv, base: str, nonce: str) -> list[int]:
    """Sign in twice with one (pre-issued) nonce; the status codes."""
    from datetime import UTC, datetime, timedelta

    from eth_account.messages import encode_defunct
    from siwe import SiweMessage

    with httpx.Client(base_url=base, timeout=10) as client:
        challenge = client.get("/auth/nonce").json()
        account = env.merchant_account(0)
        now = datetime.now(UTC)
        message = SiweMessage(
            domain=challenge["domain"],
            address=account.address,
            statement="Sign in to credit-ledger",
            uri=challenge["uri"],
            version="1",
            chain_id=int(challenge["chainId"]),
            nonce=nonce,
            issued_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            expiration_time=(now + timedelta(minutes=5)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        ).prepare_message()
        signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
        body = {"message": message, "signature": signature}
        return [client.post("/auth/login", json=body).status_code for _ in range(2)]


# -- the run ------------------------------------------------------------------------------------


def run_faults(faults: list[str], runs: int, merchants: int, seed: int) -> list[FaultRow]:
    rng = random.Random(seed)
    rows = {name: FaultRow(name) for name in faults}
    work = Path(tempfile.mkdtemp(prefix="reliability-"))
    try:
        with running_node(work / "anvil") as node:
            env = make_ledger_env(work / "sqlite", node.url, merchants=merchants, rounds=1)
            env.oracle.close()
            started = time.monotonic()
            run_round(env, merchants)  # one undisturbed round: how long a round takes here
            typical = time.monotonic() - started
            for name in faults:
                row = rows[name]
                began = time.monotonic()
                for run in range(runs):
                    if name.startswith("kill@") and name != "kill@random":
                        fault_crash_point(env, merchants, name.split("@", 1)[1], row)
                    elif name == "kill@random":
                        fault_random_kill(env, merchants, rng, typical, row)
                    elif name == "node-restart":
                        fault_node_restart(env, node, merchants, ("after_tree", "after_send")[run % 2], row)
                    elif name == "disk-full":
                        fault_disk_full(env, merchants, row)
                    elif name == "api-kill":
                        fault_api_kill(env, rng, row)
                    elif name == "postgres-restart":
                        continue  # below, on its own server
                    row.runs += 1
                    print(f"  {name} run {run + 1}/{runs}: {row.rounds_completed} completed", flush=True)
                row.seconds = time.monotonic() - began
            if "postgres-restart" in faults:
                _postgres_faults(node, work, runs, merchants, rows["postgres-restart"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [rows[name] for name in faults]


def _postgres_faults(node: LocalNode, work: Path, runs: int, merchants: int, row: FaultRow) -> None:
    binaries = find_binaries()
    if binaries is None:
        row.notes.append("skipped: no PostgreSQL binaries (apt-get install postgresql)")
        return
    began = time.monotonic()
    with restartable_server(binaries) as server:
        env = make_ledger_env(work / "postgres", node.url, merchants=merchants, rounds=0, database_url=server.url)
        env.oracle.close()
        for run in range(runs):
            fault_postgres_restart(env, server.restart, merchants, ("after_tree", "after_send")[run % 2], row)
            row.runs += 1
            print(f"  postgres-restart run {run + 1}/{runs}: {row.rounds_completed} completed", flush=True)
    row.seconds = time.monotonic() - began


def print_faults(rows: list[FaultRow], merchants: int) -> None:
    print(f"\nFaults ({merchants} merchants per round; every run ends with the round run again)")
    header = (
        f"{'fault':<20} {'runs':>5} {'rounds completed':>17} {'decisions lost':>15} {'decisions doubled':>18} {'s':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        completed = f"{r.rounds_completed}" if r.fault != "api-kill" else f"{r.rounds_completed} recovered"
        print(
            f"{r.fault:<20} {r.runs:>5} {completed:>17} {r.decisions_lost:>15,} {r.decisions_doubled:>18,} {r.seconds:>7.0f}"
        )
    for r in rows:
        for note in r.notes:
            print(f"  note {r.fault}: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", nargs="+", choices=FAULTS, default=list(FAULTS))
    parser.add_argument("--runs", type=int, default=10, help="runs per fault")
    parser.add_argument("--merchants", type=int, default=200, help="merchants per round")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = run_faults(args.faults, args.runs, args.merchants, args.seed)
    print_faults(rows, args.merchants)


if __name__ == "__main__":
    main()
