"""The dispute relay under a real uvicorn server: relays that cannot be mined never starve other requests.

The issue's probe: 45 concurrent ``POST /merchant/disputes`` of transactions the node
accepts but never mines (a future nonce, chain id 1, 21,000 gas) each held a thread of
the pool for 60 s, and unauthenticated ``GET /health`` timed out for a minute.

Here the API runs as a process of its own (uvicorn on a free loopback port) over
``manual_mining_env``'s ledger, with a short relay wait and a small cap on relays in
flight, while a watcher asks ``GET /health`` (unauthenticated) and ``GET
/merchant/history`` (signed in as a merchant that is relaying) every 0.1 s and records
how long each answer took. The first test is the probe (the checks refuse it at once);
the second switches the node's mining off, so valid relays really wait for a block.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from ledger_support import free_port, mining_paused, oracle_cli_environment

from api.client import sign_in
from ledger.keccak import keccak256

WAIT_SECONDS = 3.0  # ApiConfig.relay_receipt_wait_seconds of the server under test
MAX_IN_FLIGHT = 4  # ApiConfig.relay_max_in_flight: fewer than the five demo merchants
PROMPT_SECONDS = 1.0  # the longest /health or /merchant/history may take, however many relays wait
MERCHANTS = range(5)
CONCURRENT = 45  # the probe's number of requests

SERVER = """
import json, sys
import uvicorn
from api.app import create_app
from api.deps import ApiConfig
from ledger.config import Settings
port, config = int(sys.argv[1]), json.loads(sys.argv[2])
app = create_app(Settings.from_env(), ApiConfig(**config))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


@pytest.fixture(scope="module")
def base_url(manual_mining_env: Any) -> Iterator[str]:
    """The API under uvicorn in a process of its own, its relay bounds set small."""
    port = free_port()
    config = {"relay_receipt_wait_seconds": WAIT_SECONDS, "relay_max_in_flight": MAX_IN_FLIGHT}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), json.dumps(config)],
        env=oracle_cli_environment(manual_mining_env.settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)
        yield base
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


@pytest.fixture(scope="module")
def tokens(base_url: str, manual_mining_env: Any) -> dict[int, dict[str, str]]:
    """The Authorization header of each demo merchant, signed in over the loopback."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        return {
            m: {"Authorization": f"Bearer {sign_in(client, manual_mining_env.merchant_account(m))['token']}"}
            for m in MERCHANTS
        }


@dataclass(frozen=True)
class Answer:
    status: int | str  # the HTTP status, or "timeout"
    seconds: float
    body: Any = None
    retry_after: str | None = None


def _post_relay(client: httpx.Client, header: dict[str, str], raw: str) -> Answer:
    started = time.perf_counter()
    try:
        response = client.post("/merchant/disputes", json={"signedTransaction": raw}, headers=header)
    except httpx.TimeoutException:
        return Answer("timeout", time.perf_counter() - started)
    return Answer(
        response.status_code, time.perf_counter() - started, response.json(), response.headers.get("Retry-After")
    )


class Watcher:
    """In a thread: ``GET /health`` and a signed-in ``GET /merchant/history`` every 0.1 s, each answer timed."""

    def __init__(self, base_url: str, header: dict[str, str]) -> None:
        self.base_url, self.header = base_url, header
        self.answers: list[tuple[str, Answer]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-watcher", daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while not self._stop.is_set():
                for path, header in (("/health", {}), ("/merchant/history", self.header)):
                    started = time.perf_counter()
                    try:
                        status: int | str = client.get(path, headers=header).status_code
                    except httpx.TimeoutException:
                        status = "timeout"
                    self.answers.append((path, Answer(status, time.perf_counter() - started)))
                self._stop.wait(0.1)

    def assert_prompt(self, during: float) -> None:
        """Answers all along (one each 0.1 s or so), every one a 200 within PROMPT_SECONDS."""
        late = [(path, a) for path, a in self.answers if a.status != 200 or a.seconds > PROMPT_SECONDS]
        assert not late, f"{len(late)} of {len(self.answers)} answers late or failed: {late[:6]}"
        assert len(self.answers) >= during / 0.5, f"only {len(self.answers)} answers in {during:.1f}s"


def _prepared(client: httpx.Client, header: dict[str, str], round_id: int, reason: str) -> dict[str, Any]:
    response = client.post("/merchant/disputes/prepare", json={"round": round_id, "reason": reason}, headers=header)
    assert response.status_code == 200, response.text
    tx = dict(response.json()["transaction"])
    tx.pop("from")
    return tx


def _signed(account: Any, tx: dict[str, Any], **changes: Any) -> str:
    """``tx`` with ``changes`` (a None removes the field) signed by ``account``, as 0x-hex."""
    changed = {k: v for k, v in dict(tx, **changes).items() if v is not None}
    return "0x" + bytes(account.sign_transaction(changed).raw_transaction).hex()


def _fire(client: httpx.Client, jobs: list[tuple[dict[str, str], str]]) -> list[Future[Answer]]:
    pool = ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="relay")
    futures = [pool.submit(_post_relay, client, header, raw) for header, raw in jobs]
    pool.shutdown(wait=False)
    return futures


def _disputes(client: httpx.Client, header: dict[str, str], round_id: int) -> list[dict[str, Any]]:
    """The merchant's listed disputes of ``round_id`` (the relay's service tests dispute another round here)."""
    return [d for d in client.get("/merchant/disputes", headers=header).json() if d["round"] == round_id]


def _no_relay_left_behind(env: Any, client: httpx.Client, tokens: dict[int, dict[str, str]]) -> None:
    """Nothing of a refused relay reached the node's pool, and none is listed as pending."""
    w3 = env.contracts.chain.w3
    for m in MERCHANTS:
        address = env.merchant_account(m).address
        assert w3.eth.get_transaction_count(address, "pending") == w3.eth.get_transaction_count(address, "latest")
        listed = client.get("/merchant/disputes", headers=tokens[m]).json()
        assert [d for d in listed if d["status"] == "pending"] == []


