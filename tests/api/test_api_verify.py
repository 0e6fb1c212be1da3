"""Proof bundles: built by the API, verified by POST /verify, ledger.bundle and the CLI; tampering always caught."""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from ledger_support import free_port

from api.app import create_app
from api.deps import ApiConfig
from credit_ledger.verify_cmd import app as verify_app
from ledger.bundle import BundleError, parse_bundle, verify_bundle

ALL_CHECKS = ["format", "leaf_hash", "proof", "round", "chain_id", "contract_code",
              "anchored_root", "block", "versions", "on_chain_verify", "anchor_tx"]  # fmt: skip


@pytest.fixture(scope="module")
def bundle(client: TestClient, auth_header: Any, ledger_env: Any) -> dict[str, Any]:
    round_id = ledger_env.rounds[-1].round_id
    response = client.get(f"/merchant/decisions/{round_id}", headers=auth_header(ledger_env.merchant_account(2)))
    assert response.status_code == 200, response.text
    return response.json()["bundle"]


@pytest.fixture(scope="module")
def chain(ledger_env: Any) -> Any:
    return ledger_env.contracts.chain


def test_genuine_bundle_passes_every_check(bundle: dict, chain: Any, ledger_env: Any) -> None:
    report = verify_bundle(bundle, chain, expected_contract=ledger_env.contracts.ledger.address)
    assert report.ok, report.to_dict()
    assert [c.name for c in report.checks] == ALL_CHECKS[:5] + ["contract_pinned"] + ALL_CHECKS[5:]
    assert bundle["chain"]["contract"] == ledger_env.contracts.ledger.address
    assert bundle["chain"]["chainId"] == chain.chain_id


def test_post_verify(client: TestClient, bundle: dict) -> None:
    body = client.post("/verify", json=bundle).json()
    assert body["ok"] and [c["name"] for c in body["checks"]] == ALL_CHECKS


def test_pinned_contract_mismatch_fails(bundle: dict, chain: Any) -> None:
    report = verify_bundle(bundle, chain, expected_contract="0x" + "12" * 20)
    assert report.failed() == ["contract_pinned"]


# -- tampering: every field, hypothesis-chosen -----------------------------------------

HEX32_FIELDS = [
    "leaf.merchant_key",
    "leaf.feature_commitment",
    "leaf.prev_leaf_hash",
    "leafHash",
    "root",
    "chain.anchorTx",
]
INT_FIELDS = {
    "leaf.round": 64, "leaf.score": 16, "leaf.limit_cny": 32, "leaf.product_mask": 32,
    "leaf.model_version": 32, "leaf.policy_version": 32,
    "chain.chainId": 64, "chain.round": 64, "chain.block": 64, "version": 8,
}  # fmt: skip
#: The check that must fail when a field changes.
EXPECTED = {
    "version": "format", "leafHash": "leaf_hash", "root": "proof", "proof": "proof",
    "chain.chainId": "chain_id", "chain.contract": "contract_code", "chain.round": "round",
    "chain.anchorTx": "anchor_tx", "chain.block": "block",
}  # fmt: skip


def _get(d: dict, path: str) -> Any:
    for part in path.split("."):
        d = d[part]
    return d


def _set(d: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        d = d[part]
    d[last] = value


@st.composite
def tampered(draw: st.DrawFn, original: dict) -> tuple[str, dict]:
    bundle = copy.deepcopy(original)
    kind = draw(st.sampled_from(["hex", "int", "reason", "proof", "contract"]))
    if kind == "hex":
        path = draw(st.sampled_from(HEX32_FIELDS))
        old = _get(bundle, path).lower()
        new = draw(st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()).filter(lambda h: h != old))
    elif kind == "int":
        path = draw(st.sampled_from(sorted(INT_FIELDS)))
        old = _get(bundle, path)
        new = draw(st.integers(0, 2 ** INT_FIELDS[path] - 1).filter(lambda v: v != old))
    elif kind == "reason":
        i = draw(st.integers(0, 3))
        path = "leaf.reason_codes"
        new = list(bundle["leaf"]["reason_codes"])
        new[i] = draw(st.integers(0, 2**16 - 1).filter(lambda v: v != new[i]))
    elif kind == "contract":
        path = "chain.contract"
        new = draw(
            st.binary(min_size=20, max_size=20)
            .map(lambda b: "0x" + b.hex())
            .filter(lambda a: a != original["chain"]["contract"].lower())
        )
    else:
        path = "proof"
        proof = list(bundle["proof"])
        op = draw(st.sampled_from(["replace", "drop", "append", "swap"]))
        if op == "replace" and proof:
            i = draw(st.integers(0, len(proof) - 1))
            proof[i] = (
                "0x" + draw(st.binary(min_size=32, max_size=32).filter(lambda b: "0x" + b.hex() != proof[i])).hex()
            )
        elif op == "drop" and proof:
            proof.pop(draw(st.integers(0, len(proof) - 1)))
        elif op == "swap" and len(set(proof)) > 1:
            i, j = draw(
                st.lists(st.integers(0, len(proof) - 1), min_size=2, max_size=2, unique=True).filter(
                    lambda ij: proof[ij[0]] != proof[ij[1]]
                )
            )
            proof[i], proof[j] = proof[j], proof[i]
        else:
            proof.append("0x" + draw(st.binary(min_size=32, max_size=32)).hex())
        new = proof
    _set(bundle, path, new)
    return path, bundle


