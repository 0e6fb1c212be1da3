"""The merchant web dashboard: one static page at ``/dashboard`` and its assets.

The page (``static/index.html`` + ``dashboard.js`` + ``dashboard.css``) talks only
to this API: it signs in with EIP-4361 (a browser wallet, or on a development
chain one of the five public demo keys, derived in the browser from the
well-known anvil mnemonic), reads ``/merchant/me``, ``/merchant/history`` and,
when that route exists, ``/merchant/growth``, and sends every round's proof
bundle to ``POST /verify`` to colour that round's badge.

Two third-party libraries are served from this machine, never from a CDN:
ECharts (``node_modules/echarts/dist/echarts.min.js``) and ethers v6
(``node_modules/ethers/dist/ethers.umd.min.js``). They are looked up in
``api/dashboard/vendor/`` first (a copy a packaging step may place there), then
in ``node_modules`` at the repository root (``npm ci`` / ``make install`` puts
them there); ``CREDIT_LEDGER_NODE_MODULES`` overrides that directory. A missing
file is a JSON 503 naming the path and the command that installs it.

Include it with ``app.include_router(api.dashboard.router)``. The routes are
left out of the OpenAPI document (they serve files, not API resources).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from api.errors import NotFoundError, ServiceUnavailable
from ledger.config import Settings

__all__ = ["ASSETS", "VENDOR", "node_modules_dir", "router", "vendor_path"]

log = logging.getLogger("credit_ledger.api.dashboard")

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
VENDOR_DIR = PACKAGE_DIR / "vendor"
REPO_ROOT = PACKAGE_DIR.parent.parent

#: The page's own files: name -> media type.
ASSETS: dict[str, str] = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}

#: Served libraries: public name -> path inside node_modules.
VENDOR: dict[str, str] = {
    "echarts.min.js": "echarts/dist/echarts.min.js",
    "ethers.umd.min.js": "ethers/dist/ethers.umd.min.js",
}

#: Everything the page loads comes from this origin; no request leaves for a CDN.
#: 'unsafe-inline' styles only: ECharts writes inline styles into its tooltips.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_ASSET_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def node_modules_dir() -> Path:
    """``$CREDIT_LEDGER_NODE_MODULES``, else ``node_modules`` at the repository root (read per request)."""
    return Settings.from_env().node_modules


def vendor_path(name: str) -> Path:
    """Where the library ``name`` (a key of :data:`VENDOR`) is; :class:`ServiceUnavailable` if nowhere."""
    relative = VENDOR[name]
    copy = VENDOR_DIR / name
    if copy.is_file():
        return copy
    path = node_modules_dir() / relative
    if path.is_file():
        return path
    package = relative.split("/", 1)[0]
    message = (
        f"the dashboard needs {path} (npm package {package!r}), which is missing: "
        f"run `npm ci` (or `make install`) in {REPO_ROOT}"
    )
    log.warning(message)
    raise ServiceUnavailable(message, code="asset_missing")


router = APIRouter(include_in_schema=False)


@router.get("/dashboard", response_class=FileResponse)
def dashboard_page() -> FileResponse:
    """The single-page merchant dashboard."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@router.get("/dashboard/")
def dashboard_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=307)


@router.get("/dashboard/assets/{name}", response_class=FileResponse)
def dashboard_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFoundError(f"no dashboard asset {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=_ASSET_HEADERS)


@router.get("/dashboard/vendor/{name}", response_class=FileResponse)
def dashboard_vendor(name: str) -> FileResponse:
    if name not in VENDOR:
        raise NotFoundError(f"no vendored library {name!r}")
    return FileResponse(vendor_path(name), media_type="text/javascript; charset=utf-8", headers=_ASSET_HEADERS)