def test_the_probes_relays_are_refused_at_once_and_the_server_keeps_answering(
    base_url: str, tokens: dict[int, dict[str, str]], manual_mining_env: Any
) -> None:
    """45 concurrent relays the node would accept and never mine, from five merchants: each refused
    by the checks (or 429/503 while one of the same merchant is in flight), none waits for a block."""
    env = manual_mining_env
    round_id = env.rounds[-1].round_id
    limits = httpx.Limits(max_connections=CONCURRENT + 5)
    with httpx.Client(base_url=base_url, timeout=WAIT_SECONDS + 90, limits=limits) as client:
        # Each a distinct transaction (its own future nonce), as the probe's were: the node
        # takes every one into its pool, where it would wait for the nonces before it forever.
        kinds: dict[str, tuple[dict[str, Any], int, str]] = {  # changes to the prepared one; the refusal
            "probe": ({"chainId": 1, "gas": 21_000}, 400, "wrong_chain_id"),  # and a future nonce, as all are
            "future nonce": ({}, 409, "future_nonce"),
            "no chain id": ({"chainId": None}, 400, "no_chain_id"),
        }
        jobs, expected = [], []
        for m in MERCHANTS:
            account = env.merchant_account(m)
            tx = _prepared(client, tokens[m], round_id, "probe")
            for i in range(CONCURRENT // len(MERCHANTS)):
                changes, status, code = list(kinds.values())[i % len(kinds)]
                jobs.append((tokens[m], _signed(account, tx, nonce=tx["nonce"] + 5 + i, **changes)))
                expected.append((status, code))
        assert len(jobs) == CONCURRENT

        started = time.monotonic()
        with Watcher(base_url, tokens[0]) as watcher:
            time.sleep(0.3)  # the watcher's first answers, before the burst
            answers = [f.result() for f in _fire(client, jobs)]
            time.sleep(0.3)
        watcher.assert_prompt(time.monotonic() - started)

        for answer, (status, code) in zip(answers, expected, strict=True):
            assert answer.status in (status, 429, 503), answer
            assert answer.seconds < WAIT_SECONDS, f"a relay the checks refuse waited {answer.seconds:.1f}s"
            assert answer.body["error"]["code"] in (code, "relay_in_progress", "relay_busy"), answer
            if answer.status in (429, 503):
                assert answer.retry_after is not None and 1 <= int(answer.retry_after) <= WAIT_SECONDS
        assert any(a.status not in (429, 503) for a in answers)
        _no_relay_left_behind(env, client, tokens)


def test_relays_waiting_for_a_block_come_back_202_and_the_server_keeps_answering(
    base_url: str, tokens: dict[int, dict[str, str]], manual_mining_env: Any
) -> None:
    """Mining off: valid relays of four merchants wait, and come back 202 "pending" within the bounded
    wait; meanwhile 41 more (the same merchants again: 429; a fifth merchant over the cap: 503) are
    answered at once, and /health and /merchant/history keep answering. Once mined, each dispute is
    listed as filed; the fifth merchant's relay goes through when sent again."""
    env = manual_mining_env
    round_id = env.rounds[-1].round_id
    waiting, fifth = list(MERCHANTS)[:MAX_IN_FLIGHT], list(MERCHANTS)[MAX_IN_FLIGHT]
    limits = httpx.Limits(max_connections=CONCURRENT + 5)
    with httpx.Client(base_url=base_url, timeout=WAIT_SECONDS + 90, limits=limits) as client:
        valid = {
            m: _signed(env.merchant_account(m), _prepared(client, tokens[m], round_id, "sales missing"))
            for m in MERCHANTS
        }
        probe = {}
        for m in waiting:
            tx = _prepared(client, tokens[m], round_id, "probe")
            probe[m] = _signed(env.merchant_account(m), tx, nonce=tx["nonce"] + 5, chainId=1, gas=21_000)

        started = time.monotonic()
        with mining_paused(env.contracts.chain), Watcher(base_url, tokens[0]) as watcher:
            relays = dict(zip(waiting, _fire(client, [(tokens[m], valid[m]) for m in waiting]), strict=True))
            # In flight once each is listed as pending (recorded, sent, not mined).
            deadline = time.monotonic() + WAIT_SECONDS
            for m in waiting:
                while [d["status"] for d in _disputes(client, tokens[m], round_id)] != ["pending"]:
                    assert time.monotonic() < deadline, f"merchant {m}'s relay is not in flight"
                    time.sleep(0.05)

            burst = [(tokens[fifth], valid[fifth])]
            for m in waiting:
                burst += [(tokens[m], valid[m])] * 5 + [(tokens[m], probe[m])] * 5
            assert len(waiting) + len(burst) == CONCURRENT
            refused = [f.result() for f in _fire(client, burst)]
            accepted = {m: f.result() for m, f in relays.items()}

            assert [d["status"] for d in _disputes(client, tokens[0], round_id)] == ["pending"]  # after the 202 too
            env.contracts.chain.w3.provider.make_request("evm_mine", [])
            filed = {m: _disputes(client, tokens[m], round_id) for m in waiting}
        watcher.assert_prompt(time.monotonic() - started)

        busy, *again = refused
        assert busy.status == 503 and busy.body["error"]["code"] == "relay_busy", busy
        assert busy.retry_after is not None and 1 <= int(busy.retry_after) <= WAIT_SECONDS
        for answer in again:  # the concurrent second relay of a merchant
            assert answer.status == 429 and answer.body["error"]["code"] == "relay_in_progress", answer
            assert answer.retry_after is not None and 1 <= int(answer.retry_after) <= WAIT_SECONDS
            assert answer.seconds < PROMPT_SECONDS, answer
        for m, answer in accepted.items():
            assert answer.status == 202, answer
            assert WAIT_SECONDS - 0.5 <= answer.seconds <= WAIT_SECONDS + 1.5, answer
            tx_hash = "0x" + keccak256(bytes.fromhex(valid[m][2:])).hex()
            assert answer.body["status"] == "pending" and answer.body["disputeId"] is None
            assert answer.body["filedTx"] == tx_hash and answer.body["round"] == round_id
            [dispute] = filed[m]  # mined: recorded from its DisputeFiled event, no longer pending
            assert dispute["status"] == "open" and dispute["filedTx"] == tx_hash
            on_chain = env.contracts.ledger.functions.dispute(dispute["disputeId"]).call()
            assert bytes(on_chain[0]) == env.merchant_key(m)

        # The node mines on arrival again: the fifth merchant's relay, refused while the cap was full, goes through.
        retried = _post_relay(client, tokens[fifth], valid[fifth])
        assert retried.status == 201 and retried.body["status"] == "open", retried
