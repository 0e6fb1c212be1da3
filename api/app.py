"""The FastAPI application: :func:`create_app` wires settings, connections, auth and routes.

Run it with ``credit-ledger api serve``, which serves it with the slow-client deadlines and the
connection limit of :mod:`api.serving` (plain ``uvicorn --factory api.app:create_app`` has
only the body deadline, which the app enforces itself).
OpenAPI docs are at ``/docs``; every error is JSON ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import auth, dashboard
from api.deps import ApiConfig, Services
from api.errors import BodySizeLimit, install_error_handlers
from api.routes import auditor, growth, merchant, public, regulator
from ledger.config import Settings

DESCRIPTION = """\
A verifiable credit ledger's API.

* **Merchants** sign in with their bound wallet (EIP-4361: `GET /auth/nonce`,
  sign the message, `POST /auth/login`), then read their own decisions with a
  *proof bundle* each and dispute one.
* **Anyone** can `POST /verify` a bundle: it is checked against the chain only.
  The same check runs offline with `credit-ledger verify BUNDLE.json --rpc URL`.
* **Auditors** and **regulators** (on-chain roles) have their own routes.

Errors are always `{"error": {"code": "...", "message": "..."}}`.
"""


def create_app(settings: Settings | None = None, config: ApiConfig | None = None) -> FastAPI:
    """Build the app. Connections open on first use, so it starts even with the node down."""
    settings = settings or Settings.from_env()
    config = config or ApiConfig.from_env()
    services = Services(settings, config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    app = FastAPI(
        lifespan=lifespan,
        title="credit-ledger",
        version="1",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit, max_bytes=config.max_body_bytes, timeout_seconds=config.limits.body_timeout_seconds
    )

    app.include_router(auth.router)
    app.include_router(public.router)
    app.include_router(merchant.router)
    app.include_router(dashboard.router)  # the merchant web page at /dashboard
    app.include_router(growth.router)
    app.include_router(auditor.router)
    app.include_router(regulator.router)
    return app
