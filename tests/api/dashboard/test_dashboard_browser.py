"""The merchant dashboard in a real browser: demo-key sign-in, trajectory, on-chain badges, tampering.

The API runs under uvicorn (in a thread, on a free 127.0.0.1 port) over a ledger
of its own: its own anvil node, 200 merchants, 3 weekly rounds. Debian's
chromium is driven by the ``playwright`` package (sync API); the test is skipped
only when ``/usr/bin/chromium`` is absent (``make test`` installs it).

Screenshots of the main views go to ``reports/screenshots/`` (gitignored).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from ledger_support import LedgerEnv, free_port, make_ledger_env

from ledger.node import LocalNode

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROUNDS = 3
MERCHANTS = 200
SCREENSHOTS = Path(__file__).resolve().parents[3] / "reports" / "screenshots"
TIMEOUT_MS = 30_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (install Debian's chromium: apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerEnv]:
    node = LocalNode(tmp_path_factory.mktemp("dashboard-anvil"), port=free_port())
    node.start()
    try:
        env = make_ledger_env(tmp_path_factory.mktemp("dashboard-home"), node.url, merchants=MERCHANTS, rounds=ROUNDS)
        yield env
        env.oracle.close()
    finally:
        node.stop()


@pytest.fixture(scope="module")
def base_url(env: LedgerEnv) -> Iterator[str]:
    """The API (with the dashboard) under uvicorn in a thread; the SIWE domain is the address it is bound to."""
    import uvicorn

    from api.app import create_app
    from api.deps import ApiConfig

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(env.settings, ApiConfig(domain=f"127.0.0.1:{port}")),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, name="dashboard-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class PageWatch:
    """Console errors, page errors, failed requests and any request that leaves 127.0.0.1."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.errors: list[str] = []
        self.foreign: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}"))
        page.on(
            "request",
            lambda r: None if r.url.startswith((base_url + "/", "data:", "blob:")) else self.foreign.append(r.url),
        )

    def assert_clean(self) -> None:
        assert not self.errors, self.errors
        assert not self.foreign, f"requests left the machine: {self.foreign}"


def _new_page(browser: Any, base_url: str, **context: Any) -> tuple[Any, Any, PageWatch]:
    ctx = browser.new_context(reduced_motion="reduce", locale="zh-CN", **context)
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    return ctx, page, PageWatch(page, base_url)


def _sign_in_demo(page: Any, base_url: str, merchant: int) -> None:
    page.goto(base_url + "/dashboard")
    page.wait_for_selector("#demo-card:not([hidden])")
    warning = page.locator("#demo-card .demo-warning").inner_text()
    assert "演示密钥" in warning and "never use for real funds" in warning
    page.select_option("#demo-merchant", str(merchant))
    page.click("#demo-signin")
    _wait_loaded(page)


def _wait_loaded(page: Any) -> None:
    page.wait_for_selector("body[data-state='signed-in'][data-verified='done']")
    page.wait_for_function("() => ['ok', 'unavailable', 'error'].includes(window.__dashboard.growth.status)")


def _badges(page: Any) -> dict[int, str]:
    return {
        int(el.get_attribute("data-round")): el.get_attribute("data-badge")
        for el in page.query_selector_all("#rounds [data-badge]")
    }


#: While capturing, the sticky header must not sit on top of a section.
UNSTICK = ".topbar { position: static !important; }"


def _shot(target: Any, name: str, **options: Any) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    target.screenshot(path=str(path), style=UNSTICK, **options)
    return path


def _shot_top(page: Any, name: str) -> Path:
    page.evaluate("() => window.scrollTo(0, 0)")
    return _shot(page, name)


# -- tests ------------------------------------------------------------------------------