def test_any_altered_field_fails_a_named_check(bundle: dict, chain: Any) -> None:
    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(tampered(bundle))
    def check(case: tuple[str, dict]) -> None:
        path, altered = case
        report = verify_bundle(altered, chain)
        assert not report.ok, (path, report.to_dict())
        failed = report.failed()
        assert set(failed) <= set(ALL_CHECKS)
        expected = "leaf_hash" if path.startswith("leaf.") else EXPECTED[path]
        assert expected in failed, (path, failed)

    check()


def test_tampered_bundle_via_api_is_200_not_ok(client: TestClient, bundle: dict) -> None:
    altered = copy.deepcopy(bundle)
    altered["leaf"]["limit_cny"] += 1000
    body = client.post("/verify", json=altered).json()
    assert not body["ok"]
    assert {c["name"] for c in body["checks"] if not c["ok"]} >= {"leaf_hash", "on_chain_verify"}


def test_unknown_round_fails_anchored_root(client: TestClient, bundle: dict, chain: Any) -> None:
    altered = copy.deepcopy(bundle)
    altered["leaf"]["round"] = altered["chain"]["round"] = 987654
    report = verify_bundle(altered, chain)
    assert "anchored_root" in report.failed()
    assert "UnknownRound" in next(c.detail for c in report.checks if c.name == "anchored_root")
    assert client.post("/verify", json=altered).status_code == 200


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(leafHash="0x1234"),
        lambda b: b.update(root="0x" + "zz" * 32),
        lambda b: b.update(proof=["0x" + "ab" * 31]),
        lambda b: b.update(proof=["0x" + "ab" * 32] * 65),
        lambda b: b.update(version=2),
        lambda b: b.update(extra=1),
        lambda b: b.pop("chain"),
        lambda b: b["leaf"].update(score=2**16),
        lambda b: b["leaf"].update(reason_codes=[1, 2, 3]),
        lambda b: b["chain"].update(contract="0x1234"),
        lambda b: b["chain"].update(block=-1),
    ],
)
def test_malformed_bundles_are_422(client: TestClient, bundle: dict, chain: Any, mutate: Any) -> None:
    altered = copy.deepcopy(bundle)
    mutate(altered)
    response = client.post("/verify", json=altered)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    # the words `credit-ledger verify` prints on its failing format line
    assert error == {"code": "bundle_invalid", "message": verify_bundle(altered, chain).checks[0].detail}


# -- one parser: POST /verify and parse_bundle accept and refuse the same bundles ------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)  # JSON-encodable strings
#: Values of every JSON type: in and out of every field's range, and the lax look-alikes
#: (true for 1, "688" for 688, 1.0 for 1) that a lax parser coerces.
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(0, 2**16),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, 2**16 - 1, 2**16, 2**32 - 1, 2**32, 2**64 - 1, 2**64, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(1.0),
    TEXT,
    st.sampled_from(["688", "1", "0x" + "ab" * 32, "0x" + "AB" * 20, "ab" * 32, "0x" + "ab" * 31]),
    st.lists(st.integers(0, 3), max_size=5),
    st.dictionaries(TEXT, st.integers(0, 3), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path (keys and indexes) of every value under ``node``."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    out = []
    for key, child in children:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


@st.composite
def mutated(draw: st.DrawFn, original: dict) -> dict:
    """``original`` with one or two random edits: a value swapped for another type or range, a key dropped or added."""
    bundle = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 2))):
        paths = _paths(bundle)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(bundle, path[:-1]), path[-1]
        op = draw(st.sampled_from(["replace", "replace", "cast", "delete", "add"]))
        if op == "replace":
            parent[key] = draw(ANY_VALUE)
        elif op == "cast":  # the same value written another way
            value = parent[key]
            if isinstance(value, int):
                parent[key] = draw(st.sampled_from([str(value), float(value), bool(value), [value]]))
            elif isinstance(value, str):
                parent[key] = draw(st.sampled_from([value[2:], value.upper(), value + " ", [value]]))
            else:
                parent[key] = str(value)
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(TEXT.filter(bool))] = draw(ANY_VALUE)
        else:
            parent.append(draw(ANY_VALUE))
    return bundle


