"""Sign-in, merchant routes, role checks and the one-merchant-cannot-see-another guarantee."""

from __future__ import annotations

import itertools
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import Depends

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import NonceStore, Principal, SessionTokens, require_role
from api.deps import ApiConfig
from ledger.accounts import DEV_ROLE_INDEX, dev_account
from ledger.roles import Role
from ledger.store import Store
from tests.api.conftest import DOMAIN, sign, siwe_message

A, B = 0, 1  # merchants bound to dev accounts 10 and 11
DISPUTER = 4  # the only merchant whose on-chain state these tests change


def _chain_id(env: Any) -> int:
    return env.contracts.chain.chain_id


def _error(response: Any) -> dict[str, str]:
    """The error body: code and message, and a hint where the raise site gives one (the relay's refusals)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "hint"}, body
    assert body["error"].get("hint", "-"), body
    return body["error"]


# -- sign-in ------------------------------------------------------------------------


def test_login_merchant_returns_its_on_chain_key(login: Any, ledger_env: Any) -> None:
    body = login(ledger_env.merchant_account(A), fresh=True)
    assert body["merchantKey"] == "0x" + ledger_env.merchant_key(A).hex()
    assert body["roles"] == []
    assert body["tokenType"] == "bearer"


def test_login_staff_account_gets_its_roles(login: Any) -> None:
    body = login(dev_account(DEV_ROLE_INDEX[Role.AUDITOR]))
    assert body["roles"] == ["AUDITOR_ROLE"]
    assert body["merchantKey"] is None


def _attempt(client: TestClient, account: Any, env: Any, **kwargs: Any) -> Any:
    nonce = client.get("/auth/nonce").json()["nonce"]
    message = siwe_message(
        account.address, kwargs.pop("nonce", nonce), chain_id=kwargs.pop("chain_id", _chain_id(env)), **kwargs
    )
    return client.post("/auth/login", json={"message": message, "signature": sign(account, message)})


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"domain": "evil.example"}, 401, "domain_mismatch"),
        ({"chain_id": 1}, 401, "chain_mismatch"),
        ({"nonce": "neverIssued123"}, 401, "invalid_nonce"),
        (
            {"issued_at": datetime.now(UTC) - timedelta(minutes=10), "expires_in": timedelta(minutes=1)},
            401,
            "message_expired",
        ),
        ({"not_before": datetime.now(UTC) + timedelta(hours=1)}, 401, "message_not_yet_valid"),
    ],
)
def test_login_refuses_bad_messages(client: TestClient, ledger_env: Any, kwargs: dict, status: int, code: str) -> None:
    response = _attempt(client, ledger_env.merchant_account(A), ledger_env, **kwargs)
    assert response.status_code == status, response.text
    assert _error(response)["code"] == code


def test_login_nonce_is_single_use(client: TestClient, ledger_env: Any) -> None:
    account = ledger_env.merchant_account(A)
    nonce = client.get("/auth/nonce").json()["nonce"]
    message = siwe_message(account.address, nonce, chain_id=_chain_id(ledger_env))
    body = {"message": message, "signature": sign(account, message)}
    assert client.post("/auth/login", json=body).status_code == 200
    replay = client.post("/auth/login", json=body)
    assert replay.status_code == 401 and _error(replay)["code"] == "invalid_nonce"


def test_login_refuses_signature_of_another_account(client: TestClient, ledger_env: Any) -> None:
    a, b = ledger_env.merchant_account(A), ledger_env.merchant_account(B)
    nonce = client.get("/auth/nonce").json()["nonce"]
    message = siwe_message(a.address, nonce, chain_id=_chain_id(ledger_env))
    response = client.post("/auth/login", json={"message": message, "signature": sign(b, message)})
    assert response.status_code == 401 and _error(response)["code"] == "invalid_signature"


def test_login_refuses_unbound_account(client: TestClient, ledger_env: Any) -> None:
    response = _attempt(client, dev_account(19), ledger_env)
    assert response.status_code == 403 and _error(response)["code"] == "unknown_account"


@pytest.mark.parametrize(
    "message",
    ["hello", "x" * 4000, "testserver wants you to sign in with your Ethereum account:\n0xnope\n"],
)
def test_login_refuses_malformed_messages(client: TestClient, message: str) -> None:
    response = client.post("/auth/login", json={"message": message, "signature": "0x" + "11" * 65})
    assert response.status_code == 400 and _error(response)["code"] == "invalid_message"


def test_login_refuses_non_canonical_message(client: TestClient, ledger_env: Any) -> None:
    account = ledger_env.merchant_account(A)
    nonce = client.get("/auth/nonce").json()["nonce"]
    message = siwe_message(account.address, nonce, chain_id=_chain_id(ledger_env)) + "\n"
    response = client.post("/auth/login", json={"message": message, "signature": sign(account, message)})
    assert response.status_code == 400


def test_tokens_forged_expired_or_other_chain_are_refused() -> None:
    now = [1_000_000.0]
    tokens = SessionTokens(b"k" * 32, ttl_seconds=900, clock=lambda: now[0])
    token, _ = tokens.issue(Principal("0x" + "11" * 20, frozenset({Role.AUDITOR})), chain_id=31337)
    assert tokens.verify(token, 31337).roles == {Role.AUDITOR}
    payload, mac = token.split(".")
    for bad in (payload + "." + mac[:-2] + "AA", payload[:-2] + "." + mac, "garbage", ""):
        with pytest.raises(Exception, match=r"invalid|malformed"):
            tokens.verify(bad, 31337)
    with pytest.raises(Exception, match="another chain"):
        tokens.verify(token, 1)
    with pytest.raises(Exception, match="invalid"):
        SessionTokens(b"j" * 32, 900).verify(token, 31337)
    now[0] += 901
    with pytest.raises(Exception, match="expired"):
        tokens.verify(token, 31337)


def test_nonces_expire_and_are_single_use(tmp_path: Any) -> None:
    now = [0.0]
    with Store.open(f"sqlite:///{tmp_path / 'nonces.db'}") as store:
        nonces = NonceStore(store, ttl_seconds=60, clock=lambda: now[0])
        first, _ = nonces.issue()
        second, _ = nonces.issue()
        assert nonces.is_live(first) and nonces.is_live(second)
        assert nonces.consume(first) and not nonces.consume(first)
        now[0] = 61
        assert not nonces.is_live(second) and not nonces.consume(second)
        full = NonceStore(store, ttl_seconds=60, clock=lambda: now[0], capacity=1)
        full.issue()
        with pytest.raises(Exception, match="too many outstanding"):
            full.issue()


def test_a_nonce_from_one_api_process_signs_in_at_another(api_app: Any, ledger_env: Any) -> None:
    """Two apps over the same ledger (as two workers are): nonce from one, login at the other, once."""
    other = create_app(ledger_env.settings, ApiConfig(domain=DOMAIN))
    account = ledger_env.merchant_account(A)
    with TestClient(api_app) as first, TestClient(other) as second:
        nonce = first.get("/auth/nonce").json()["nonce"]
        message = siwe_message(account.address, nonce, chain_id=_chain_id(ledger_env))
        body = {"message": message, "signature": sign(account, message)}
        accepted = second.post("/auth/login", json=body)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["merchantKey"] == "0x" + ledger_env.merchant_key(A).hex()
        replayed = first.post("/auth/login", json=body)
        assert replayed.status_code == 401 and _error(replayed)["code"] == "invalid_nonce"


def test_bad_bearer_tokens_are_401(client: TestClient) -> None:
    for header in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic Zm9vOmJhcg=="}):
        response = client.get("/merchant/me", headers=header)
        assert response.status_code == 401, header
        _error(response)


def test_secret_file_is_private(api_app: Any, ledger_env: Any, login: Any) -> None:
    login(ledger_env.merchant_account(A))
    path = ledger_env.settings.home / "api-secret.key"
    assert path.stat().st_mode & 0o777 == 0o600


# -- require_role (the dependency the auditor/regulator routes use) -------------------


def test_require_role_checks_the_chain(ledger_env: Any, login: Any) -> None:
    app = create_app(ledger_env.settings, ApiConfig(domain=DOMAIN))

    @app.get("/_probe/auditor")
    def probe(principal: Principal = Depends(require_role(Role.AUDITOR))) -> dict[str, Any]:
        return {"address": principal.address, "roles": sorted(r.value for r in principal.roles)}

    with TestClient(app, raise_server_exceptions=False) as c:
        auditor = dev_account(DEV_ROLE_INDEX[Role.AUDITOR])
        # tokens from the session app are valid here: same secret file, same chain
        ok = c.get("/_probe/auditor", headers={"Authorization": f"Bearer {login(auditor)['token']}"})
        assert ok.status_code == 200 and ok.json()["address"] == auditor.address
        assert "AUDITOR_ROLE" in ok.json()["roles"]
        for account in (ledger_env.merchant_account(A), dev_account(DEV_ROLE_INDEX[Role.REGULATOR])):
            refused = c.get("/_probe/auditor", headers={"Authorization": f"Bearer {login(account)['token']}"})
            assert refused.status_code == 403 and _error(refused)["code"] == "missing_role"


# -- merchant routes -------------------------------------------------------------------


def test_me(client: TestClient, auth_header: Any, ledger_env: Any) -> None:
    body = client.get("/merchant/me", headers=auth_header(ledger_env.merchant_account(A))).json()
    assert body == {
        "merchantKey": "0x" + ledger_env.merchant_key(A).hex(),
        "account": ledger_env.merchant_account(A).address,
        "kind": "merchant",
        "status": "active",
    }


def test_history_is_a_hash_chain_with_verifying_bundles(client: TestClient, auth_header: Any, ledger_env: Any) -> None:
    body = client.get("/merchant/history", headers=auth_header(ledger_env.merchant_account(A))).json()
    decisions = body["decisions"]
    assert [d["round"] for d in decisions] == sorted(d["round"] for d in decisions)
    assert len(decisions) == len(ledger_env.rounds)
    assert decisions[0]["prevLeafHash"] == "0x" + "00" * 32
    for earlier, later in itertools.pairwise(decisions):
        assert later["prevLeafHash"] == earlier["leafHash"]
    for d in decisions:
        assert d["anchored"] and d["bundle"]["leaf"]["merchant_key"] == body["merchantKey"]
        assert d["bundle"]["leafHash"] == d["leafHash"]
        assert len(d["products"]["zh"]) == len(d["products"]["en"])
        assert all(r["zh"] and r["en"] for r in d["reasons"])
        verdict = client.post("/verify", json=d["bundle"]).json()
        assert verdict["ok"], verdict


def test_decision_by_round(client: TestClient, auth_header: Any, ledger_env: Any) -> None:
    header = auth_header(ledger_env.merchant_account(A))
    round_id = ledger_env.rounds[-1].round_id
    body = client.get(f"/merchant/decisions/{round_id}", headers=header).json()
    assert body["round"] == round_id and body["bundle"]["chain"]["round"] == round_id
    missing = client.get("/merchant/decisions/999999", headers=header)
    assert missing.status_code == 404 and _error(missing)["code"] == "not_found"
    for bad in ("-1", "abc", str(2**64), "1.5"):
        response = client.get(f"/merchant/decisions/{bad}", headers=header)
        assert response.status_code == 422, (bad, response.text)
        _error(response)


def test_staff_are_not_merchants(client: TestClient, auth_header: Any) -> None:
    response = client.get("/merchant/history", headers=auth_header(dev_account(DEV_ROLE_INDEX[Role.AUDITOR])))
    assert response.status_code == 403 and _error(response)["code"] == "not_a_merchant"


# -- disputes ----------------------------------------------------------------------


def _signed_dispute(client: TestClient, header: dict, account: Any, round_id: int, reason: str) -> str:
    prepared = client.post("/merchant/disputes/prepare", json={"round": round_id, "reason": reason}, headers=header)
    assert prepared.status_code == 200, prepared.text
    tx = dict(prepared.json()["transaction"])
    tx.pop("from")
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def test_dispute_prepare_sign_relay_and_record(client: TestClient, auth_header: Any, ledger_env: Any) -> None:
    account = ledger_env.merchant_account(DISPUTER)
    header = auth_header(account)
    round_id = ledger_env.rounds[0].round_id
    raw = _signed_dispute(client, header, account, round_id, "sales missing")
    filed = client.post("/merchant/disputes", json={"signedTransaction": raw}, headers=header)
    assert filed.status_code == 201, filed.text
    body = filed.json()
    assert body["round"] == round_id and body["status"] == "open"
    assert body["merchantKey"] == "0x" + ledger_env.merchant_key(DISPUTER).hex()
    stored = ledger_env.store.get_dispute(body["disputeId"])
    assert stored.reason == "sales missing" and stored.filed_tx is not None
    chain_view = ledger_env.contracts.ledger.functions.dispute(body["disputeId"]).call()
    assert bytes(chain_view[0]) == ledger_env.merchant_key(DISPUTER)
    listed = client.get("/merchant/disputes", headers=header).json()
    assert [d["disputeId"] for d in listed] == [body["disputeId"]]
    # one open dispute per leaf: the contract would refuse a second, so prepare does
    again = client.post("/merchant/disputes/prepare", json={"round": round_id, "reason": "again"}, headers=header)
    assert again.status_code == 409 and _error(again)["code"] == "dispute_refused"


@pytest.mark.parametrize("raw", ["0x", "0x00", "0x" + "ff" * 100, "0xabc"])
def test_dispute_garbage_transactions_are_4xx(client: TestClient, auth_header: Any, ledger_env: Any, raw: str) -> None:
    response = client.post(
        "/merchant/disputes", json={"signedTransaction": raw}, headers=auth_header(ledger_env.merchant_account(A))
    )
    assert 400 <= response.status_code < 500, response.text
    _error(response)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"chainId": 1}, 400, "wrong_chain_id"),
        ({"chainId": None}, 400, "no_chain_id"),
        ({"gas": 21_000}, 400, "insufficient_gas"),
        ({"value": 1}, 400, "nonzero_value"),
        ({"nonce": +1}, 409, "future_nonce"),
        ({"gasPrice": -1}, 409, "underpriced"),
    ],
    ids=["chain-1", "no-chain-id", "21000-gas", "value", "future-nonce", "underpriced"],
)
def test_dispute_relay_refusals_are_4xx_with_a_hint(
    client: TestClient, auth_header: Any, ledger_env: Any, change: dict, status: int, code: str
) -> None:
    """A prepared dispute with one field changed: refused at once, with its code and a hint to prepare again."""
    account = ledger_env.merchant_account(A)
    header = auth_header(account)
    round_id = ledger_env.rounds[-1].round_id
    prepared = client.post("/merchant/disputes/prepare", json={"round": round_id, "reason": "r"}, headers=header)
    tx = dict(prepared.json()["transaction"])
    tx.pop("from")
    for field, value in change.items():
        if value is None:
            tx.pop(field)
        elif field in ("nonce", "gasPrice"):
            tx[field] += value  # relative to the prepared one: the node's next nonce, its gas price
        else:
            tx[field] = value
    raw = "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()
    response = client.post("/merchant/disputes", json={"signedTransaction": raw}, headers=header)
    assert response.status_code == status, response.text
    error = _error(response)
    assert error["code"] == code and "/merchant/disputes/prepare" in error["hint"]
    listed = client.get("/merchant/disputes", headers=header).json()
    assert [d for d in listed if d["status"] == "pending"] == []  # nothing was relayed


# -- merchant A against merchant B's key, ids and rounds ----------------------------


def test_merchant_cannot_reach_another_merchants_records(client: TestClient, auth_header: Any, ledger_env: Any) -> None:
    a, b = ledger_env.merchant_account(A), ledger_env.merchant_account(B)
    key_a, key_b = "0x" + ledger_env.merchant_key(A).hex(), "0x" + ledger_env.merchant_key(B).hex()
    header_a = auth_header(a)
    leak = ledger_env.merchant_key(B).hex()

    def no_leak(response: Any) -> None:
        assert leak not in response.text.lower(), response.request.url

    # B's key and id as query parameters are ignored: A's own records come back.
    for params in (
        {"merchant_key": key_b},
        {"merchantKey": key_b},
        {"merchant_id": ledger_env.merchant_id(B)},
        {"account": b.address},
    ):
        for path in ("/merchant/me", "/merchant/history", "/merchant/disputes"):
            response = client.get(path, params=params, headers=header_a)
            assert response.status_code == 200
            no_leak(response)
    # B's rounds: A sees its own decision in that round, never B's.
    for decision in ledger_env.store.decisions_for_merchant(ledger_env.merchant_key(B)):
        response = client.get(f"/merchant/decisions/{decision.round_id}", headers=header_a)
        assert response.status_code == 200
        assert response.json()["bundle"]["leaf"]["merchant_key"] == key_a
        no_leak(response)
    # A's token with B's signed dispute transaction: refused (wrong signer).
    raw_b = _signed_dispute(client, auth_header(b), b, ledger_env.rounds[-1].round_id, "b's dispute")
    response = client.post("/merchant/disputes", json={"signedTransaction": raw_b}, headers=header_a)
    assert response.status_code == 403 and _error(response)["code"] == "wrong_signer"
    # A signs a dispute of B's leaf: refused before it reaches the chain.
    contracts = ledger_env.contracts
    round_id = ledger_env.rounds[-1].round_id
    leaf_b = ledger_env.store.decision(round_id, ledger_env.merchant_key(B)).to_leaf()
    proof_b = ledger_env.store.proof(round_id, ledger_env.merchant_key(B))
    tx = contracts.ledger.functions.fileDispute(leaf_b.to_abi_tuple(), proof_b, "not mine").build_transaction(
        {
            "from": a.address,
            "chainId": contracts.chain.chain_id,
            "nonce": contracts.chain.w3.eth.get_transaction_count(a.address),
            "gasPrice": 10**9,
            "gas": 500_000,
        }
    )
    tx.pop("from")
    raw = "0x" + bytes(a.sign_transaction(tx).raw_transaction).hex()
    response = client.post("/merchant/disputes", json={"signedTransaction": raw}, headers=header_a)
    assert response.status_code == 403 and _error(response)["code"] == "not_your_decision"
    # and nothing of B's is listed as A's
    assert all(d["merchantKey"] == key_a for d in client.get("/merchant/disputes", headers=header_a).json())
