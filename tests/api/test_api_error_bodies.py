"""Error bodies through the real app: a stable code, a message a person can act on, hex for bytes, no library text.

The probe found a Python bytes repr in a dispute's 409, urllib3's own message in
``/health`` and an empty reason for a message that is not EIP-4361; the sweep found
web3's repr of a JSON-RPC error in a relayed dispute's 409, urllib3's message in the
regulator's ``sync_error`` and the server's file path in an altered document's 409.
The disputes here change chain state, so this module has its own node and ledger.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from ledger_support import LedgerEnv, free_port, make_ledger_env

from api.app import create_app
from api.client import sign_in
from api.deps import ApiConfig
from api.routes.public import BUNDLE_EXAMPLE
from api.routes.regulator import sync_index
from ledger.accounts import DEV_ROLE_INDEX, RoleAccounts, dev_account
from ledger.chain import Chain
from ledger.config import Settings
from ledger.deployment import AddressBook, deploy
from ledger.documents import DocumentStore, document_path
from ledger.node import LocalNode
from ledger.roles import Role
from tests.api.conftest import DOMAIN, siwe_message

#: Text that means a library's message, a Python repr or a traceback reached a caller.
LEAKS = (
    "b'",
    'b"',
    "\\x",
    "HTTPConnectionPool",
    "urllib3",
    "Max retries",
    "object at 0x",
    "Errno",
    "{'code'",
    "validation error for",
    "errors.pydantic.dev",
    "Traceback",
)


def assert_clean(text: str) -> None:
    leaked = [leak for leak in LEAKS if leak in text]
    assert not leaked, (leaked, text)


def _error(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    assert body["error"]["code"] and body["error"]["message"], body
    assert_clean(response.text)
    return body["error"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerEnv]:
    node = LocalNode(tmp_path_factory.mktemp("error-bodies-anvil"), port=free_port())
    node.start()
    try:
        ledger = make_ledger_env(tmp_path_factory.mktemp("error-bodies-home"), node.url, merchants=50, rounds=2)
        yield ledger
        ledger.oracle.close()
    finally:
        node.stop()


@pytest.fixture(scope="module")
def client(env: LedgerEnv) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings, ApiConfig(domain=DOMAIN)), raise_server_exceptions=False) as c:
        yield c


def _header(client: TestClient, account: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign_in(client, account)['token']}"}


# -- disputes: bytes as hex, the node's own words ----------------------------------------------


def test_dispute_refusals_show_hashes_in_hex_and_the_nodes_words(client: TestClient, env: LedgerEnv) -> None:
    account = env.merchant_account(0)
    header = _header(client, account)
    first, second = (r.round_id for r in env.rounds)

    prepared = client.post(
        "/merchant/disputes/prepare", json={"round": first, "reason": "sales missing"}, headers=header
    )
    assert prepared.status_code == 200, prepared.text
    tx = dict(prepared.json()["transaction"])
    tx.pop("from")
    leaf_hash = prepared.json()["leafHash"]

    def signed(**changes: Any) -> str:
        return "0x" + bytes(account.sign_transaction({**tx, **changes}).raw_transaction).hex()

    filed = client.post("/merchant/disputes", json={"signedTransaction": signed()}, headers=header)
    assert filed.status_code == 201, filed.text

    # The leaf's dispute is open: both steps refuse a second, naming the leaf hash in hex.
    again = client.post("/merchant/disputes/prepare", json={"round": first, "reason": "again"}, headers=header)
    assert again.status_code == 409
    error = _error(again)
    assert error["code"] == "dispute_refused" and f"DisputeAlreadyOpen({leaf_hash})" in error["message"], error
    relayed = client.post(
        "/merchant/disputes", json={"signedTransaction": signed(nonce=tx["nonce"] + 1)}, headers=header
    )
    assert relayed.status_code == 409
    error = _error(relayed)
    assert error["code"] == "dispute_refused" and f"DisputeAlreadyOpen({leaf_hash})" in error["message"], error

    # A dispute of the other round's leaf with the nonce just used: the node says no, in its words.
    other = client.post("/merchant/disputes/prepare", json={"round": second, "reason": "late"}, headers=header)
    assert other.status_code == 200, other.text
    stale = dict(other.json()["transaction"], nonce=tx["nonce"])
    stale.pop("from")
    raw = "0x" + bytes(account.sign_transaction(stale).raw_transaction).hex()
    refused = client.post("/merchant/disputes", json={"signedTransaction": raw}, headers=header)
    assert 400 <= refused.status_code < 500, refused.text
    assert "nonce" in _error(refused)["message"].lower()


# -- /health and other routes with the node down or gone ------------------------------------------


def test_health_without_a_node_reports_codes_and_no_library_text(env: LedgerEnv) -> None:
    closed = env.settings.model_copy(update={"rpc_url": f"http://127.0.0.1:{free_port()}"})
    with TestClient(create_app(closed, ApiConfig(domain=DOMAIN)), raise_server_exceptions=False) as c:
        response = c.get("/health")
    assert response.status_code == 200
    assert_clean(response.text)
    health = response.json()
    assert health["chain"]["ok"] is False and health["chain"]["code"] == "chain_unavailable"
    assert health["chain"]["error"] == "the chain node does not answer"  # no URL: it may carry an API key
    assert closed.rpc_url not in response.text
    assert health["contracts"]["ok"] is False and health["contracts"]["code"] == "chain_unavailable"
    assert health["store"]["ok"] is True


@pytest.fixture
def node_that_goes_away(tmp_path: Path) -> Iterator[tuple[LocalNode, Settings]]:
    """A real node with the contracts deployed, and settings pointing at it; the test stops it."""
    node = LocalNode(tmp_path / "anvil", port=free_port())
    node.start()
    try:
        settings = Settings(home=tmp_path / "home", rpc_url=node.url, chain_id=31337, embedded_node=False)
        deploy(Chain.connect(node.url), RoleAccounts.development(), AddressBook(settings.address_book_path), 60)
        yield node, settings
    finally:
        node.stop()


def test_when_the_node_goes_away_bodies_say_so_in_the_apis_words(
    node_that_goes_away: tuple[LocalNode, Settings],
) -> None:
    node, node_settings = node_that_goes_away
    app = create_app(node_settings, ApiConfig(domain=DOMAIN))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/health").json()["chain"]["ok"] is True  # connected: the binding is kept
        assert sync_index(app.state.services) == (True, None)
        node.stop()

        # The regulator's events say why they are not fresh, in a body: the API's words, not urllib3's.
        synced, why = sync_index(app.state.services)
        assert synced is False and why is not None
        assert_clean(why)
        assert why.startswith("the chain node does not answer"), why

        health = c.get("/health")
        assert_clean(health.text)
        assert health.json()["chain"] == {
            "ok": False,
            "code": "chain_unavailable",
            "error": "the chain node does not answer (ConnectionError)",
        }
        verify = c.post("/verify", json=BUNDLE_EXAMPLE)
        assert verify.status_code == 503 and _error(verify)["code"] == "chain_unavailable"
        # /health dropped the binding: reconnecting fails with the API's own message, not the URL
        synced, why = sync_index(app.state.services)
        assert synced is False and why is not None and why.startswith("the chain node does not answer"), why
        assert node_settings.rpc_url not in why


# -- sign-in messages that are not EIP-4361 -----------------------------------------------------


def _valid_message(env: LedgerEnv) -> str:
    return siwe_message(env.merchant_account(1).address, "k3R9fQ2xLmPaQ7w1", chain_id=31337)


@st.composite
def not_quite_eip4361(draw: st.DrawFn, valid: str) -> str:
    """Random text, or a valid message with a line dropped, repeated, swapped, altered or added."""
    if draw(st.booleans()):
        return draw(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=300))
    lines = valid.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    op = draw(st.sampled_from(["drop", "repeat", "swap", "alter", "add", "truncate"]))
    if op == "drop":
        del lines[i]
    elif op == "repeat":
        lines.insert(i, lines[i])
    elif op == "swap":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "alter":
        key, sep, _value = lines[i].partition(": ")
        lines[i] = key + sep + draw(st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=40))
    elif op == "add":
        lines.insert(i, draw(st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=40)))
    else:
        lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
    return "\n".join(lines)


def test_a_message_that_is_not_eip4361_gets_a_reason(client: TestClient, env: LedgerEnv) -> None:
    valid = _valid_message(env)
    prefix, suffix = "not an EIP-4361 message: ", "; build it from GET /auth/nonce's"

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(not_quite_eip4361(valid))
    def check(message: str) -> None:
        response = client.post("/auth/login", json={"message": message, "signature": "0x" + "11" * 65})
        assert 400 <= response.status_code < 500, response.text
        error = _error(response)
        if error["code"] == "invalid_message" and error["message"].startswith(prefix):
            reason = error["message"][len(prefix) :].partition(suffix)[0]
            assert reason.strip(), error

    check()


# -- the auditor's documents ------------------------------------------------------------------


def test_an_altered_document_is_named_by_its_hash_not_the_servers_path(client: TestClient, env: LedgerEnv) -> None:
    digest = DocumentStore(env.settings.documents_dir).put(b'{"an": "audit report"}')
    path = document_path(env.settings.documents_dir, digest)
    path.write_bytes(b'{"an": "altered report"}')
    header = _header(client, dev_account(DEV_ROLE_INDEX[Role.AUDITOR]))
    response = client.get(f"/auditor/documents/0x{digest.hex()}", headers=header)
    assert response.status_code == 409
    error = _error(response)
    assert error["code"] == "document_altered" and f"sha256:{digest.hex()}" in error["message"]
    assert str(env.settings.home) not in response.text and json.dumps(str(path)) not in response.text
