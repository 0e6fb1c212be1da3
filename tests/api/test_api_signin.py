"""Sign-in holes: the domain and URI are the server's configuration, a message's lifetime is bounded, signatures are canonical.

Each refusal has its own error code; every test here got a token before the fix.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from ledger_support import free_port, oracle_cli_environment

from api.app import create_app
from api.client import sign_in
from api.deps import DEFAULT_DOMAIN, ApiConfig
from ledger.config import ConfigError, Settings
from tests.api.conftest import DOMAIN, sign, siwe_message

SIGNER = 0  # ledger_env's demo merchant whose sign-ins these are (sign-in changes no state but nonces)
#: The order of secp256k1's group.
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _error(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    return body["error"]


def _login(client: TestClient, message: str, signature: str, **headers: str) -> Any:
    return client.post("/auth/login", json={"message": message, "signature": signature}, headers=headers)


def _message(client: TestClient, env: Any, issued_in: timedelta | None = None, **kwargs: Any) -> str:
    """A fresh nonce's message from the signer; ``issued_in``: Issued At that far from now."""
    nonce = client.get("/auth/nonce").json()["nonce"]
    if issued_in is not None:
        kwargs["issued_at"] = datetime.now(UTC) + issued_in
    return siwe_message(env.merchant_account(SIGNER).address, nonce, chain_id=env.contracts.chain.chain_id, **kwargs)


# -- 1. the domain and URI are configuration, never the request's Host ------------------------


def test_an_app_without_a_configured_domain_signs_in_as_the_default_bind_address(ledger_env: Any) -> None:
    account = ledger_env.merchant_account(SIGNER)
    chain_id = ledger_env.contracts.chain.chain_id
    evil = {"Host": "evil.example"}
    with TestClient(create_app(ledger_env.settings, ApiConfig())) as client:
        challenge = client.get("/auth/nonce", headers=evil).json()
        assert (challenge["domain"], challenge["uri"]) == (DEFAULT_DOMAIN, f"http://{DEFAULT_DOMAIN}")

        # A phishing page got a real nonce and had the wallet sign for its own domain.
        phished = siwe_message(account.address, challenge["nonce"], chain_id=chain_id, domain="evil.example")
        refused = _login(client, phished, sign(account, phished), **evil)
        assert refused.status_code == 401, refused.text
        error = _error(refused)
        assert error["code"] == "domain_mismatch" and DEFAULT_DOMAIN in error["message"]

        # The server's own domain signs in, whatever Host the request names.
        nonce = client.get("/auth/nonce", headers=evil).json()["nonce"]
        genuine = siwe_message(account.address, nonce, chain_id=chain_id, domain=DEFAULT_DOMAIN)
        accepted = _login(client, genuine, sign(account, genuine), **evil)
        assert accepted.status_code == 200, accepted.text


def test_api_config_takes_the_domain_and_uri_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDIT_LEDGER_API_DOMAIN", raising=False)
    monkeypatch.delenv("CREDIT_LEDGER_API_URI", raising=False)
    default = ApiConfig.from_env()
    assert (default.domain, default.uri) == ("127.0.0.1:8000", "http://127.0.0.1:8000")
    monkeypatch.setenv("CREDIT_LEDGER_API_DOMAIN", "ledger.example.org")
    assert ApiConfig.from_env().uri == "http://ledger.example.org"
    monkeypatch.setenv("CREDIT_LEDGER_API_URI", "https://ledger.example.org/")
    config = ApiConfig.from_env()
    assert (config.domain, config.uri, config.origin) == (
        "ledger.example.org",
        "https://ledger.example.org",
        ("https", "ledger.example.org", 443),
    )
    assert ApiConfig(domain="[::1]:8000").origin == ("http", "::1", 8000)


@pytest.mark.parametrize(
    ("domain", "uri", "says"),
    [
        ("http://ledger.example.org", "", "is not host[:port]"),
        ("ledger.example.org/login", "", "is not host[:port]"),
        ("", "", "is not host[:port]"),
        ("ledger.example.org", "ftp://ledger.example.org", "is not an origin"),
        ("ledger.example.org", "https://ledger.example.org/login", "is not an origin"),
        ("ledger.example.org", "https://user@ledger.example.org", "is not an origin"),
    ],
)
def test_a_malformed_domain_or_uri_is_a_config_error(domain: str, uri: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace("[", r"\[")):
        ApiConfig(domain=domain, uri=uri)


