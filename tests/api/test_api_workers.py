"""``credit-ledger api serve --workers 2``: a real multi-process server, sign-ins on fresh connections."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import httpx
from ledger_support import free_port, oracle_cli_environment

from api.client import sign_in

SIGN_INS = 8


def test_two_workers_share_sign_in_nonces(ledger_env: Any) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "credit_ledger.cli",
            "api",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        env=oracle_cli_environment(ledger_env.settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.3)
        account = ledger_env.merchant_account(0)
        for _ in range(SIGN_INS):
            # a new connection per sign-in, and a new one again between nonce and login:
            # either request may reach either worker
            with httpx.Client(base_url=base, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
                body = sign_in(client, account)
            assert body["merchantKey"] == "0x" + ledger_env.merchant_key(0).hex()
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    assert "(2 processes;" in output, output