def test_post_verify_and_parse_bundle_accept_and_refuse_the_same_bundles(
    client: TestClient, bundle: dict, api_app: Any
) -> None:
    """The API's strict parse is the CLI's: same verdict, same words; what they accept, the documented schema admits."""
    import jsonschema_rs

    request_body = api_app.openapi()["paths"]["/verify"]["post"]["requestBody"]
    documented = jsonschema_rs.validator_for(request_body["content"]["application/json"]["schema"])
    verdicts: list[bool] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(mutated(bundle))
    def check(candidate: dict) -> None:
        try:
            parse_bundle(candidate)
        except BundleError as exc:
            refusal: str | None = exc.message
        else:
            refusal = None
        response = client.post("/verify", json=candidate)
        if refusal is None:
            assert response.status_code == 200, (candidate, response.text)
            assert documented.is_valid(candidate), candidate  # the schema is not narrower than the parser
        else:
            assert response.status_code == 422, (candidate, refusal, response.text)
            assert response.json() == {"error": {"code": "bundle_invalid", "message": refusal}}
        verdicts.append(refusal is None)

    check()
    assert any(verdicts) and not all(verdicts), "the mutations should yield both verdicts"


@pytest.mark.parametrize(
    ("mutate", "says"),
    [
        (lambda b: b.update(version=True), "version: expected 1, got True"),
        (lambda b: b["leaf"].update(score="688"), "leaf.score: expected an integer 0..2**16-1, got '688'"),
        (lambda b: b["chain"].update(block=False), "chain.block: expected an integer 0..2**64-1, got False"),
        (lambda b: b["leaf"].update(round=1.0), "leaf.round: expected an integer 0..2**64-1, got 1.0"),
        (lambda b: b["leaf"]["reason_codes"].__setitem__(0, True), "leaf.reason_codes[0]: expected an integer"),
    ],
)
def test_the_probes_lax_values_are_refused_by_both(
    client: TestClient, bundle: dict, chain: Any, mutate: Any, says: str
) -> None:
    """What pydantic's lax mode used to coerce: a 422 from the API, a failing format line from the CLI's check."""
    altered = copy.deepcopy(bundle)
    mutate(altered)
    response = client.post("/verify", json=altered)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(says)
    assert verify_bundle(altered, chain).checks[0].detail.startswith(says)


def test_malformed_bundle_direct_is_a_failing_format_check(bundle: dict, chain: Any) -> None:
    for bad in ([], {"version": 1}, {**bundle, "proof": "0xab"}, {**bundle, "leaf": {**bundle["leaf"], "score": 7.5}}):
        report = verify_bundle(bad, chain)
        assert report.failed() == ["format"], report.to_dict()


def test_parse_round_trip(bundle: dict) -> None:
    parsed = parse_bundle(bundle)
    assert "0x" + parsed.leaf.leaf_hash().hex() == bundle["leafHash"]
    assert dataclasses.asdict(parsed)["round"] == bundle["chain"]["round"]


# -- the CLI ------------------------------------------------------------------------


def test_cli_verify(tmp_path: Path, bundle: dict, ledger_env: Any) -> None:
    runner = CliRunner()
    good = tmp_path / "good.json"
    good.write_text(json.dumps(bundle))
    rpc = ledger_env.settings.rpc_url
    result = runner.invoke(verify_app, [str(good), "--rpc", rpc, "--contract", bundle["chain"]["contract"]])
    assert result.exit_code == 0, result.output
    assert "VERIFIED" in result.output and result.output.count("PASS") == len(ALL_CHECKS) + 1

    bad = tmp_path / "bad.json"
    altered = copy.deepcopy(bundle)
    altered["leaf"]["score"] = (altered["leaf"]["score"] + 1) % 1000
    bad.write_text(json.dumps(altered))
    result = runner.invoke(verify_app, [str(bad), "--rpc", rpc, "--json"])
    assert result.exit_code == 1
    assert "leaf_hash" in [c["name"] for c in json.loads(result.output)["checks"] if not c["ok"]]

    assert runner.invoke(verify_app, [str(tmp_path / "missing.json"), "--rpc", rpc]).exit_code == 2
    down = runner.invoke(verify_app, [str(good), "--rpc", f"http://127.0.0.1:{free_port()}"])
    assert down.exit_code == 2 and "no JSON-RPC node" in down.output


# -- node down ------------------------------------------------------------------------


def test_node_down_is_503_json(ledger_env: Any, bundle: dict, login: Any) -> None:
    settings = ledger_env.settings.model_copy(update={"rpc_url": f"http://127.0.0.1:{free_port()}"})
    app = create_app(settings, ApiConfig(domain="testserver"))
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.post("/verify", json=bundle)
        assert response.status_code == 503 and response.json()["error"]["code"] == "chain_unavailable"
        assert c.get("/auth/nonce").json()["chainId"] is None
        token = login(ledger_env.merchant_account(0))["token"]
        me = c.get("/merchant/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 503
        health = c.get("/health").json()
        assert health["chain"]["ok"] is False and health["store"]["ok"] is True
