"""One exception root: every error class derives from CreditLedgerError, with a code and a hint.

* every exception class defined in the project's packages derives from
  :class:`foundation.errors.CreditLedgerError` and has a snake_case ``code``, a one-line
  ``hint`` and an ``exit_code`` of 1 (failure) or 2 (usage or input error);
* codes are unique per class. The rule, decided here: a class that defines no code of
  its own deliberately shares its parent's (callers cannot tell them apart by code, and
  need not); a class may restate a base class's code (``BadRequest`` restates
  ``ApiError``'s); and the API's HTTP error classes that stand for a domain error keep
  the code the API already gives that domain error (:data:`ALIASES`). Any other repeat
  is a mistake: two different conditions under one name;
* messages show bytes as 0x hex, never as a Python bytes repr;
* the CLI reports an error once, ``error[code]: message`` and ``hint: ...`` on stderr,
  exiting 2 for an input error and 1 for a failure; the API turns one into JSON.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from ledger_support import free_port

from foundation.errors import EXIT_FAILED, EXIT_INPUT, CreditLedgerError, shown

PACKAGES = ("foundation", "ledger", "sources", "scoring", "oracle", "audit", "api", "credit_ledger")
#: Not imported: alembic's migration scripts run against a database when imported.
SKIP_MODULES = ("ledger.migrations",)
#: Deliberate shared codes: the API's HTTP form of a domain error keeps the code the API returns for it.
ALIASES = {
    frozenset({"api.errors.NotFoundError", "ledger.store.errors.NotFound"}),  # both answer 404 not_found
    frozenset({"api.routes.auditor.AlteredDocument", "ledger.documents.DocumentAltered"}),  # 409 document_altered
}
SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
REPO = Path(__file__).resolve().parents[2]


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        pkg = importlib.import_module(package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
            if not info.name.startswith(SKIP_MODULES):
                names.append(info.name)
    return names


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == name:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


CLASSES = _exception_classes()


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_the_walk_finds_the_families() -> None:
    names = {_name(c) for c in CLASSES}
    for expected in (
        "ledger.chain.TransactionReverted",
        "ledger.store.errors.InvalidData",
        "scoring.errors.PolicyError",
        "api.errors.ServiceUnavailable",
        "audit.replay.ReplayError",
        "oracle.service.ModelMismatch",
    ):
        assert expected in names
    assert len(CLASSES) >= 55


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_every_error_derives_from_the_root_with_code_and_hint(cls: type[BaseException]) -> None:
    assert issubclass(cls, CreditLedgerError), f"{_name(cls)} does not derive from CreditLedgerError"
    if cls is CreditLedgerError:
        return
    assert cls.code != CreditLedgerError.code and SNAKE.fullmatch(cls.code), f"{_name(cls)}: code {cls.code!r}"
    assert cls.hint.strip() and "\n" not in cls.hint, f"{_name(cls)}: hint {cls.hint!r}"
    assert cls.exit_code in (EXIT_FAILED, EXIT_INPUT)


def test_codes_are_unique_per_class() -> None:
    owners: dict[str, list[type]] = {}
    for cls in CLASSES:
        if issubclass(cls, CreditLedgerError) and cls is not CreditLedgerError and "code" in vars(cls):
            owners.setdefault(cls.code, []).append(cls)
    clashes = []
    for code, classes in owners.items():
        for i, a in enumerate(classes):
            for b in classes[i + 1 :]:
                restated = issubclass(a, b) or issubclass(b, a)
                if not restated and frozenset({_name(a), _name(b)}) not in ALIASES:
                    clashes.append(f"{code}: {_name(a)} and {_name(b)}")
    assert not clashes


def test_scoring_imports_only_foundation_of_the_project() -> None:
    for path in (REPO / "scoring").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) (ledger|oracle|api|audit|sources|credit_ledger)\b", text, re.M), path


# -- messages -------------------------------------------------------------------------


def test_shown_writes_bytes_as_hex() -> None:
    assert shown(b"}\xac6") == "0x7dac36"
    assert shown((b"\x01", "a", [bytearray(b"\xff")]), None) == "(0x01, 'a', [0xff])"
    assert shown("x" * 100) == repr("x" * 100)[:80]


def test_revert_arguments_are_hex_not_a_bytes_repr() -> None:
    from eth_abi import encode
    from web3.exceptions import ContractCustomError

    from ledger.chain import Chain, ErrorSignature, describe_revert

    leaf_hash = b"}\xac6" + bytes(29)
    assert describe_revert("DisputeAlreadyOpen", (leaf_hash,)) == f"DisputeAlreadyOpen(0x{leaf_hash.hex()})"
    assert describe_revert("", ()) == "without a reason"
    assert describe_revert("Error", ("not the owner",)) == "Error('not the owner')"

    selector = bytes.fromhex("aabbccdd")
    data = "0x" + (selector + encode(["bytes32"], [leaf_hash])).hex()
    chain = Chain(None, 31337)  # type: ignore[arg-type]  # no node: only the revert decoding runs
    chain.__dict__["errors"] = {selector: ErrorSignature("DisputeAlreadyOpen", ("bytes32",))}
    reverted = chain.decode_revert(ContractCustomError(data, data=data), "fileDispute")
    assert reverted.args_ == (leaf_hash,)  # callers keep the decoded values
    assert str(reverted) == f"fileDispute reverted: DisputeAlreadyOpen(0x{leaf_hash.hex()})"
    assert "b'" not in str(reverted) and reverted.code == "transaction_reverted"


def test_input_errors_name_bytes_in_hex() -> None:
    from ledger.leaf import LeafError, _as_uint
    from ledger.merkle import MerkleError, process_proof
    from ledger.store.convert import address
    from ledger.store.errors import InvalidData

    for fn, error in (
        (lambda: _as_uint("score", b"\x01\x02", 1000), LeafError),
        (lambda: process_proof(b"}\xac6", []), MerkleError),
        (lambda: address(b"\x01" * 3, "account"), InvalidData),
    ):
        with pytest.raises(error) as info:
            fn()
        assert "b'" not in str(info.value) and "0x" in str(info.value), str(info.value)


# -- the API --------------------------------------------------------------------------


def _probe_app(error: Exception) -> TestClient:
    from api.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise error

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (
            lambda: __import__("ledger.indexer").indexer.InvalidQuery("from_block 9 is after to_block 1"),
            400,
            "invalid_query",
        ),
        (lambda: __import__("scoring.errors").errors.PolicyError("score knots must rise"), 400, "policy_invalid"),
        (lambda: __import__("ledger.indexer").indexer.IndexerUnavailable("gave up"), 503, "indexer_unavailable"),
        (lambda: __import__("ledger.indexer").indexer.ChainReorganised("block 7 is gone"), 502, "chain_reorganised"),
        (lambda: __import__("oracle.service").service.RootConflict("roots differ"), 500, "root_conflict"),
    ],
)
def test_api_maps_project_errors_to_json_with_hint(
    make: Callable[[], CreditLedgerError], status: int, code: str
) -> None:
    error = make()
    response = _probe_app(error).get("/boom")
    assert response.status_code == status
    assert response.json() == {"error": {"code": code, "message": error.message, "hint": error.hint}}


def test_api_specific_handlers_keep_their_codes() -> None:
    from api.errors import Conflict
    from ledger.chain import NodeUnreachable
    from ledger.deployment import NotDeployed

    conflict = _probe_app(Conflict("already open", code="dispute_refused")).get("/boom")
    assert conflict.status_code == 409 and conflict.json() == {
        "error": {"code": "dispute_refused", "message": "already open"}
    }
    down = _probe_app(NodeUnreachable("no node")).get("/boom")
    assert down.status_code == 503 and down.json()["error"]["code"] == "chain_unavailable"
    missing = _probe_app(NotDeployed("nothing deployed")).get("/boom")
    assert missing.status_code == 503 and missing.json()["error"]["code"] == "not_deployed"


def test_health_reports_codes_never_a_library_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    from api.app import create_app
    from api.deps import ApiConfig
    from ledger.config import Settings

    monkeypatch.setenv("CREDIT_LEDGER_RPC_URL", f"http://127.0.0.1:{free_port()}")
    app = create_app(Settings.from_env(tmp_path), ApiConfig(domain="testserver"))
    with TestClient(app, raise_server_exceptions=False) as client:
        health = client.get("/health").json()
        assert health["chain"]["ok"] is False and health["chain"]["code"] == "chain_unavailable"
        assert health["chain"]["error"] == "the chain node does not answer"  # the URL stays in the log

        class _DeadNode:  # connected once, then the node went away: requests' own message
            chain_id = 31337

            class w3:
                class eth:
                    @property
                    def block_number(self) -> int:
                        raise requests.ConnectionError(
                            "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded "
                            "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>'))"
                        )

                eth = eth()

        services = app.state.services
        monkeypatch.setattr(services, "chain", lambda: _DeadNode())
        dead = client.get("/health").json()["chain"]
        assert dead == {
            "ok": False,
            "code": "chain_unavailable",
            "error": "the chain node does not answer (ConnectionError)",
        }


def test_login_explains_a_message_that_is_not_eip_4361(tmp_path: Path) -> None:
    from api.app import create_app
    from api.deps import ApiConfig
    from ledger.config import Settings

    app = create_app(Settings.from_env(tmp_path), ApiConfig(domain="testserver"))
    with TestClient(app) as client:
        response = client.post("/auth/login", json={"message": "hello", "signature": "0x" + "11" * 65})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_message"
    assert "line 1 must be '<domain> wants you to sign in with your Ethereum account:'" in error["message"]


# -- the CLI --------------------------------------------------------------------------


def _cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, CREDIT_LEDGER_HOME=str(home), COLUMNS="200", **env)
    return subprocess.run(
        [sys.executable, "-m", "credit_ledger.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_cli_reports_an_input_error_with_code_hint_and_status_2(tmp_path: Path) -> None:
    from ledger.bundle import BundleError

    not_json = tmp_path / "bundle.json"
    not_json.write_text("this is not JSON")
    result = _cli(tmp_path, "verify", str(not_json), "--rpc", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"error[bundle_invalid]: cannot read a JSON bundle from {not_json}")
    assert lines[1] == f"hint: {BundleError.hint}"
    assert result.stdout == ""  # errors go to stderr

    bad_query = _cli(tmp_path, "events", "query", "--from-block", "9", "--to-block", "1")
    assert bad_query.returncode == 2, bad_query.stdout + bad_query.stderr
    assert bad_query.stderr.startswith("error[invalid_query]: from_block 9 is after to_block 1\nhint: ")


def test_cli_reports_a_failure_with_code_hint_and_status_1(tmp_path: Path) -> None:
    from ledger.chain import NodeUnreachable

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = _cli(tmp_path, "deploy", CREDIT_LEDGER_RPC_URL=url)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"error[chain_unavailable]: no JSON-RPC node answers at {url}")
    assert lines[1] == f"hint: {NodeUnreachable.hint}"
    assert "Traceback" not in result.stderr
