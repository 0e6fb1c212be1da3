"""API test fixtures: the app over the shared ``ledger_env``, a client, and EIP-4361 sign-in helpers."""

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

from api.app import create_app
from api.deps import ApiConfig

DOMAIN = "testserver"  # the Host TestClient sends, configured as the sign-in domain of the test app


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def siwe_message(
    address: str,
    nonce: str,
    chain_id: int = 31337,
    domain: str = DOMAIN,
    expires_in: timedelta | None = timedelta(minutes=5),
    not_before: datetime | None = None,
    issued_at: datetime | None = None,
    uri: str | None = None,
) -> str:
    """A canonical EIP-4361 message, as a wallet would present it (``uri`` defaults to ``http://`` + domain)."""
    now = issued_at or datetime.now(UTC)
    fields: dict[str, Any] = {
        "domain": domain,
        "address": address,
        "statement": "Sign in to credit-ledger",
        "uri": uri or f"http://{domain}",
        "version": "1",
        "chain_id": chain_id,
        "nonce": nonce,
        "issued_at": iso(now),
    }
    if expires_in is not None:
        fields["expiration_time"] = iso(now + expires_in)
    if not_before is not None:
        fields["not_before"] = iso(not_before)
    return SiweMessage(**fields).prepare_message()


def sign(account: Any, message: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


@pytest.fixture(scope="session")
def api_app(ledger_env: Any) -> Any:
    return create_app(ledger_env.settings, ApiConfig(domain=DOMAIN))


@pytest.fixture(scope="session")
def client(api_app: Any) -> Iterator[TestClient]:
    with TestClient(api_app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def login(client: TestClient, ledger_env: Any) -> Callable[..., dict[str, Any]]:
    """``login(account)`` -> the /auth/login JSON (raises on failure); tokens cached per account."""
    cache: dict[str, dict[str, Any]] = {}

    def _login(account: Any, fresh: bool = False) -> dict[str, Any]:
        if not fresh and account.address in cache:
            return cache[account.address]
        nonce = client.get("/auth/nonce").json()["nonce"]
        message = siwe_message(account.address, nonce, chain_id=ledger_env.contracts.chain.chain_id)
        response = client.post("/auth/login", json={"message": message, "signature": sign(account, message)})
        assert response.status_code == 200, response.text
        cache[account.address] = response.json()
        return cache[account.address]

    return _login


@pytest.fixture(scope="session")
def auth_header(login: Callable[..., dict[str, Any]]) -> Callable[[Any], dict[str, str]]:
    def _header(account: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {login(account)['token']}"}

    return _header
