"""``GET /merchant/growth``: a signed-in merchant gets its own growth plan, and nobody else's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from api.routes import growth as growth_route
from ledger.accounts import DEV_ROLE_INDEX, dev_account
from ledger.roles import Role
from scoring.growth import GrowthAnalysis
from sources.synthetic import ScoringSource

A, B = 0, 1  # merchants bound to dev accounts 10 and 11


@pytest.fixture(scope="module", autouse=True)
def fresh_cache(ledger_env: Any) -> Iterator[None]:
    growth_route.clear_cache()
    yield
    growth_route.clear_cache()


@pytest.fixture(scope="module")
def expected(ledger_env: Any) -> Any:
    """Reports computed directly from the oracle's export of the latest week (week 1 of 2 rounds)."""
    source = ScoringSource.prepare(ledger_env.settings.home, 200)
    data, features = source.platform_data(len(ledger_env.rounds) - 1)
    analysis = GrowthAnalysis(data, features=features, policy=source.policy)
    return lambda i, lang="zh": analysis.report(ledger_env.merchant_id(i)).to_dict(lang)


def _get(client: Any, headers: dict[str, str], **params: Any) -> Any:
    return client.get("/merchant/growth", headers=headers, params=params)


def test_growth_is_the_signed_in_merchants_own(client: Any, auth_header: Any, ledger_env: Any, expected: Any) -> None:
    response = _get(client, auth_header(ledger_env.merchant_account(A)))
    assert response.status_code == 200, response.text
    body = response.json()
    want = expected(A)
    assert body["week"] == len(ledger_env.rounds) - 1
    for key in ("asOf", "industry", "region", "historyDays", "peerCount", "indicators", "daily"):
        assert body[key] == want[key], key
    assert [i["code"] for i in body["items"]] == [i["code"] for i in want["items"]]
    assert [i["value"] for i in body["indicators"]] == [i["value"] for i in want["indicators"]]
    assert all(0 <= i["value"] <= 100 for i in body["indicators"])
    assert len(body["daily"]) == body["historyDays"] and {"date", "revenueCny", "orders"} == set(body["daily"][0])
    assert all(isinstance(i["offered"], bool) for i in body["items"])
    # the private platform ids are never shown
    text = json.dumps(body)
    assert ledger_env.merchant_id(A) not in text and ledger_env.merchant_id(B) not in text and "merchantId" not in body


def test_merchant_a_cannot_get_bs_report(client: Any, auth_header: Any, ledger_env: Any, expected: Any) -> None:
    a = _get(client, auth_header(ledger_env.merchant_account(A))).json()
    b = _get(client, auth_header(ledger_env.merchant_account(B))).json()
    assert b["daily"] == expected(B)["daily"] and a["daily"] == expected(A)["daily"]
    assert a["daily"] != b["daily"]
    # nothing in the request can name another merchant: extra parameters are ignored
    other = _get(
        client,
        auth_header(ledger_env.merchant_account(A)),
        merchant=ledger_env.merchant_id(B),
        merchant_id=ledger_env.merchant_id(B),
        merchantKey="0x" + ledger_env.merchant_key(B).hex(),
    )
    assert other.status_code == 200 and other.json()["daily"] == a["daily"]


def test_growth_needs_a_signed_in_merchant(client: Any, auth_header: Any) -> None:
    assert client.get("/merchant/growth").status_code == 401
    staff = client.get("/merchant/growth", headers=auth_header(dev_account(DEV_ROLE_INDEX[Role.AUDITOR])))
    assert staff.status_code == 403 and staff.json()["error"]["code"] == "not_a_merchant"


def test_growth_language_and_week(client: Any, auth_header: Any, ledger_env: Any, expected: Any) -> None:
    headers = auth_header(ledger_env.merchant_account(A))
    en = _get(client, headers, lang="en").json()
    assert en["lang"] == "en" and en["indicators"][0]["name"] == "Operating stability"
    assert [i["text"] for i in en["items"]] == [i["text"] for i in expected(A, "en")["items"]]
    zh = _get(client, headers).json()
    assert zh["lang"] == "zh" and zh["indicators"][0]["name"] == "经营稳定性"
    first = _get(client, headers, week=0)
    assert first.status_code == 200 and first.json()["week"] == 0 and first.json()["asOf"] < zh["asOf"]
    future = _get(client, headers, week=len(ledger_env.rounds))
    assert future.status_code == 404 and set(future.json()) == {"error"}
    assert _get(client, headers, lang="fr").status_code == 422


def test_growth_reads_the_stored_round_and_never_regenerates_it(
    client: Any, auth_header: Any, ledger_env: Any, expected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report comes from the export the round archived: generating or training in a request fails here."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the growth route must not generate platform data or train a model")

    monkeypatch.setattr(ScoringSource, "prepare", refuse)
    monkeypatch.setattr(ScoringSource, "platform_data", refuse)
    monkeypatch.setattr("scoring.pipeline.train_segment", refuse)
    growth_route.clear_cache()
    body = _get(client, auth_header(ledger_env.merchant_account(A))).json()
    assert body["daily"] == expected(A)["daily"] and body["indicators"] == expected(A)["indicators"]
    latest = ledger_env.store.rounds(segment="merchant", kind="weekly")[-1]
    assert latest.export_hash is not None


def test_growth_without_a_stored_export_is_a_clear_404(
    client: Any, auth_header: Any, ledger_env: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round whose archived export is gone answers 404 naming the round, never a regenerated report."""
    from sources import exports

    growth_route.clear_cache()
    monkeypatch.setattr(exports, "EXPORTS_DIR", str(tmp_path / "elsewhere"))
    response = _get(client, auth_header(ledger_env.merchant_account(A)))
    assert response.status_code == 404
    assert "is not in" in response.json()["error"]["message"] and "export" in response.json()["error"]["message"]
    growth_route.clear_cache()


def test_cli_report_reads_the_stored_round(ledger_env: Any, expected: Any) -> None:
    """``credit-ledger growth report`` without --data shows the report the route serves, of the latest week."""
    import subprocess
    import sys

    from ledger_support import oracle_cli_environment

    merchant = ledger_env.merchant_id(A)
    done = subprocess.run(
        [sys.executable, "-m", "credit_ledger.cli", "growth", "report", merchant, "--lang", "en"],
        env=oracle_cli_environment(ledger_env.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    want = expected(A, "en")
    assert f"(week {len(ledger_env.rounds) - 1})" in done.stdout and want["asOf"] in done.stdout
    for indicator in want["indicators"]:
        assert indicator["name"] in done.stdout
    for item in want["items"]:
        assert item["code"] in done.stdout
