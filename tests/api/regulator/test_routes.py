"""Regulator and auditor routes through the real sign-in flow (TestClient, on-chain roles)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from ledger_support import LedgerEnv

from ledger.accounts import RoleAccounts
from ledger.roles import Role


def test_routes_require_the_role(
    client: TestClient, headers: Callable[[Any], dict[str, str]], roles: RoleAccounts, ledger_env: LedgerEnv
) -> None:
    assert client.get("/regulator/events").status_code == 401
    response = client.get("/regulator/events", headers=headers(roles[Role.AUDITOR]))
    assert response.status_code == 403 and response.json()["error"]["code"] == "missing_role"
    assert client.get("/auditor/documents/" + "00" * 32, headers=headers(roles[Role.REGULATOR])).status_code == 403
    merchant = ledger_env.merchant_account(0)
    assert client.get("/regulator/timeline", headers=headers(merchant)).status_code == 403


def test_events_filters_pagination_and_csv(
    client: TestClient, headers: Callable[[Any], dict[str, str]], roles: RoleAccounts, ledger_env: LedgerEnv
) -> None:
    h = headers(roles[Role.REGULATOR])
    body = client.get("/regulator/events", params={"event": "BatchAnchored"}, headers=h).json()
    assert body["synced"] is True
    assert [e["args"]["round"] for e in body["events"]] == [r.round_id for r in ledger_env.rounds]
    r2 = ledger_env.rounds[1]
    one = client.get("/regulator/events", params={"round": r2.round_id, "contract": "CreditLedger"}, headers=h).json()
    assert [e["event"] for e in one["events"]] == ["BatchAnchored"]
    assert one["events"][0]["args"]["contentHash"] == "0x" + r2.batch_hash.hex()
    key = "0x" + ledger_env.merchant_key(0).hex()
    mine = client.get("/regulator/events", params={"merchant_key": key}, headers=h).json()["events"]
    assert [e["event"] for e in mine] == ["MerchantRegistered"]
    # every event once, page by page
    seen, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = client.get("/regulator/events", params=params, headers=h).json()
        seen += [(e["block_number"], e["log_index"]) for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) > 20 and seen == sorted(seen)
    csv_page = client.get("/regulator/events", params={"format": "csv", "event": "PolicyActivated"}, headers=h)
    assert csv_page.status_code == 200 and csv_page.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_page.text)))
    assert rows and all(r["event"] == "PolicyActivated" for r in rows)
    export = client.get("/regulator/events/export", params={"format": "csv"}, headers=h)
    assert len(list(csv.DictReader(io.StringIO(export.text)))) == len(seen)
    as_json = client.get(
        "/regulator/events/export", params={"format": "json", "event": "BatchAnchored"}, headers=h
    ).json()
    assert len(as_json) == len(ledger_env.rounds)


def test_bad_parameters_are_4xx_json(
    client: TestClient, headers: Callable[[Any], dict[str, str]], roles: RoleAccounts
) -> None:
    h = headers(roles[Role.REGULATOR])
    cases = [
        ("/regulator/events", {"merchant_key": "0x1234"}, 400),
        ("/regulator/events", {"from_block": 10, "to_block": 2}, 400),
        ("/regulator/events", {"contract": "Nope"}, 400),
        ("/regulator/events", {"cursor": "%%%"}, 400),
        ("/regulator/events", {"limit": 0}, 422),
        ("/regulator/events", {"limit": 5000}, 422),
        ("/regulator/events", {"from_block": -1}, 422),
        ("/regulator/events", {"from_time": "yesterday"}, 422),
        ("/regulator/events", {"format": "xml"}, 422),
        ("/regulator/events", {"round": 2**70}, 422),
        ("/regulator/aggregates/approvals", {"group_by": "planet"}, 422),
        ("/regulator/aggregates/approvals", {"from_round": 5, "to_round": 1}, 400),
        ("/regulator/aggregates/approvals", {"segment": "fish"}, 422),
    ]
    for path, params, status in cases:
        response = client.get(path, params=params, headers=h)
        assert response.status_code == status, (path, params, response.text)
        assert set(response.json()["error"]) == {"code", "message"}


def test_aggregates_and_timeline(
    client: TestClient, headers: Callable[[Any], dict[str, str]], roles: RoleAccounts, ledger_env: LedgerEnv
) -> None:
    h = headers(roles[Role.REGULATOR])
    by_round = client.get("/regulator/aggregates/approvals", headers=h).json()["rows"]
    assert [r["round"] for r in by_round] == [r.round_id for r in ledger_env.rounds]
    assert [r["decisions"] for r in by_round] == [r.decisions for r in ledger_env.rounds]
    first = by_round[0]
    stored = list(ledger_env.store.decisions_in_round(ledger_env.rounds[0].round_id))
    assert first["approved"] == sum(1 for d in stored if d.limit_cny > 0)
    assert first["total_limit_cny"] == sum(d.limit_cny for d in stored)
    assert first["approved"] + first["declined"] + first["not_scored"] == first["decisions"]
    grouped = client.get(
        "/regulator/aggregates/approvals",
        params=[("group_by", "round"), ("group_by", "region"), ("group_by", "industry")],
        headers=h,
    ).json()["rows"]
    assert sum(r["decisions"] for r in grouped) == sum(r.decisions for r in ledger_env.rounds)
    assert all({"round", "region", "industry"} <= set(r) for r in grouped) and len(grouped) > 2
    timeline = client.get("/regulator/timeline", params={"segment": "merchant"}, headers=h).json()["timeline"]
    events = [t["event"] for t in timeline]
    assert {"ModelRegistered", "ModelActivated", "PolicyProposed", "PolicyActivated"} <= set(events)
    assert events.index("PolicyProposed") < events.index("PolicyActivated")
    assert all(t["segment"] == "merchant" for t in timeline)


def test_auditor_replay_and_documents(
    client: TestClient, headers: Callable[[Any], dict[str, str]], roles: RoleAccounts, ledger_env: LedgerEnv
) -> None:
    h = headers(roles[Role.AUDITOR])
    response = client.post("/auditor/replays", headers=h)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True, body["report"]
    fetched = client.get(f"/auditor/replays/{body['report_hash']}", headers=h).json()
    assert fetched["report"] == body["report"]
    batch_hash = ledger_env.rounds[0].batch_hash
    doc = client.get(f"/auditor/documents/{batch_hash.hex()}", headers=h)
    assert doc.status_code == 200 and hashlib.sha256(doc.content).digest() == batch_hash
    assert client.get("/auditor/documents/xyz", headers=h).status_code == 400
    assert client.get("/auditor/documents/" + "ab" * 32, headers=h).status_code == 404
    assert client.get(f"/auditor/replays/{batch_hash.hex()}", headers=h).status_code == 404  # not a report
    assert client.post("/auditor/replays", params={"from_round": 3, "to_round": 1}, headers=h).status_code == 400
