"""Fixtures for the regulator and auditor routes: an app over ledger_env and sign-in."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account.messages import encode_defunct

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
    from siwe import SiweMessage

from ledger.accounts import RoleAccounts

DOMAIN = "testserver"  # the Host header TestClient sends


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def client(ledger_env: Any) -> Iterator[TestClient]:
    from api.app import create_app
    from api.deps import ApiConfig

    app = create_app(ledger_env.settings, ApiConfig(domain=DOMAIN))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def headers(client: TestClient, ledger_env: Any) -> Callable[[Any], dict[str, str]]:
    """``headers(account)`` -> Authorization header after a real EIP-4361 sign-in (cached)."""
    cache: dict[str, dict[str, str]] = {}

    def _headers(account: Any) -> dict[str, str]:
        if account.address not in cache:
            nonce = client.get("/auth/nonce").json()["nonce"]
            now = datetime.now(UTC)
            message = SiweMessage(
                domain=DOMAIN,
                address=account.address,
                statement="Sign in to credit-ledger",
                uri=f"http://{DOMAIN}",
                version="1",
                chain_id=ledger_env.contracts.chain.chain_id,
                nonce=nonce,
                issued_at=_iso(now),
                expiration_time=_iso(now + timedelta(minutes=5)),
            ).prepare_message()
            signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
            response = client.post("/auth/login", json={"message": message, "signature": signature})
            assert response.status_code == 200, response.text
            cache[account.address] = {"Authorization": f"Bearer {response.json()['token']}"}
        return cache[account.address]

    return _headers


@pytest.fixture(scope="module")
def roles() -> RoleAccounts:
    return RoleAccounts.development()
