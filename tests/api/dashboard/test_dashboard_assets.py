"""The dashboard's router without a chain: page headers, asset whitelist, and a clear error when node_modules is missing."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import api.dashboard as dashboard
from api.errors import install_error_handlers


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(dashboard.router)
    return TestClient(app)


def test_page_and_own_assets(client: TestClient) -> None:
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<html lang="zh-CN">' in page.text
    for src in (
        "/dashboard/vendor/ethers.umd.min.js",
        "/dashboard/vendor/echarts.min.js",
        "/dashboard/assets/dashboard.js",
    ):
        assert f'src="{src}"' in page.text
    assert client.get("/dashboard/assets/dashboard.css").headers["content-type"].startswith("text/css")
    assert client.get("/dashboard/", follow_redirects=False).headers["location"] == "/dashboard"


@pytest.mark.parametrize(
    "path", ["/dashboard/assets/index.py", "/dashboard/assets/..%2F__init__.py", "/dashboard/vendor/react.js"]
)
def test_only_listed_files_are_served(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_libraries_come_from_node_modules(client: TestClient) -> None:
    root = Path(dashboard.__file__).resolve().parents[2]
    for name, relative in dashboard.VENDOR.items():
        if not (root / "node_modules" / relative).is_file():
            pytest.skip(f"node_modules/{relative} is not installed (npm ci)")
        response = client.get(f"/dashboard/vendor/{name}")
        assert response.status_code == 200
        assert response.content == (root / "node_modules" / relative).read_bytes()


def test_missing_library_is_a_clear_503(client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_LEDGER_NODE_MODULES", str(tmp_path))
    monkeypatch.setattr(dashboard, "VENDOR_DIR", tmp_path / "no-vendor-copy")
    response = client.get("/dashboard/vendor/echarts.min.js")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "asset_missing"
    assert "echarts/dist/echarts.min.js" in error["message"] and "npm ci" in error["message"]