def test_dashboard_assets_are_local(base_url: str) -> None:
    page = httpx.get(base_url + "/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page.text), "the page names an off-machine URL"
    for path in (
        "/dashboard/vendor/echarts.min.js",
        "/dashboard/vendor/ethers.umd.min.js",
        "/dashboard/assets/dashboard.js",
    ):
        asset = httpx.get(base_url + path)
        assert asset.status_code == 200 and "javascript" in asset.headers["content-type"], path
    assert httpx.get(base_url + "/dashboard/vendor/lodash.js").status_code == 404
    assert "/dashboard" not in httpx.get(base_url + "/openapi.json").json()["paths"]


def test_dashboard_demo_sign_in_trajectory_badges_and_tampering(browser: Any, base_url: str, env: LedgerEnv) -> None:
    round_ids = [r.round_id for r in env.rounds]
    ctx, page, watch = _new_page(browser, base_url, viewport={"width": 1280, "height": 900})

    # -- sign in with demo merchant 1 (dev account 10) ----------------------------------
    page.goto(base_url + "/dashboard")
    page.wait_for_function("() => document.getElementById('demo-merchant').options[0].text.includes('0x')")
    _shot(page, "dashboard-signin.png")
    _sign_in_demo(page, base_url, 0)
    state = page.evaluate("() => window.__dashboard")
    assert state["session"]["method"] == "demo"
    assert state["session"]["address"] == env.merchant_account(0).address
    assert state["me"]["merchantKey"] == "0x" + env.merchant_key(0).hex()

    # -- one chart point per round ---------------------------------------------------------
    assert state["chart"]["rounds"] == round_ids
    assert page.get_attribute("#trajectory-chart", "data-rounds") == str(ROUNDS)
    series = page.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById('trajectory-chart')).getOption().series
                .map(s => ({id: s.id, type: s.type, n: s.data.length}))"""
    )
    assert {s["id"]: s["n"] for s in series} == {"score": ROUNDS, "limit": ROUNDS}
    scores = [d.score for d in env.store.decisions_for_merchant(env.merchant_key(0))]
    assert state["chart"]["scores"] == scores

    # -- every badge green, computed from /verify's checks ------------------------------------
    assert _badges(page) == {r: "ok" for r in round_ids}
    assert all(v["status"] == "ok" and len(v["checks"]) >= 10 for v in state["verification"].values())
    assert page.get_attribute("#overview-stats [data-verified]", "data-verified") == "ok"
    # the reasons of every later round are compared with the round before
    assert page.locator("#rounds .round").count() == ROUNDS

    # -- operating analysis ------------------------------------------------------------------
    growth = state["growth"]
    if growth["status"] == "ok":
        assert page.locator("#indicators .indicator").count() == 4
        assert page.locator("#diagnosis .diag").count() >= 1
        days = page.evaluate(
            "() => echarts.getInstanceByDom(document.getElementById('revenue-chart')).getOption().series[0].data.length"
        )
        assert days == len(growth["data"]["daily"]) == 60
    else:  # the route is optional: the page must say so plainly
        assert page.locator("#growth-unavailable").is_visible()

    _shot_top(page, "dashboard-overview-zh.png")
    _shot(page.locator("#trajectory"), "dashboard-trajectory-zh.png")
    _shot(page.locator("#analysis"), "dashboard-analysis-zh.png")

    # -- English ------------------------------------------------------------------------------
    page.click("#lang-toggle")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    page.wait_for_function("() => ['ok', 'unavailable', 'error'].includes(window.__dashboard.growth.status)")
    assert page.locator("#trajectory h2").inner_text() == "Credit trajectory"
    assert page.locator("#rounds [data-badge='ok']").first.inner_text().endswith("Verified on-chain")
    _shot_top(page, "dashboard-overview-en.png")
    _shot(page.locator("#analysis"), "dashboard-analysis-en.png")
    page.click("#lang-toggle")
    page.wait_for_function("() => document.documentElement.lang === 'zh-CN'")
    _wait_loaded(page)

    # -- mobile (375 px) --------------------------------------------------------------------------
    mctx, mobile, mwatch = _new_page(
        browser, base_url, viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    mobile.goto(base_url + "/dashboard")
    mobile.wait_for_selector("#demo-card:not([hidden])")
    _shot(mobile, "dashboard-mobile-signin.png")
    _sign_in_demo(mobile, base_url, 1)
    assert mobile.evaluate("() => document.documentElement.scrollWidth") <= 375, "horizontal scroll on a 375-px phone"
    assert set(_badges(mobile).values()) == {"ok"}
    _shot(mobile, "dashboard-mobile.png", full_page=True)
    mwatch.assert_clean()
    mctx.close()

    # -- alter one leaf in the store: that round's badge turns red, the others stay green ----------
    tampered = round_ids[1]
    engine = sa.create_engine(env.settings.database_url)
    with engine.begin() as conn:
        changed = conn.execute(
            sa.text("UPDATE decisions SET score = score + 1 WHERE round_id = :r AND merchant_key = :k"),
            {"r": tampered, "k": env.merchant_key(0)},
        ).rowcount
    engine.dispose()
    assert changed == 1

    page.reload()
    _wait_loaded(page)
    assert _badges(page) == {r: ("fail" if r == tampered else "ok") for r in round_ids}
    verdict = page.evaluate(f"() => window.__dashboard.verification[{tampered}]")
    failed = {c["name"] for c in verdict["checks"] if not c["ok"]}
    assert failed & {"proof", "anchored_root", "on_chain_verify"}, verdict
    assert page.get_attribute(f"#round-{tampered}", "data-verified") == "fail"
    assert page.get_attribute("#overview-stats [data-verified]", "data-verified") == "fail"
    colors = page.evaluate("() => window.__dashboard.chart.colors")
    assert colors[round_ids.index(tampered)] != colors[0] == colors[2]
    page.locator(f"#round-{tampered} details.round-checks summary").click()
    _shot(page.locator("#trajectory"), "dashboard-trajectory-tampered.png")

    watch.assert_clean()
    ctx.close()


def test_dashboard_browser_wallet_sign_in_and_growth_failure(browser: Any, base_url: str, env: LedgerEnv) -> None:
    """The window.ethereum path (an EIP-1193 stand-in signing with dev account 12), and a failing growth route."""
    account = env.merchant_account(2)
    ctx, page, watch = _new_page(browser, base_url, viewport={"width": 1024, "height": 800})
    # A minimal injected wallet: ethers' BrowserProvider asks for accounts and the chain, then personal_sign.
    ctx.add_init_script(
        """
        (() => {
          const address = __ADDRESS__, key = __KEY__;
          window.__walletCalls = [];
          window.ethereum = {
            isFakeWallet: true,
            on() {}, removeListener() {},
            async request({ method, params }) {
              window.__walletCalls.push(method);
              if (method === "eth_requestAccounts" || method === "eth_accounts") return [address];
              if (method === "eth_chainId") return "0x7a69";
              if (method === "net_version") return "31337";
              if (method === "personal_sign") return new ethers.Wallet(key).signMessage(ethers.getBytes(params[0]));
              throw Object.assign(new Error("unsupported " + method), { code: 4200 });
            },
          };
        })();
        """.replace("__ADDRESS__", json.dumps(account.address)).replace(
            "__KEY__", json.dumps("0x" + bytes(account.key).hex())
        )
    )
    page.route(
        "**/merchant/growth*",
        lambda route: route.fulfill(
            status=500,
            content_type="application/json",
            body='{"error": {"code": "internal_error", "message": "internal server error"}}',
        ),
    )
    page.goto(base_url + "/dashboard")
    page.wait_for_selector("#wallet-signin:not([disabled])")
    page.click("#wallet-signin")
    _wait_loaded(page)
    state = page.evaluate("() => window.__dashboard")
    assert state["session"]["method"] == "wallet" and state["session"]["address"] == account.address
    assert "personal_sign" in page.evaluate("() => window.__walletCalls")
    assert set(_badges(page).values()) == {"ok"} and len(_badges(page)) == ROUNDS
    # growth failed (or is not offered at all): a plain "not available" panel, the rest of the page intact
    panel = page.locator("#growth-unavailable")
    assert panel.is_visible()
    if "/merchant/growth" in httpx.get(base_url + "/openapi.json").json()["paths"]:
        assert state["growth"]["status"] == "error" and state["growth"]["httpStatus"] == 500
        assert "500" in panel.inner_text()
    else:
        assert state["growth"]["status"] == "unavailable"
    _shot(page.locator("#analysis"), "dashboard-analysis-unavailable.png")
    # the mocked 500 is the only console error (Chromium logs every failed resource)
    watch.errors = [e for e in watch.errors if "status of 500" not in e]
    watch.assert_clean()
    ctx.close()