def _serve(settings: Settings, *args: str) -> subprocess.Popen[str]:
    """``credit-ledger api serve ARGS`` over ``settings``, with no sign-in domain in its environment."""
    environment = oracle_cli_environment(settings)
    environment.pop("CREDIT_LEDGER_API_DOMAIN", None)
    environment.pop("CREDIT_LEDGER_API_URI", None)
    return subprocess.Popen(
        [sys.executable, "-m", "credit_ledger.cli", "api", "serve", "--log-level", "warning", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_up(server: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert server.poll() is None, server.communicate()[0]
        assert time.monotonic() < deadline, "the API did not come up"
        time.sleep(0.2)


def test_api_serve_signs_in_as_the_address_it_binds_and_says_so(ledger_env: Any) -> None:
    port = free_port()
    server = _serve(ledger_env.settings, "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(server, base)
        account = ledger_env.merchant_account(SIGNER)
        with httpx.Client(base_url=base, timeout=30) as client:
            challenge = client.get("/auth/nonce", headers={"Host": "evil.example"}).json()
            assert (challenge["domain"], challenge["uri"]) == (f"127.0.0.1:{port}", base)
            phished = siwe_message(account.address, challenge["nonce"], domain="evil.example")
            refused = client.post(
                "/auth/login",
                json={"message": phished, "signature": sign(account, phished)},
                headers={"Host": "evil.example"},
            )
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "domain_mismatch"
            assert sign_in(client, account)["merchantKey"] == "0x" + ledger_env.merchant_key(SIGNER).hex()
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert f"sign-in: domain 127.0.0.1:{port}, URI {base} (from --host/--port;" in output, output
    assert "slow clients: request head within 10 s, body within 15 s, idle keep-alive 5 s;" in output, output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--host", "0.0.0.0"], "--host 0.0.0.0 binds every interface"),
        (["--domain", "http://ledger.example.org/"], "is not host[:port]"),
        (["--domain", "ledger.example.org", "--uri", "ledger.example.org"], "is not an origin"),
    ],
)
def test_api_serve_refuses_a_sign_in_domain_it_cannot_stand_behind(tmp_path: Path, args: list[str], says: str) -> None:
    server = _serve(Settings(home=tmp_path), "--port", str(free_port()), *args)
    try:
        output, _ = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == 2, output
    assert says in output and "configuration error" in output, output


# -- 4. the message's validity window is bounded, its URI on this origin ----------------------


@pytest.mark.parametrize(
    ("kwargs", "code", "says"),
    [
        (
            {"issued_in": timedelta(days=30), "expires_in": timedelta(minutes=5)},
            "message_issued_in_future",
            "30 days ahead of this server's clock",
        ),
        ({"issued_in": -timedelta(days=365), "expires_in": None}, "message_too_old", "365 days ago"),
        ({"expires_in": timedelta(days=30)}, "message_lifetime_too_long", "valid for 30 days"),
        ({"uri": "https://evil.example/login"}, "uri_mismatch", f"not on this server's origin http://{DOMAIN}"),
        ({"uri": f"http://{DOMAIN}:8080/"}, "uri_mismatch", "not on this server's origin"),
        ({"uri": f"https://{DOMAIN}"}, "uri_mismatch", "not on this server's origin"),
        ({"uri": "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"}, "uri_mismatch", "not on this server's origin"),
    ],
)
def test_login_refuses_an_unbounded_or_foreign_message(
    client: TestClient, ledger_env: Any, kwargs: dict[str, Any], code: str, says: str
) -> None:
    message = _message(client, ledger_env, **kwargs)
    response = _login(client, message, sign(ledger_env.merchant_account(SIGNER), message))
    assert response.status_code == 401, response.text
    error = _error(response)
    assert error["code"] == code and says in error["message"], error


@pytest.mark.parametrize(
    "kwargs",
    [
        {"issued_in": timedelta(seconds=20)},  # a signer's clock a little fast
        {"issued_in": -timedelta(minutes=1), "expires_in": None},  # no Expiration Time, recent
        {"expires_in": timedelta(minutes=10)},  # the longest lifetime accepted
        {"uri": f"http://{DOMAIN}/dashboard?from=wallet"},  # any URI on the origin
    ],
)
def test_login_accepts_messages_within_the_bounds(client: TestClient, ledger_env: Any, kwargs: dict) -> None:
    message = _message(client, ledger_env, **kwargs)
    response = _login(client, message, sign(ledger_env.merchant_account(SIGNER), message))
    assert response.status_code == 200, response.text


# -- 4. the signature must be canonical ---------------------------------------------------


def _split(signature: str) -> tuple[int, int, int]:
    raw = bytes.fromhex(signature[2:])
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]


def _join(r: int, s: int, v: int) -> str:
    return "0x" + (r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])).hex()


def test_login_refuses_a_malleated_high_s_signature(client: TestClient, ledger_env: Any) -> None:
    account = ledger_env.merchant_account(SIGNER)
    message = _message(client, ledger_env)
    r, s, v = _split(sign(account, message))
    malleated = _join(r, N - s, 55 - v)  # (r, n - s) with the other recovery id: the same signer
    assert Account.recover_message(encode_defunct(text=message), signature=malleated) == account.address
    response = _login(client, message, malleated)
    assert response.status_code == 401, response.text
    error = _error(response)
    assert error["code"] == "malleable_signature" and "EIP-2" in error["message"]
    # the canonical signature of the same message still signs in: the nonce was not burnt
    assert _login(client, message, _join(r, s, v)).status_code == 200


@pytest.mark.parametrize("v", [29, 37, 38, 255])
def test_login_refuses_a_re_encoded_recovery_id(client: TestClient, ledger_env: Any, v: int) -> None:
    message = _message(client, ledger_env)
    r, s, _v = _split(sign(ledger_env.merchant_account(SIGNER), message))
    response = _login(client, message, _join(r, s, v))
    assert response.status_code == 401, response.text
    error = _error(response)
    assert error["code"] == "invalid_signature_v" and f"v is {v}" in error["message"]


def test_login_accepts_recovery_ids_0_and_1(client: TestClient, ledger_env: Any) -> None:
    message = _message(client, ledger_env)
    r, s, v = _split(sign(ledger_env.merchant_account(SIGNER), message))
    response = _login(client, message, _join(r, s, v - 27))
    assert response.status_code == 200, response.text
